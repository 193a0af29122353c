//! A node's BGP speaker as the fabric sees it: one state per node, changed only by the
//! transitions below (holo's per-neighbour FSM is the model), instead of flags kept apart in
//! the engine and the plane.
//!
//! | event | from | to | the node's routes |
//! |---|---|---|---|
//! | speaker stops, no graceful restart | any | `Stopped` | withdrawn at once (its TCP sessions close) |
//! | speaker stops, graceful restart | any | `Stale` | kept, stale, for the restart time (RFC 4724) |
//! | restart time runs out | `Stale`, `Connecting` | `Stopped`, `Connecting` | withdrawn |
//! | speaker starts | not `Established` | `Connecting` | unchanged until it connects |
//! | connected (after its connect delay), or the node boots | any | `Established` | back (unless the hold timer's withdrawal still holds) |
//! | the node dies: BFD or the hold timer | — | — | withdrawn until the node is restored |

use crate::design::control::Control;

/// Where a node's speaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpeakerState {
    /// Running, its sessions established.
    Established,
    /// Started again and connecting (the fabric only listens).
    Connecting,
    /// Stopped with graceful restart: the fabric, a helper, keeps its routes, stale.
    Stale,
    /// Stopped: its sessions are closed.
    Stopped,
}

/// A node's speaker and why the fabric does not hold its routes.
#[derive(Clone, Copy, Debug)]
pub struct Speaker {
    pub state: SpeakerState,
    /// The speaker's own withdrawal: it stopped without graceful restart, or the restart time ran
    /// out; cleared when it is established again.
    withdrawn_by_speaker: bool,
    /// The node died and BFD or the hold timer took its sessions down; cleared when it is
    /// restored.
    withdrawn_by_hold_timer: bool,
}

impl Default for Speaker {
    fn default() -> Self {
        Speaker {
            state: SpeakerState::Established,
            withdrawn_by_speaker: false,
            withdrawn_by_hold_timer: false,
        }
    }
}

impl Speaker {
    /// The process runs (established or connecting).
    pub fn running(&self) -> bool {
        matches!(
            self.state,
            SpeakerState::Established | SpeakerState::Connecting
        )
    }

    /// The fabric holds none of the node's routes.
    pub fn withdrawn(&self) -> bool {
        self.withdrawn_by_speaker || self.withdrawn_by_hold_timer
    }

    /// The speaker process stops (`graceful_restart`: the fabric keeps its routes) or starts.
    pub fn process(&mut self, up: bool, graceful_restart: bool) {
        self.state = match (up, self.state) {
            (true, SpeakerState::Established) => SpeakerState::Established,
            (true, _) => SpeakerState::Connecting,
            (false, _) if graceful_restart => SpeakerState::Stale,
            (false, _) => SpeakerState::Stopped,
        };
    }

    /// Whether a scheduled `c` has become moot by now (`None`: not the speaker's to say).
    pub fn moot(&self, c: Control, node_up: bool) -> Option<bool> {
        match c {
            // It came back in time: nothing is stale any more.
            Control::GracefulRestartExpired => Some(self.state == SpeakerState::Established),
            // Stopped again before it connected, or its node is down.
            Control::SpeakerUp => Some(!self.running() || !node_up),
            _ => None,
        }
    }

    /// Applies `c`; true when the node's routes are affected.
    pub fn apply(&mut self, c: Control) -> bool {
        match c {
            Control::Withdraw | Control::Restore => {
                self.withdrawn_by_hold_timer = c == Control::Withdraw;
            }
            Control::SpeakerStopped | Control::GracefulRestartExpired => {
                if self.state == SpeakerState::Stale {
                    self.state = SpeakerState::Stopped;
                }
                self.withdrawn_by_speaker = true;
            }
            Control::SpeakerUp => {
                self.state = SpeakerState::Established;
                self.withdrawn_by_speaker = false;
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graceful_restart_keeps_the_routes_until_the_restart_time_runs_out() {
        let mut s = Speaker::default();
        s.process(false, true);
        assert_eq!(s.state, SpeakerState::Stale);
        assert!(!s.withdrawn(), "the helper keeps them, stale");
        assert_eq!(s.moot(Control::GracefulRestartExpired, true), Some(false));
        s.apply(Control::GracefulRestartExpired);
        assert!(s.withdrawn());
        assert_eq!(s.state, SpeakerState::Stopped);
    }

    #[test]
    fn a_speaker_back_in_time_makes_the_expiry_moot() {
        let mut s = Speaker::default();
        s.process(false, true);
        s.process(true, true);
        assert_eq!(s.state, SpeakerState::Connecting);
        assert_eq!(s.moot(Control::SpeakerUp, true), Some(false));
        s.apply(Control::SpeakerUp);
        assert_eq!(s.moot(Control::GracefulRestartExpired, true), Some(true));
        assert!(!s.withdrawn());
    }

    #[test]
    fn the_hold_timer_and_the_speaker_withdraw_independently() {
        let mut s = Speaker::default();
        s.apply(Control::Withdraw);
        s.process(false, false);
        s.apply(Control::SpeakerStopped);
        s.apply(Control::Restore);
        assert!(s.withdrawn(), "the stopped speaker still withholds them");
        assert_eq!(s.moot(Control::SpeakerUp, false), Some(true), "node down");
        s.process(true, false);
        s.apply(Control::SpeakerUp);
        assert!(!s.withdrawn());
    }
}
