//! Races and crashes: webhooks around the deadline while the sweeper runs, and work that
//! was under way when the server died.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{Options, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_around_the_deadline_while_the_sweeper_runs_end_consistently() {
    let app = TestApp::spawn_with(
        Options::fast()
            .flag("--payment-timeout", "1s")
            .flag("--sweep-schedule", "* * * * * *")
            .flag("--processing-delay", "50ms")
            .flag("--refund-delay", "50ms"),
    )
    .await;
    app.stock("p", 1000).await;
    let mut orders = Vec::new();
    for i in 0..60 {
        let o = app.place_ok(&format!("u{i}"), "p", 1 + i % 3).await;
        orders.push(o["orderId"].as_str().unwrap().to_owned());
    }
    // Each webhook lands somewhere between 0.7 s and 1.3 s after its order: some in time,
    // some late, some racing the sweep that fires every second.
    let mut hooks = tokio::task::JoinSet::new();
    for (i, id) in orders.iter().enumerate() {
        let client = app.client.clone();
        let url = app.url("/webhook/payment");
        let id = id.clone();
        let status = if i % 10 == 9 { "failed" } else { "success" };
        hooks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(700 + (i as u64 * 97) % 600)).await;
            let r = client
                .post(url)
                .json(&serde_json::json!({ "orderId": id, "paymentStatus": status }))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        });
    }
    for (status, body) in hooks.join_all().await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Quiet: every order ends in 3, 4 or 5, refunds done.
    for id in &orders {
        let (o, _) = app
            .wait_for(id, 20, |o| {
                let st = o["orderStatus"].as_i64().unwrap();
                let paid = o["paymentStatus"] == "success";
                st == 3 || (st >= 4 && (!paid || o["refundStatus"] == "completed"))
            })
            .await;
        if o["orderStatus"] == 3 {
            assert_eq!(o["refundStatus"], "none", "completed and refunded: {o}");
        }
    }
    app.assert_invariants(&HashMap::from([("p".to_owned(), 1000)]))
        .await;
}

#[tokio::test]
async fn work_under_way_at_a_kill_9_is_finished_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Options::fast()
        .flag("--payment-timeout", "30s")
        .flag("--processing-delay", "30s")
        .flag("--refund-delay", "30s");
    let mut app = TestApp::spawn_in(dir.path(), slow.clone()).await;
    app.stock("p", 10).await;
    let paid = app.place_ok("u1", "p", 2).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let refunded = app.place_ok("u1", "p", 3).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.webhook(&paid, "success").await;
    app.webhook(&refunded, "failed").await;
    app.webhook(&refunded, "success").await;
    // The consumer is mid-work on one, the refund gateway mid-refund on the other.
    app.wait_for(&paid, 10, |o| o["orderStatus"] == 2).await;
    assert_eq!(app.order(&refunded).await["refundStatus"], "initiated");
    app.kill_9();

    let app = TestApp::spawn_in(dir.path(), Options::fast().flag("--payment-timeout", "30s")).await;
    app.wait_for(&paid, 10, |o| o["orderStatus"] == 3).await;
    app.wait_for(&refunded, 10, |o| o["refundStatus"] == "completed")
        .await;
    assert_eq!(app.product("p").await, (8, 0));
    app.assert_invariants(&HashMap::from([("p".to_owned(), 10)]))
        .await;
}

#[tokio::test]
async fn orders_that_expired_while_the_server_was_down_are_swept_at_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::fast()
        .flag("--payment-timeout", "300ms")
        .no_scheduled_sweeps();
    let mut app = TestApp::spawn_in(dir.path(), opts.clone()).await;
    app.stock("p", 10).await;
    let a = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app.terminate().success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // `orderflow sweep` runs one sweep against the stopped server's store...
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("sweep")
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");

    let app = TestApp::spawn_in(dir.path(), opts.clone()).await;
    for id in [&a, &b] {
        assert_eq!(app.order(id).await["orderStatus"], 4);
    }
    assert_eq!(app.product("p").await, (10, 0));
    let c = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(app); // kill -9
    tokio::time::sleep(Duration::from_millis(500)).await;

    // ...and a server that starts sweeps at once, without waiting for a tick.
    let app = TestApp::spawn_in(dir.path(), opts).await;
    app.wait_for(&c, 5, |o| o["orderStatus"] == 4).await;
    assert_eq!(app.product("p").await, (10, 0));
}
