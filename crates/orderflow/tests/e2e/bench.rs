//! A smoke run of the benchmark: it runs every scenario end to end and its invariant
//! checks pass. Its speed is not judged here (the test suite times nothing).

use std::process::Command;

#[test]
fn the_benchmark_runs_every_scenario_and_the_invariants_hold() {
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow-bench"))
        .args(["all", "--smoke", "--concurrency", "8", "--orderflow-bin"])
        .arg(env!("CARGO_BIN_EXE_orderflow"))
        .output()
        .expect("run orderflow-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "== place",
        "== flash",
        "== cart",
        "== limit",
        "none with two",
        "lines/s",
        "== lifecycle",
        "== sweep",
        "of ceiling",
        "none: exactly 50 accepted",
        "swept          1000 orders",
        "during/before",
        "== deadline",
        "stock back     100 orders",
        "io             ",
        "server RSS",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // place (once, the reference of the rest), flash, cart, limit, lifecycle, sweep,
    // deadline.
    assert_eq!(stdout.matches("I1-I3 hold").count(), 7, "{stdout}");
}
