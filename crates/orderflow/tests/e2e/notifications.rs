//! Notifications to `--notify-url` from the real binary: a receiver that refuses the first
//! attempts still gets every event, signed, in `seq` order per order; a receiver that is
//! down while the server is killed -9 and restarted gets everything once it is back; the
//! admin endpoints for deliveries that were given up. The first case also runs on the AWS
//! backend (the outbox on the DynamoDB order items, polled by the same notifier).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orderflow_core::domain::Timestamp;
use orderflow_core::signature;
use serde_json::Value;

use crate::helpers::{Options, TestApp, assert_error, read};

const SECRET: &str = "notify-0123456789abcdef";

/// A receiver that refuses each id's first `refuse` attempts, then accepts; records what it
/// accepted, in arrival order.
#[derive(Default)]
struct Receiver {
    refuse: usize,
    tries: Mutex<HashMap<String, usize>>,
    accepted: Mutex<Vec<Value>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let sig = headers
        .get("orderflow-signature")
        .and_then(|v| v.to_str().ok());
    if signature::verify(SECRET.as_bytes(), sig, &body, now).is_err() {
        // A bad signature would be refused for ever: make the test fail loudly.
        panic!("a notification with a bad signature: {sig:?}");
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let n = {
        let mut tries = r.tries.lock().unwrap();
        let n = tries.entry(id).or_default();
        *n += 1;
        *n
    };
    if n <= r.refuse {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.accepted.lock().unwrap().push(v);
    StatusCode::OK
}

async fn start_receiver(r: Arc<Receiver>, addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let app = Router::new().route("/hook", post(receive)).with_state(r);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Wait until the receiver accepted `n` distinct ids; returns, per order, the accepted
/// `(seq, type)` in arrival order (repeats of one id dropped, as a receiver dedups).
async fn wait_accepted(r: &Receiver, n: usize, secs: u64) -> HashMap<String, Vec<(u32, String)>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let accepted = r.accepted.lock().unwrap().clone();
        let mut seen = std::collections::HashSet::new();
        let mut per_order: HashMap<String, Vec<(u32, String)>> = HashMap::new();
        for v in &accepted {
            let id = v["id"].as_str().unwrap();
            if !seen.insert(id.to_owned()) {
                continue;
            }
            let (order, seq) = id.rsplit_once(':').unwrap();
            assert_eq!(v["order"]["orderId"], order, "{v}");
            per_order
                .entry(order.to_owned())
                .or_default()
                .push((seq.parse().unwrap(), v["type"].as_str().unwrap().to_owned()));
        }
        if seen.len() >= n {
            return per_order;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} notifications arrived: {accepted:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn notify_opts(addr: SocketAddr) -> Options {
    Options::default()
        .fast_flags()
        .flag("--payment-timeout", "30s")
        .flag("--notify-url", &format!("http://{addr}/hook"))
        .flag("--notify-secret", SECRET)
}

fn id(v: &Value) -> String {
    v["orderId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_receiver_that_refuses_the_first_attempts_gets_every_event_in_order() {
    let addr = free_addr();
    let receiver = Arc::new(Receiver {
        refuse: 2,
        ..Receiver::default()
    });
    let _server = start_receiver(receiver.clone(), addr).await;
    let app = TestApp::spawn_with(notify_opts(addr)).await;
    app.stock("p", 10).await;
    let a = id(&app.place_ok("u1", "p", 1).await);
    let b = id(&app.place_ok("u2", "p", 2).await);
    app.webhook(&a, "success").await;
    app.webhook(&b, "failed").await;
    app.wait_for(&a, 15, |o| o["orderStatus"] == 3).await;
    let got = wait_accepted(&receiver, 6, 60).await;
    let kinds = |o: &str| got[o].iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>();
    assert_eq!(kinds(&a), ["placed", "paid", "processing", "completed"]);
    assert_eq!(kinds(&b), ["placed", "payment_failed"]);
    for seqs in got.values() {
        let s: Vec<u32> = seqs.iter().map(|(s, _)| *s).collect();
        assert_eq!(s, (1..=s.len() as u32).collect::<Vec<_>>(), "in seq order");
    }
    // Each was refused twice before it was accepted.
    assert!(receiver.tries.lock().unwrap().values().all(|&n| n >= 3));
}

#[tokio::test]
async fn on_aws_a_receiver_that_refuses_the_first_attempts_gets_every_event_in_order() {
    let addr = free_addr();
    let receiver = Arc::new(Receiver {
        refuse: 2,
        ..Receiver::default()
    });
    let _server = start_receiver(receiver.clone(), addr).await;
    let app = TestApp::spawn_with(notify_opts(addr).aws()).await;
    app.stock("p", 10).await;
    let a = id(&app.place_ok("u1", "p", 1).await);
    let b = id(&app.place_ok("u2", "p", 2).await);
    app.webhook(&a, "success").await;
    app.webhook(&b, "failed").await;
    app.wait_for(&a, 20, |o| o["orderStatus"] == 3).await;
    let got = wait_accepted(&receiver, 6, 60).await;
    let kinds = |o: &str| got[o].iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>();
    assert_eq!(kinds(&a), ["placed", "paid", "processing", "completed"]);
    assert_eq!(kinds(&b), ["placed", "payment_failed"]);
    for seqs in got.values() {
        let s: Vec<u32> = seqs.iter().map(|(s, _)| *s).collect();
        assert_eq!(s, (1..=s.len() as u32).collect::<Vec<_>>(), "in seq order");
    }
    assert!(receiver.tries.lock().unwrap().values().all(|&n| n >= 3));
    // The admin endpoints read the same outbox.
    let (s, b) = app.get("/notifications/failed").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["notifications"], serde_json::json!([]));
    let (s, b) = read(
        app.client
            .post(app.url(&format!("/notifications/{a}:1/retry")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_receiver_down_across_a_kill_9_and_restart_still_gets_everything() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn_in(dir.path(), notify_opts(addr)).await;
    app.stock("p", 10).await;
    let a = id(&app.place_ok("u1", "p", 1).await);
    let b = id(&app.place_ok("u2", "p", 1).await);
    app.webhook(&a, "success").await;
    app.wait_for(&a, 15, |o| o["orderStatus"] == 3).await;
    app.kill_9();

    let app = TestApp::spawn_in(dir.path(), notify_opts(addr)).await;
    app.webhook(&b, "failed").await;
    let receiver = Arc::new(Receiver::default());
    let _server = start_receiver(receiver.clone(), addr).await;
    let got = wait_accepted(&receiver, 6, 60).await;
    let kinds = |o: &str| got[o].iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>();
    assert_eq!(kinds(&a), ["placed", "paid", "processing", "completed"]);
    assert_eq!(kinds(&b), ["placed", "payment_failed"]);
    drop(app);
}

#[tokio::test]
async fn failed_notifications_are_an_admin_listing_and_unknown_ids_are_not_found() {
    let token = "admin-0123456789abcdef";
    let app = TestApp::spawn_with(notify_opts(free_addr()).flag("--admin-token", token)).await;
    let (s, b) = app.get("/notifications/failed").await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let auth = format!("Bearer {token}");
    let (s, b) = read(
        app.client
            .get(app.url("/notifications/failed"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["notifications"], serde_json::json!([]));
    for id in [
        "00000000-0000-4000-8000-000000000000:1",
        "nope",
        "00000000-0000-4000-8000-000000000000:0",
    ] {
        let (s, b) = read(
            app.client
                .post(app.url(&format!("/notifications/{id}/retry")))
                .header("Authorization", &auth)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
}

#[test]
fn a_notify_url_needs_a_secret_and_an_http_url() {
    for (args, needle) in [
        (
            vec!["--notify-url", "http://127.0.0.1:9/hook"],
            "--notify-secret",
        ),
        (
            vec![
                "--notify-url",
                "http://127.0.0.1:9/hook",
                "--notify-secret",
                "",
            ],
            "ORDERFLOW_NOTIFY_SECRET",
        ),
        (
            vec!["--notify-url", "ftp://x/hook", "--notify-secret", SECRET],
            "http",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .env_remove("ORDERFLOW_NOTIFY_SECRET")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
