//! Section 3 "Security" against the real binary: nobody gets past payment, secrets that
//! are set must mean something, the listing is an admin's, other sites cannot drive a
//! visitor's browser, and no client can hold the server or grow its memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, read};

const SECRET: &str = "whsec-0123456789abcdef";
const TOKEN: &str = "admin-0123456789abcdef";

async fn simulate(app: &TestApp, id: &str, auth: Option<&str>) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/simulate/payment/{id}")))
        .json(&json!({ "outcome": "success" }));
    if let Some(t) = auth {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    read(req.send().await.unwrap()).await
}

async fn put_stock_as(app: &TestApp, product: &str, n: i64, token: &str) {
    let r = app
        .client
        .put(app.url(&format!("/inventory/{product}")))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({ "stockCount": n }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_a_webhook_secret_and_no_admin_token_nobody_can_simulate_a_payment() {
    let app = TestApp::spawn_with(Options::fast().flag("--webhook-secret", SECRET)).await;
    app.stock("p", 1).await;
    let id = app.place_ok("mallory", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    for auth in [None, Some("anything")] {
        let (s, b) = simulate(&app, &id, auth).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    // Nothing was sent: the order is not paid, and times out as unpaid.
    let (o, _) = app.wait_for(&id, 15, |o| o["orderStatus"] == 4).await;
    assert_eq!(o["paymentStatus"], "pending", "{o}");
    assert_eq!(app.product("p").await, (1, 0));
}

#[tokio::test]
async fn with_a_webhook_secret_simulating_needs_the_admin_token_and_signs_the_webhook() {
    let app = TestApp::spawn_with(
        Options::fast()
            .flag("--payment-timeout", "30s")
            .flag("--webhook-secret", SECRET)
            .flag("--admin-token", TOKEN),
    )
    .await;
    put_stock_as(&app, "p", 1, TOKEN).await;
    let id = app.place_ok("u", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = simulate(&app, &id, None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = simulate(&app, &id, Some(TOKEN)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    // The simulated gateway's webhook carried a valid signature: the order completes.
    app.wait_for(&id, 15, |o| o["orderStatus"] == 3).await;
}

/// Start `orderflow serve` with `args` and `env`; `Ok(stderr)` once it printed its address
/// (and was stopped), `Err((status, stderr))` when it exited first.
fn start(args: &[&str], env: &[(&str, &str)]) -> Result<String, (Option<i32>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("ORDERFLOW_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let listening = line.starts_with("orderflow listening on ");
    if listening {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    if listening {
        Ok(stderr)
    } else {
        Err((status.code(), stderr))
    }
}

#[test]
fn secrets_set_but_empty_stop_the_server_with_a_reason() {
    for (args, env, name) in [
        (
            vec![],
            vec![("ORDERFLOW_ADMIN_TOKEN", "")],
            "ORDERFLOW_ADMIN_TOKEN",
        ),
        (
            vec![],
            vec![("ORDERFLOW_WEBHOOK_SECRET", "")],
            "ORDERFLOW_WEBHOOK_SECRET",
        ),
        (vec!["--admin-token", ""], vec![], "ORDERFLOW_ADMIN_TOKEN"),
        (
            vec!["--webhook-secret", " "],
            vec![],
            "ORDERFLOW_WEBHOOK_SECRET",
        ),
    ] {
        match start(&args, &env) {
            Ok(_) => panic!("{args:?} {env:?}: the server started"),
            Err((code, stderr)) => {
                assert_ne!(code, Some(0), "{args:?} {env:?}");
                assert!(
                    stderr.contains(name) && stderr.contains("empty"),
                    "{args:?} {env:?}: {stderr}"
                );
            }
        }
    }
}

#[test]
fn short_secrets_start_with_a_warning_that_does_not_show_them() {
    let stderr = start(&[], &[("ORDERFLOW_ADMIN_TOKEN", "tiny-tok")])
        .unwrap_or_else(|(c, e)| panic!("did not start ({c:?}): {e}"));
    assert!(
        stderr.contains("ORDERFLOW_ADMIN_TOKEN is shorter than 16"),
        "{stderr}"
    );
    assert!(!stderr.contains("tiny-tok"), "{stderr}");
}

#[tokio::test]
async fn with_an_admin_token_listing_orders_needs_it_and_one_order_stays_open() {
    let app = TestApp::spawn_with(Options::default().flag("--admin-token", TOKEN)).await;
    put_stock_as(&app, "p", 2, TOKEN).await;
    let id = app.place_ok("u", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    for auth in [None, Some("Bearer wrong"), Some("Bearer ")] {
        let mut req = app.client.get(app.url("/orders?userId=u"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let (s, b) = read(req.send().await.unwrap()).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (s, b) = read(
        app.client
            .get(app.url("/orders?userId=u"))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["orders"][0]["orderId"], id.as_str());
    // The customer's own handle: the order and its status need no token.
    assert_eq!(app.order(&id).await["orderStatus"], 1);
    let (s, _) = app.get(&format!("/order/{id}/status")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn state_changing_requests_from_another_origin_are_refused() {
    let app = TestApp::spawn_with(Options::default().flag(
        "--allowed-origins",
        "https://shop.example,https://admin.example",
    ))
    .await;
    app.stock("p", 5).await;
    let own = app.base.clone();
    let post_from = |origin: &str| {
        let req = app
            .client
            .post(app.url("/order"))
            // What a form on another site can send without a preflight.
            .header("content-type", "text/plain")
            .header("Origin", origin)
            .body(r#"{"userId":"victim","productId":"p","quantity":1}"#);
        async move { read(req.send().await.unwrap()).await }
    };
    for evil in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let (s, b) = post_from(evil).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(app.product("p").await, (5, 0), "nothing was locked");
    let r = app
        .client
        .put(app.url("/inventory/p"))
        .header("Origin", "https://evil.example")
        .json(&json!({ "stockCount": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.product("p").await, (5, 0));
    // The server's own page, and the origins the operator trusts, may write.
    for ok in [
        own.as_str(),
        "https://shop.example",
        "https://admin.example",
    ] {
        let (s, b) = post_from(ok).await;
        assert_eq!(s, StatusCode::CREATED, "{ok}: {b}");
    }
    // Reading is not a state change: a foreign Origin on GET is answered.
    let r = app
        .client
        .get(app.url("/inventory/p"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // No Origin at all (curl, a payment gateway): not a browser, allowed.
    app.place_ok("curl", "p", 1).await;
}

#[tokio::test]
async fn the_public_url_origin_is_trusted() {
    let app = TestApp::spawn_with(
        Options::default().flag("--public-url", "https://orders.shop.example/"),
    )
    .await;
    app.stock("p", 1).await;
    let (s, b) = read(
        app.client
            .post(app.url("/order"))
            .header("Origin", "https://orders.shop.example")
            .json(&json!({ "userId": "u", "productId": "p" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn extreme_signature_timestamps_are_invalid_signatures() {
    let app = TestApp::spawn_with(Options::default().flag("--webhook-secret", SECRET)).await;
    app.stock("p", 1).await;
    let id = app.place_ok("u", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "orderId": id, "paymentStatus": "success" }).to_string();
    let sig = "0".repeat(64);
    for t in [
        "-9223372036854775808",
        "9223372036854775807",
        "-1",
        "0",
        "99999999999999999999999",
    ] {
        let (s, b) = read(
            app.client
                .post(app.url("/webhook/payment"))
                .header("Payment-Signature", format!("t={t},v1={sig}"))
                .body(body.clone())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    assert_eq!(app.order(&id).await["paymentStatus"], "pending");
}

#[tokio::test]
async fn made_up_methods_do_not_grow_metrics() {
    let app = TestApp::spawn().await;
    // Warm every label the junk below may touch.
    let junk = |i: usize| Method::from_bytes(format!("JUNK{i}").as_bytes()).unwrap();
    for i in 0..3 {
        let _ = app.client.request(junk(i), app.url("/order")).send().await;
        let _ = app
            .client
            .request(junk(i), app.url(&format!("/nowhere/{i}")))
            .send()
            .await;
    }
    // A scrape counts itself: the first one makes the series of GET /metrics.
    let scrape = || async {
        let r = app.client.get(app.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    };
    scrape().await;
    let before = scrape().await;
    for i in 3..203 {
        let r = app
            .client
            .request(junk(i), app.url("/order"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = app
            .client
            .request(junk(i), app.url(&format!("/nowhere/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let after = scrape().await;
    assert!(!after.contains("JUNK"), "a method became a label");
    assert!(!after.contains("/nowhere"), "a path became a label");
    assert!(after.contains(r#"method="other""#), "{after}");
    // Same series, larger counts: the size moves by a few digits, not by 400 series.
    assert!(
        after.len() < before.len() + 200,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn a_half_open_connection_does_not_delay_shutdown_past_the_timeout() {
    let mut app = TestApp::spawn_with(Options::default().flag("--shutdown-timeout", "1s")).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Half a request line, then silence; and a request whose body never comes.
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /heal").unwrap();
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = app.terminate();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    // The deadline is 1 s; the header timeout (10 s) and request timeout (30 s) would be
    // far later, so this is the shutdown deadline at work.
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
    drop((half, stalled));
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_until_one_closes() {
    let app = TestApp::spawn_with(Options::default().flag("--max-connections", "2")).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fresh client (no pooled connection) is not served while both slots are held.
    let fresh = || reqwest::Client::builder().build().unwrap();
    let waited = fresh()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(waited.is_err(), "served beyond the bound: {waited:?}");
    drop(idle);
    let r = fresh()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::spawn());
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) at the 10 s header timeout.
    let _ = half.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(20),
        "closed after {took:?}"
    );
    // Meanwhile and after, others are served.
    let (s, _) = rt.block_on(app.get("/healthz"));
    assert_eq!(s, StatusCode::OK);
}

#[test]
fn a_request_whose_body_never_arrives_is_answered_at_the_request_timeout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::spawn());
    rt.block_on(app.stock("p", 1));
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(45)))
        .unwrap();
    let started = Instant::now();
    let mut head = String::new();
    BufReader::new(&slow).read_line(&mut head).unwrap();
    let took = started.elapsed();
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(took >= Duration::from_secs(28), "answered after {took:?}");
    assert_eq!(rt.block_on(app.product("p")), (1, 0), "nothing was placed");
}

#[tokio::test]
async fn logs_carry_no_colour_codes_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["text", "json"] {
        let log = dir.path().join(format!("{format}.log"));
        let mut app = TestApp::spawn_with(
            Options::default()
                .flag("--webhook-secret", SECRET)
                .flag("--admin-token", TOKEN)
                .flag("--log-format", format)
                .env("RUST_LOG", "trace")
                .log_to(&log),
        )
        .await;
        put_stock_as(&app, "p", 1, TOKEN).await;
        let id = app.place_ok("u", "p", 1).await["orderId"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = json!({ "orderId": id, "paymentStatus": "success" }).to_string();
        let now = orderflow_core::domain::Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        );
        let sig = orderflow_core::signature::sign(SECRET.as_bytes(), now, body.as_bytes());
        let r = app
            .client
            .post(app.url("/webhook/payment"))
            .header("Payment-Signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let _ = simulate(&app, &id, Some("wrong-token")).await;
        assert!(app.terminate().success());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.len() > 100, "trace logs were written: {text}");
        assert!(!text.contains('\u{1b}'), "{format}: colour codes in a file");
        assert!(
            !text.contains(SECRET),
            "{format}: the webhook secret was logged"
        );
        assert!(
            !text.contains(TOKEN),
            "{format}: the admin token was logged"
        );
        if format == "json" {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            }
        }
    }
}

#[tokio::test]
async fn ids_with_control_characters_are_refused() {
    let app = TestApp::spawn().await;
    app.stock("p", 1).await;
    for (user, product) in [("a\nb", "p"), ("u", "p\u{0}"), ("\u{1b}[31mred", "p")] {
        let (s, b) = app
            .post_json("/order", &json!({ "userId": user, "productId": product }))
            .await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let (s, b) = app.put_stock("bad%0Aid", 1).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(app.product("p").await, (1, 0));
}
