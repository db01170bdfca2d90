//! The capacity model's design rule on the AWS backend (contract section 5, "Scale"): in a
//! short `shop` run on the emulator, no partition key of a table or an index receives
//! writes from more than a quarter of the orders. A rule about where writes land, not a
//! speed figure: the figures themselves are in docs/BENCHMARKS.md.

use std::process::Command;

#[test]
fn no_partition_key_is_written_by_most_orders_of_the_shop() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run these through scripts/test, which starts the emulator"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow-bench"))
        .args(["capacity", "shop", "--orders", "200", "--check"])
        .arg("--orderflow-bin")
        .arg(env!("CARGO_BIN_EXE_orderflow"))
        .output()
        .expect("run orderflow-bench capacity");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("hottest partition: ") && stdout.contains("design rule    holds"),
        "{stdout}"
    );
}
