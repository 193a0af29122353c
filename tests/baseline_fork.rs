//! Each failure's "run without it" is forked from the run at the failure (the two runs are the
//! same run up to there); the oracle is the slow way, a whole new run of the scenario with the
//! failure and its recovery left out. Both must give the same figures, to the byte.

mod common;

use fabsim::sim::{baseline, engine};
use fabsim::time::Nanos;

#[test]
fn a_run_forked_at_the_failure_measures_what_a_whole_rerun_without_it_measures() {
    let mut failures = 0;
    for scenario in ["failure-catalogue.yaml", "brkdcn-2663.yaml"] {
        let s = common::load(&format!("scenarios/{scenario}"));
        for d in &s.designs {
            let forked = engine::run_measured(&s, d, Nanos::from_secs(1), &|_| {}).unwrap();
            let mut rerun = engine::run(&s, d, Nanos::from_secs(1)).unwrap();
            let without = baseline::runs_without_by_rerun(&s, d, Nanos::from_secs(1)).unwrap();
            baseline::compare_with(&s, &mut rerun, &without);
            failures += rerun
                .failover
                .iter()
                .filter(|f| f.against_run_without.is_some())
                .count();
            assert_eq!(
                serde_json::to_string(&forked).unwrap(),
                serde_json::to_string(&rerun).unwrap(),
                "{scenario}, design {}",
                d.name
            );
        }
    }
    assert!(failures >= 8, "{failures} failures compared");
}
