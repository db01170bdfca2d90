//! Durability: what was acknowledged survives a restart, also after `kill -9`.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Options, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_kill_9_during_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn_in(dir.path(), Options::default()).await;
    app.stock("p1", 100_000).await;

    // Buyers keep ordering while the server is killed; every 201 they got must survive.
    let mut buyers = tokio::task::JoinSet::new();
    for b in 0..16 {
        let client = app.client.clone();
        let url = app.url("/order");
        buyers.spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let body = json!({ "userId": format!("u{b}-{i}"), "productId": "p1" });
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let o: serde_json::Value = r.json().await.unwrap();
                        acked.push(o);
                    }
                    // The server died under us: this one was never acknowledged.
                    _ => return acked,
                }
            }
            acked
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    app.kill_9();
    let acked: Vec<_> = buyers.join_all().await.into_iter().flatten().collect();
    assert!(acked.len() > 10, "load ran: {} orders", acked.len());

    let app = TestApp::spawn_in(dir.path(), Options::default()).await;
    for o in &acked {
        let (s, got) = app
            .get(&format!("/order/{}", o["orderId"].as_str().unwrap()))
            .await;
        assert_eq!(s, StatusCode::OK, "lost acknowledged order {o}");
        assert_eq!(&got, o);
    }
    // Orders may exist that were committed but whose answer was cut off; the counters
    // still agree with the orders.
    let all = app.all_orders("").await;
    assert!(all.len() >= acked.len());
    app.assert_invariants(&HashMap::from([("p1".to_owned(), 100_000)]))
        .await;
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_a_restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn_in(dir.path(), Options::default()).await;
    app.stock("p1", 10).await;
    let o = app.place_ok("u1", "p1", 4).await;
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");

    let app = TestApp::spawn_in(dir.path(), Options::default()).await;
    let (s, got) = app
        .get(&format!("/order/{}", o["orderId"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, o);
    assert_eq!(app.product("p1").await, (6, 4));
    // The database is a real file in the data dir.
    assert!(dir.path().join("orderflow.db").is_file());
}
