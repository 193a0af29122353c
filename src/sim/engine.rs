//! The engine loop: arrivals walk the data plane (the `trace` walk with a counting recorder),
//! established connections live their lifetime, close, hold their NAT tuple through TIME_WAIT
//! (UDP: the conntrack UDP timeout) and free it. Node failures and recoveries change the data
//! plane at once (traffic reaching a dead node is blackholed) and the control plane after each
//! design's own timers (see `failure.rs`).
//!
//! Invariant: single-threaded and deterministic for a (scenario, seed); the loop reuses the
//! connection table's slots and the queue's storage.

use super::conns::{Conn, Opened, State};
use super::metrics::*;
use super::outage::{Ctx, Outages};
use super::queue::{Event, EventQueue};
use super::time_wait::TimeWait;
use super::traffic::Generator;
use super::world::Run;
use crate::dataplane::Verdict;
use crate::dataplane::request::Source;
use crate::design::DesignSpec;
use crate::design::compiled::Plane;
use crate::net::Proto;
use crate::scenario::Scenario;
use crate::time::Nanos;
use std::collections::BTreeMap;

/// Default sampling interval of the time series.
pub const DEFAULT_SAMPLE_INTERVAL: Nanos = Nanos::from_secs(1);

/// Runs one design of a scenario.
pub fn run(
    s: &Scenario,
    design: &DesignSpec,
    sample_interval: Nanos,
) -> Result<DesignResult, super::SimError> {
    run_with_progress(s, design, sample_interval, &|_| {})
}

/// Like [`run`], calling `progress` with the simulated fraction done every million events (the
/// core prints nothing: the caller decides what to show).
pub fn run_with_progress(
    s: &Scenario,
    design: &DesignSpec,
    sample_interval: Nanos,
    progress: &dyn Fn(f64),
) -> Result<DesignResult, super::SimError> {
    Ok(compile_and_simulate(s, design, sample_interval, progress, false)?.0)
}

/// Like [`run_with_progress`], with each failure measured against the same run without it
/// (`baseline`): the run is forked when the failure happens (until then the two runs are the
/// same run: same seed, same events), and the fork goes on without the failure and its recovery.
pub fn run_measured(
    s: &Scenario,
    design: &DesignSpec,
    sample_interval: Nanos,
    progress: &dyn Fn(f64),
) -> Result<DesignResult, super::SimError> {
    let (mut r, without) = compile_and_simulate(s, design, sample_interval, progress, true)?;
    super::baseline::compare_with(s, &mut r, &without);
    Ok(r)
}

/// The run, and with `fork_at_failures` the runs without each failure.
type WithForks = (DesignResult, Vec<(usize, DesignResult)>);

fn compile_and_simulate(
    s: &Scenario,
    design: &DesignSpec,
    sample_interval: Nanos,
    progress: &dyn Fn(f64),
    fork_at_failures: bool,
) -> Result<WithForks, super::SimError> {
    let duration = s.duration.ok_or(super::SimError::NoDuration)?;
    let plane = design.compile(s);
    simulate(
        s,
        design,
        plane,
        duration,
        sample_interval,
        progress,
        fork_at_failures,
    )
}

// Long: the run's set-up (queue, generators, counters) and the event loop.
fn simulate(
    s: &Scenario,
    design: &DesignSpec,
    plane: Plane,
    duration: Nanos,
    interval: Nanos,
    progress: &dyn Fn(f64),
    fork_at_failures: bool,
) -> Result<WithForks, super::SimError> {
    let mut gens: Vec<Generator> = s
        .traffic
        .iter()
        .map(|t| Generator::new(t, s.seed, &s.fabric, &s.cluster))
        .collect();
    let mut q = EventQueue::default();
    for (i, g) in gens.iter_mut().enumerate() {
        q.push(
            g.next_arrival(Nanos::ZERO),
            Event::Arrival {
                generator: i as u32,
            },
        );
    }
    let asked = if interval.0 == 0 {
        DEFAULT_SAMPLE_INTERVAL
    } else {
        interval
    };
    // At most `estimate::MAX_POINTS` samples: a finer interval is coarsened, and said.
    let interval = super::estimate::sample_interval(duration, asked);
    q.push(interval, Event::Sample);
    // Before the events: one at the same instant is counted.
    if s.warmup.counted_from > Nanos::ZERO {
        q.push(s.warmup.counted_from, Event::WarmupEnd);
    }
    for (i, e) in s.events.iter().enumerate() {
        q.push(e.at, Event::Failure { event: i as u32 });
    }
    let run = Run {
        fabric: s.fabric.clone(),
        cluster: s.cluster.clone(),
        conns: Vec::new(),
        free: Vec::new(),
        total: Connections::default(),
        per_gen: vec![Connections::default(); gens.len()],
        nat_per_node: vec![0u64; s.cluster.nodes.len()],
        active_per_node: vec![0u64; s.cluster.nodes.len()],
        time_wait: TimeWait::default(),
    };
    let outages = Outages::new(s, design);
    let paths = PathStats::with_nodes(s.cluster.nodes.len());
    let spread = super::spread::SpreadCounter::new(s.cluster.pods.len(), s.cluster.services.len());
    let series = TimeSeries {
        interval_s: interval.as_secs_f64(),
        interval_raised_from_s: (interval != asked).then(|| asked.as_secs_f64()),
        ..TimeSeries::default()
    };
    let mut sim = Sim {
        s,
        plane,
        q,
        gens,
        run,
        outages,
        paths,
        spread,
        series,
        window_attempted: 0,
        window_established: 0,
        interval,
        events: 0,
        suppressed: Vec::new(),
        fetched_day: 0,
        releases: 0,
    };
    let mut without = Vec::new();
    let forks = fork_at_failures.then_some(&mut without);
    sim.run(design, duration, progress, forks)?;
    Ok((sim.finish(design, duration)?, without))
}

impl Sim<'_, '_> {
    /// The event loop, to the scenario's end. With `forks`, each failure first forks the run:
    /// the fork goes on without the failure and its recovery, on a thread beside this run (they
    /// share nothing after the fork, so a second core takes the wait off), and its result is
    /// pushed, in the failures' order.
    fn run(
        &mut self,
        design: &DesignSpec,
        duration: Nanos,
        progress: &dyn Fn(f64),
        forks: Option<&mut Vec<(usize, DesignResult)>>,
    ) -> Result<(), super::SimError> {
        let Some(without) = forks else {
            return self.run_from(duration, progress, None);
        };
        // One fork at a time beside the run: a failure waits for the previous failure's fork
        // before forking, so at most two copies of the run's state are alive (as when the run
        // paused for each fork), however many failures the scenario has.
        type Forked = Result<DesignResult, super::SimError>;
        let mut done: Vec<(usize, std::thread::Result<Forked>)> = Vec::new();
        std::thread::scope(|scope| {
            let mut running: Option<(usize, std::thread::ScopedJoinHandle<'_, Forked>)> = None;
            let mut spawn_fork = |event: usize, mut fork: Self| {
                if let Some((e, h)) = running.take() {
                    done.push((e, h.join()));
                }
                let forked = scope.spawn(move || {
                    fork.run_from(duration, &|_| {}, None)?;
                    fork.finish(design, duration)
                });
                running = Some((event, forked));
            };
            let ran = self.run_from(duration, progress, Some(&mut spawn_fork));
            if let Some((e, h)) = running.take() {
                done.push((e, h.join()));
            }
            ran
        })?;
        for (event, joined) in done {
            let result = joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            without.push((event, result?));
        }
        Ok(())
    }

    /// The event loop from where the run is; at each failure `fork` (if any) gets a copy of the
    /// run that leaves the failure and its recovery out.
    fn run_from(
        &mut self,
        duration: Nanos,
        progress: &dyn Fn(f64),
        mut fork: Option<&mut dyn FnMut(usize, Self)>,
    ) -> Result<(), super::SimError> {
        while let Some((now, e)) = self.q.pop() {
            if now > duration {
                break;
            }
            if let Event::Failure { event } = e {
                if self.suppressed.contains(&event) {
                    continue;
                }
                if let Some(fork) = fork.as_deref_mut()
                    && self.s.events[event as usize].kind == crate::scenario::EventKind::Fail
                {
                    let mut without = self.clone();
                    without.suppressed = [
                        Some(event),
                        super::baseline::recovery_of(self.s, event as usize).map(|j| j as u32),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    fork(event as usize, without);
                }
            }
            self.fetch_ahead();
            self.events += 1;
            if self.events.is_multiple_of(1 << 20) {
                progress(now.as_secs_f64() / duration.as_secs_f64().max(1e-9));
            }
            match e {
                Event::Arrival { generator } => self.arrival(now, generator),
                Event::Close { conn, generation } => self.close(now, conn, generation),
                Event::Release { held } => self.release(held),
                Event::Failure { event } => self.failure(now, event),
                Event::WarmupEnd => self.warmup_end(),
                Event::Control { pending } => {
                    self.outages
                        .on_control(&mut self.run, &mut self.plane, now, pending as usize);
                }
                Event::Sample => self.sample(now),
            }
        }
        Ok(())
    }
}

impl Sim<'_, '_> {
    /// The run's figures once the clock passed the scenario's end.
    fn finish(
        mut self,
        design: &DesignSpec,
        duration: Nanos,
    ) -> Result<DesignResult, super::SimError> {
        let events = self.events;
        let s = self.s;
        let mut total = self.run.total;
        total.active_at_end = total.active_at_start + total.established
            - total.completed
            - total.broken.values().sum::<u64>();
        let mut per_gen = self.run.per_gen;
        for g in per_gen.iter_mut() {
            g.active_at_end =
                g.active_at_start + g.established - g.completed - g.broken.values().sum::<u64>();
        }
        let traffic: BTreeMap<String, GeneratorResult> = self
            .gens
            .iter()
            .zip(per_gen)
            .map(|(g, c)| (g.name.clone(), GeneratorResult { connections: c }))
            .collect();
        Ok(DesignResult {
            name: design.name.clone(),
            cni: design.cni.name(),
            connections: total,
            failover: {
                super::failure::mark_overlaps(&mut self.outages.records, duration);
                self.outages.records.iter().map(|f| f.to_record()).collect()
            },
            paths: {
                let mut p = self.paths.summary();
                p.load_spread = self.spread.summary(&s.cluster);
                p
            },
            nat: {
                let (available, ips) = self.plane.nat_capacity();
                NatSummary {
                    ports_per_node_available: available,
                    peak_ports_in_use_node: self
                        .series
                        .nat_ports_in_use_max_node
                        .iter()
                        .copied()
                        .max()
                        .unwrap_or(0),
                    peak_ports_in_use_total: self
                        .series
                        .nat_ports_in_use
                        .iter()
                        .copied()
                        .max()
                        .unwrap_or(0),
                    snat_ips_in_use: ips,
                    port_search: match self.plane.nat_search() {
                        crate::nat::kernel::PortSearch::Bounded => "bounded (Linux < 6.5)",
                        crate::nat::kernel::PortSearch::BoundedEvict => {
                            "bounded with TIME_WAIT eviction (Linux ≥ 6.5)"
                        }
                        crate::nat::kernel::PortSearch::WholeRange => "whole range",
                        crate::nat::kernel::PortSearch::CiliumBpf => {
                            "Cilium BPF masquerade (128 probes)"
                        }
                    },
                    time_wait_evicted: self.plane.nat_evictions(),
                }
            },
            steady_state: super::steady::check(
                &self.series,
                &s.warmup,
                s.events.iter().map(|e| e.at).min().unwrap_or(duration),
            ),
            timeseries: self.series,
            traffic,
            events_processed: events,
        })
    }
}

/// One design's run in progress: the world, the queue and what is being counted.
#[derive(Clone)]
struct Sim<'s, 'p> {
    s: &'s Scenario,
    plane: Plane<'p>,
    q: EventQueue,
    gens: Vec<Generator>,
    run: Run,
    outages: Outages<'s>,
    paths: PathStats,
    spread: super::spread::SpreadCounter,
    series: TimeSeries,
    /// Connections attempted and established since the last sample.
    window_attempted: u64,
    window_established: u64,
    interval: Nanos,
    /// Events processed so far.
    events: u64,
    /// Scenario events this run leaves out (a fork without a failure and its recovery).
    suppressed: Vec<u32>,
    /// The calendar day whose closes' slots were last read ahead, and releases so far
    /// (the read-ahead's own counters: they change nothing but timing).
    fetched_day: u64,
    releases: u64,
}

/// How many TCP releases [`Sim::fetch_next_releases`] reads ahead at a time.
const RELEASES_AHEAD: usize = 8;

impl Sim<'_, '_> {
    /// A traffic generator opens a connection: walk it, count it, schedule its close.
    // Long: one arrival, from the walk to the connection table; it runs per event and stays
    // in one place so the hot path reads (and inlines) as one.
    fn arrival(&mut self, now: Nanos, generator: u32) {
        let g = &mut self.gens[generator as usize];
        let req = g.request();
        let next = g.next_arrival(now);
        self.q.push(next, Event::Arrival { generator });
        // A pod on a failed node opens nothing.
        if let Source::Pod(p) = req.src
            && !self.run.cluster.node_up(self.plane.pod_node(p))
        {
            return;
        }
        let (o, count) = self.plane.walk(&self.run.fabric, &self.run.cluster, &req);
        let to_service = match req.dst {
            crate::dataplane::request::Target::Service { svc, .. } => Some(svc),
            _ => None,
        };
        if let Some(svc) = to_service {
            self.spread.asked(svc.index());
        }
        // A 6.5+ kernel gave this connection the port of a TIME_WAIT entry: that entry
        // is gone, its connection's slot free at once.
        if let Some(old) = self.plane.take_evicted()
            && let Some((_, b)) = self.run.time_wait.end(old)
        {
            self.run.nat_per_node[b.node.index()] -= 1;
        }
        self.run.total.attempted += 1;
        self.run.per_gen[generator as usize].attempted += 1;
        self.window_attempted += 1;
        if o.verdict != Verdict::Delivered {
            self.run.total.refuse(o.reason.as_str());
            self.run.per_gen[generator as usize].refuse(o.reason.as_str());
            // One failure owns each refusal (`failure::owner`), so the figures add up;
            // running out of NAT ports is the load's, not a failure's (how much a
            // failure adds is the difference against the run without it).
            let capacity = matches!(
                o.reason,
                crate::dataplane::Reason::SnatPortExhausted
                    | crate::dataplane::Reason::MasqueradePortExhausted
            );
            if let Some(f) = self.outages.owner(count.dropped_at).filter(|_| !capacity) {
                f.refused_during += 1;
                if o.reason == crate::dataplane::Reason::Blackholed {
                    f.blackholed += 1;
                }
            }
            return;
        }
        self.run.total.established += 1;
        self.run.per_gen[generator as usize].established += 1;
        self.window_established += 1;
        self.paths.record(
            count.forward + count.ret,
            o.latency.0,
            o.bounced,
            count.detoured,
            // Load spread is about service traffic: the node a service connection reached.
            o.node
                .filter(|_| matches!(req.dst, crate::dataplane::request::Target::Service { .. }))
                .map(|n| n.index()),
        );
        if let (Some(_), Some(p)) = (to_service, o.pod) {
            self.spread.served(p.index());
        }
        if let Some(b) = &o.snat {
            self.run.nat_per_node[b.node.index()] += 1;
        }
        if let Some(n) = o.node {
            self.run.active_per_node[n.index()] += 1;
        }
        let lb = matches!(
            (req.src, req.dst),
            (
                Source::Ip(_),
                crate::dataplane::request::Target::Service { .. }
            )
        );
        // Where the walk landed the reply (ACI-CNI SNAT), as it chose it.
        let landing = o.reply_landing.filter(|_| o.snat.is_some());
        let opened = Opened {
            generator,
            req,
            binding: o.snat,
            node: o.node,
            pod: o.pod,
            lb,
            landing,
        };
        let slot = match self.run.free.pop() {
            Some(i) => {
                let generation = Conn::next_generation(self.run.conns[i as usize].generation());
                self.run.conns[i as usize] = Conn::new(opened, generation);
                i
            }
            None => {
                self.run.conns.push(Conn::new(opened, 0));
                self.run.conns.len() as u32 - 1
            }
        };
        self.q.push(
            now.saturating_add(g.lifetime()),
            Event::Close {
                conn: slot,
                generation: self.run.conns[slot as usize].generation(),
            },
        );
    }

    /// A connection ends: its NAT entry is held (TIME_WAIT, or the UDP timeout) before release.
    fn close(&mut self, now: Nanos, conn: u32, generation: u32) {
        let c = &mut self.run.conns[conn as usize];
        if c.state() != State::Open || c.generation() != generation {
            return; // broken earlier; its slot may already serve another connection
        }
        c.set_state(State::Closed);
        let c = *c;
        if let Some(n) = c.node() {
            self.run.active_per_node[n.index()] -= 1;
        }
        self.run.total.completed += 1;
        self.run.per_gen[c.generator as usize].completed += 1;
        // The slot is free at once; a NAT binding waits out TIME_WAIT in `time_wait`.
        self.run.free.push(conn);
        if let Some(b) = c.binding() {
            let hold = if c.req.proto == Proto::Tcp {
                self.s.conntrack.time_wait
            } else {
                self.s.conntrack.udp_timeout
            };
            let held = self.run.time_wait.hold(c.req.proto, b);
            if c.req.proto == Proto::Tcp {
                self.plane.closing(&b, held);
            }
            // A constant delay per protocol: the release lanes stay in time order.
            let lane = usize::from(c.req.proto != Proto::Tcp);
            self.q
                .push_fifo(lane, now.saturating_add(hold), Event::Release { held });
        }
    }

    /// Once a new calendar day (about a millisecond of the run, some twenty closes) is sorted,
    /// reads the connection slots of its closes, all at once: their lines arrive together, and
    /// before the closes need them (one slot read at each close was a tenth of a run's time).
    /// Changes nothing but timing.
    fn fetch_ahead(&mut self) {
        let (today, day) = self.q.today();
        if day == self.fetched_day {
            return;
        }
        self.fetched_day = day;
        let conns = &self.run.conns;
        let closes = today.filter_map(|e| match e {
            Event::Close { conn, .. } => conns.get(*conn as usize),
            _ => None,
        });
        Conn::touch_all(closes);
    }

    /// Every [`RELEASES_AHEAD`] releases, reads the NAT table's slots of the next as many TCP
    /// releases (their FIFO lane: known long before they are due), as [`Sim::fetch_ahead`] does
    /// the connection slots.
    fn fetch_next_releases(&mut self) {
        self.releases += 1;
        if !self.releases.is_multiple_of(RELEASES_AHEAD as u64) {
            return;
        }
        for k in 0..RELEASES_AHEAD {
            if let Some(Event::Release { held }) = self.q.upcoming_in_lane(0, k)
                && let Some((proto, b)) = self.run.time_wait.peek(*held)
            {
                self.plane.touch_release(proto, &b);
            }
        }
    }

    /// A held NAT entry is released (unless a new connection took its port over).
    fn release(&mut self, held: u32) {
        self.fetch_next_releases();
        if let Some((proto, b)) = self.run.time_wait.end(held) {
            self.plane.release(proto, &b);
            self.run.nat_per_node[b.node.index()] -= 1;
        }
    }

    /// Scenario event `event` (a failure or a recovery) happens.
    fn failure(&mut self, now: Nanos, event: u32) {
        let recent = &self.series.new_connection_success_ratio[self
            .series
            .new_connection_success_ratio
            .len()
            .saturating_sub(10)..];
        let pre = (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64);
        let mut cx = Ctx {
            run: &mut self.run,
            plane: &mut self.plane,
            q: &mut self.q,
            now,
            pre,
        };
        self.outages.on_event(&mut cx, event as usize);
    }

    /// The warm-up ends: what warmed the cluster up is simulated, not counted.
    fn warmup_end(&mut self) {
        // What warmed the cluster up is simulated, not counted: start every count
        // afresh, keeping what is open (it completes or breaks in the counted run).
        let open = |c: &Connections| {
            c.active_at_start + c.established - c.completed - c.broken.values().sum::<u64>()
        };
        self.run.total = Connections {
            active_at_start: open(&self.run.total),
            ..Connections::default()
        };
        for g in self.run.per_gen.iter_mut() {
            *g = Connections {
                active_at_start: open(g),
                ..Connections::default()
            };
        }
        self.paths = PathStats::with_nodes(self.s.cluster.nodes.len());
        self.spread = super::spread::SpreadCounter::new(
            self.s.cluster.pods.len(),
            self.s.cluster.services.len(),
        );
    }

    /// One sample of every time series.
    fn sample(&mut self, now: Nanos) {
        self.series.t_s.push(now.as_secs_f64());
        let ratio = if self.window_attempted == 0 {
            1.0
        } else {
            self.window_established as f64 / self.window_attempted as f64
        };
        self.series.new_connection_success_ratio.push(ratio);
        self.series.new_connections.push(self.window_attempted);
        let broken: u64 = self.run.total.broken.values().sum();
        self.series.active_connections.push(
            self.run.total.active_at_start + self.run.total.established
                - self.run.total.completed
                - broken,
        );
        self.series
            .nat_ports_in_use
            .push(self.plane.nat_in_use() as u64);
        self.series
            .nat_ports_in_use_max_node
            .push(self.run.nat_per_node.iter().copied().max().unwrap_or(0));
        let busy = self.run.active_per_node.iter().filter(|x| **x > 0).count();
        let total: u64 = self.run.active_per_node.iter().sum();
        self.series
            .load_max_node
            .push(self.run.active_per_node.iter().copied().max().unwrap_or(0));
        self.series.load_mean_node.push(if busy == 0 {
            0.0
        } else {
            total as f64 / busy as f64
        });
        for f in self.outages.records.iter_mut() {
            f.sample(now, ratio);
        }
        self.window_attempted = 0;
        self.window_established = 0;
        self.q
            .push(now.saturating_add(self.interval), Event::Sample);
    }
}
