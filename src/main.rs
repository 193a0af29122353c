//! The `fabsim` command: argument parsing and exit codes only; the work is in the library.

use clap::{Parser, Subcommand};
use fabsim::cli;
use fabsim::net::Proto;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fabsim",
    version,
    about = "Kubernetes networking on a Cisco ACI fabric: ACI-CNI and BGP designs, simulated"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a scenario file and report every problem at once (exit 2 on errors).
    Validate {
        /// The scenario file.
        scenario: PathBuf,
        /// Print only problems.
        #[arg(long, short)]
        quiet: bool,
        /// Print what the ACI-CNI controller would create as JSON (LoadBalancer IPs, redirect
        /// policies and members, SNAT policies with status, IPs and chunks per node).
        #[arg(long)]
        json: bool,
        /// The most connections one design run may simulate (the estimate is checked before
        /// running; default 25,000,000, about two minutes of one core).
        #[arg(long, default_value_t = fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS)]
        max_connections: u64,
    },
    /// Run the scenario's traffic through every design over time; write results.json and report.md.
    Simulate {
        /// The scenario file.
        scenario: PathBuf,
        /// Only these designs (repeatable); all by default.
        #[arg(long = "design")]
        designs: Vec<String>,
        /// The report folder (default reports/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write results.json here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Time-series sampling interval (e.g. 1s).
        #[arg(long, value_parser = parse_duration)]
        sample_interval: Option<fabsim::time::Nanos>,
        /// Do not measure each failure against the same run without it (saves one run per
        /// failure and design).
        #[arg(long)]
        no_baseline: bool,
        /// The most connections one design run may simulate (the estimate is checked before
        /// running; default 25,000,000, about two minutes of one core).
        #[arg(long, default_value_t = fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS)]
        max_connections: u64,
    },
    /// What-if: the scenario and its variants (--set, --fail, or its own `variants:`) side by side.
    Compare {
        /// The scenario file.
        scenario: PathBuf,
        /// Only these designs (repeatable); all by default.
        #[arg(long = "design")]
        designs: Vec<String>,
        /// A variant changing one value: a dotted YAML path (list elements by name) = a YAML value,
        /// e.g. designs.aci-cni.kube_config.snat_operator.port_range.ports_per_node=6000.
        #[arg(long = "set")]
        sets: Vec<String>,
        /// A variant adding a failure: REF@TIME, e.g. node:k8s-r1-2@100s.
        #[arg(long = "fail")]
        fails: Vec<String>,
        /// The report folder (default reports/<scenario name>-compare/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Time-series sampling interval (e.g. 1s).
        #[arg(long, value_parser = parse_duration)]
        sample_interval: Option<fabsim::time::Nanos>,
        /// The most connections one design run may simulate (the estimate is checked before
        /// running; default 25,000,000, about two minutes of one core).
        #[arg(long, default_value_t = fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS)]
        max_connections: u64,
    },
    /// Sizing tools: `fabsim size snat` sizes SNAT port ranges and SNAT IPs.
    Size {
        #[command(subcommand)]
        what: SizeWhat,
    },
    /// Show a leaf's or a node's routing table under a design, with the paths dropped and why.
    Routes {
        /// The scenario file.
        scenario: PathBuf,
        /// The design whose tables to show (a name from the scenario's `designs`).
        #[arg(long)]
        design: String,
        /// leaf:ID or node:NAME
        #[arg(long)]
        device: String,
        /// Print the table as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Walk one flow and its reply hop by hop through a design.
    Trace {
        /// The scenario file.
        scenario: PathBuf,
        /// The design to walk the flow through (a name from the scenario's `designs`).
        #[arg(long)]
        design: String,
        /// Source: pod:NS/NAME, deployment:NS/NAME, external:NAME or an IP.
        #[arg(long)]
        from: String,
        /// Destination: service:NS/NAME:PORT, pod:NS/NAME:PORT, external:NAME:PORT or IP:PORT[/PROTO].
        #[arg(long)]
        to: String,
        /// tcp, udp or icmp (default: the destination's /PROTO, else tcp).
        #[arg(long, value_parser = parse_proto)]
        proto: Option<Proto>,
        /// Source port (default 32768, the start of Linux's ip_local_port_range).
        #[arg(long)]
        sport: Option<u16>,
        /// Print the walk as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SizeWhat {
    /// Ports per node and SNAT IPs for a refusal target (Erlang-B), explained; or evaluate a setting.
    Snat(SnatFlags),
}

#[derive(clap::Args)]
struct SnatFlags {
    /// Take nodes, the busiest node's egress rate, destinations, lifetime, TIME_WAIT, the port range
    /// and the SNAT IPs from a scenario (flags given as well override it).
    #[arg(long)]
    from_scenario: Option<PathBuf>,
    /// The aci-cni design of --from-scenario to read the port range and SNAT IPs from.
    #[arg(long)]
    design: Option<String>,
    /// Nodes that take a SNAT chunk.
    #[arg(long)]
    nodes: Option<u64>,
    /// New outbound connections per node: 100, 100/s, 6000/m or 20/h.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// New outbound connections per pod (with --pods-per-node): 2, 2/s, 120/m.
    #[arg(long, value_parser = parse_rate)]
    rate_per_pod: Option<f64>,
    /// Pods per node that open outbound connections (with --rate-per-pod).
    #[arg(long)]
    pods_per_node: Option<f64>,
    /// Mean connection lifetime (e.g. 5s).
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<fabsim::time::Nanos>,
    /// How long a closed connection holds its port (Linux: 120s).
    #[arg(long, value_parser = parse_duration)]
    time_wait: Option<fabsim::time::Nanos>,
    /// Distinct destination IP:ports the traffic spreads over evenly (default 1: the worst case).
    #[arg(long)]
    destinations: Option<u64>,
    /// One hot destination takes this fraction; the rest spreads over the other destinations.
    #[arg(long)]
    hot_destination_share: Option<f64>,
    /// Acceptable refused fraction.
    #[arg(long, default_value_t = 1e-4)]
    target: f64,
    /// The snat_operator port range START-END (default 5000-65000).
    #[arg(long, value_parser = cli::size::parse_range)]
    port_range: Option<(u32, u32)>,
    /// Evaluate this ports_per_node instead of recommending one.
    #[arg(long)]
    ports_per_node: Option<u32>,
    /// Evaluate this many SNAT IPs: which nodes get no chunk.
    #[arg(long)]
    snat_ips: Option<u32>,
    /// Extra nodes during upgrades, which need a chunk too.
    #[arg(long, default_value_t = 0)]
    surge: u64,
    /// Size by the talk's rule: one port per connection whatever the destination.
    #[arg(long)]
    strict: bool,
    /// The nodes' Linux version (default 5.15, or the scenario's conntrack.node_kernel): before
    /// 6.5 the NAT port search gives up after 248 probes; from 6.5 it may take over TIME_WAIT entries.
    #[arg(long)]
    node_kernel: Option<String>,
    /// kernel (the node kernel's search, default) or whole-range (an ideal allocator).
    #[arg(long)]
    nat_port_search: Option<String>,
    /// Print the sizing as JSON.
    #[arg(long)]
    json: bool,
    /// Run the engine on a one-node scenario built from the inputs and compare.
    #[arg(long)]
    verify: bool,
    /// Where to write refusal-curve.svg and size.json (default reports/size-snat/).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<fabsim::time::Nanos, String> {
    fabsim::time::Nanos::parse(s).map_err(|e| e.to_string())
}

/// A rate as the scenario writes it (`400/s`, `20/m`), or a plain number per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err(format!("rate `{s}` must be a positive number")),
        Err(_) => fabsim::scenario::raw::parse_rate(s).map_err(|e| e.to_string()),
    }
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    Proto::parse(s).ok_or_else(|| format!("`{s}` is not tcp, udp or icmp"))
}

// Long: one arm per subcommand, passing its flags.
fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_BAD_INPUT
            } else {
                cli::EXIT_OK
            });
        }
    };
    let code = match &args.command {
        Command::Validate {
            scenario,
            quiet,
            json,
            max_connections,
        } => cli::validate::run(scenario, *quiet, *json, *max_connections),
        Command::Simulate {
            scenario,
            designs,
            out,
            json,
            sample_interval,
            no_baseline,
            max_connections,
        } => cli::simulate::run(&cli::simulate::Args {
            scenario,
            designs,
            no_baseline: *no_baseline,
            max_connections: *max_connections,
            out: out.as_deref(),
            json: json.as_deref(),
            sample_interval: *sample_interval,
        }),
        Command::Compare {
            scenario,
            designs,
            sets,
            fails,
            out,
            sample_interval,
            max_connections,
        } => cli::compare::run(&cli::compare::Args {
            scenario,
            designs,
            sets,
            fails,
            out: out.as_deref(),
            sample_interval: *sample_interval,
            max_connections: *max_connections,
        }),
        Command::Size {
            what: SizeWhat::Snat(f),
        } => cli::size::run(&cli::size::Args {
            from_scenario: f.from_scenario.clone(),
            design: f.design.clone(),
            nodes: f.nodes,
            rate: f.rate,
            rate_per_pod: f.rate_per_pod,
            pods_per_node: f.pods_per_node,
            lifetime_s: f.lifetime.map(|d| d.as_secs_f64()),
            time_wait_s: f.time_wait.map(|d| d.as_secs_f64()),
            destinations: f.destinations,
            hot_destination_share: f.hot_destination_share,
            target: f.target,
            port_range: f.port_range,
            ports_per_node: f.ports_per_node,
            snat_ips: f.snat_ips,
            surge: f.surge,
            strict: f.strict,
            node_kernel: f.node_kernel.clone(),
            nat_port_search: f.nat_port_search.clone(),
            json: f.json,
            verify: f.verify,
            out: f.out.clone(),
        }),
        Command::Routes {
            scenario,
            design,
            device,
            json,
        } => cli::routes::run(scenario, design, device, *json),
        Command::Trace {
            scenario,
            design,
            from,
            to,
            proto,
            sport,
            json,
        } => cli::trace::run(&cli::trace::Args {
            scenario,
            design,
            from,
            to,
            proto: *proto,
            sport: *sport,
            json: *json,
        }),
    };
    ExitCode::from(code)
}
