//! Configuration: flags, their environment variables, and --demo.

use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, millis};

#[tokio::test]
async fn the_payment_timeout_is_read_from_the_flag_or_the_environment() {
    for opts in [
        Options::default().arg("--payment-timeout").arg("2s"),
        Options::default().env("ORDERFLOW_PAYMENT_TIMEOUT", "2s"),
        // The flag wins over the variable.
        Options::default()
            .env("ORDERFLOW_PAYMENT_TIMEOUT", "9m")
            .arg("--payment-timeout")
            .arg("2000ms"),
    ] {
        let app = TestApp::spawn_with(opts).await;
        app.stock("p1", 1).await;
        let o = app.place_ok("u1", "p1", 1).await;
        assert_eq!(millis(&o["expiresAt"]) - millis(&o["createdAt"]), 2000);
    }
}

#[tokio::test]
async fn the_admin_token_is_read_from_the_environment() {
    let app = TestApp::spawn_with(Options::default().env("ORDERFLOW_ADMIN_TOKEN", "t0k")).await;
    let (s, _) = app.put_stock("p1", 1).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn demo_seeds_an_empty_store_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), Options::default().arg("--demo")).await;
    let (_, list) = app.get("/inventory").await;
    let products = list["products"].as_array().unwrap();
    assert!(products.len() >= 3, "{list}");
    let first = products[0]["productId"].as_str().unwrap().to_owned();
    app.stock(&first, 1).await;
    drop(app);

    let app = TestApp::spawn_in(dir.path(), Options::default().env("ORDERFLOW_DEMO", "true")).await;
    assert_eq!(app.product(&first).await, (1, 0), "not re-seeded");
}

#[test]
fn bad_flags_are_refused_at_start() {
    for args in [
        ["--payment-timeout", "soon"],
        ["--payment-timeout", "0s"],
        ["--backend", "mainframe"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}
