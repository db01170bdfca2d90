//! The payment webhook's input and signature, the simulated gateway, and the admin token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orderflow_core::domain::Timestamp;
use orderflow_core::signature;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Options, TestApp, assert_error, read};

const UNKNOWN: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(ms as i64)
}

#[tokio::test]
async fn bad_webhooks_are_400_and_unknown_orders_404() {
    let app = TestApp::spawn_with(Options::fast().flag("--payment-timeout", "30s")).await;
    app.stock("p", 10).await;
    let o = app.place_ok("u1", "p", 1).await["orderId"].clone();
    for body in [
        "".to_owned(),
        "nope".to_owned(),
        "{}".to_owned(),
        json!({ "paymentStatus": "success" }).to_string(),
        json!({ "orderId": o, "paymentStatus": "paid" }).to_string(),
        json!({ "orderId": o, "paymentStatus": 1 }).to_string(),
        json!({ "orderId": o }).to_string(),
        json!({ "orderId": "not-a-uuid", "paymentStatus": "success" }).to_string(),
        json!({ "orderId": 5, "paymentStatus": "success" }).to_string(),
        json!({ "orderId": o, "paymentStatus": "success", "paymentId": 7 }).to_string(),
        json!({ "orderId": o, "paymentStatus": "success", "paymentId": "x".repeat(256) })
            .to_string(),
    ] {
        let (s, b) = app.post_raw("/webhook/payment", body.clone()).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(
        app.order(o.as_str().unwrap()).await["paymentStatus"],
        "pending"
    );
    let (s, b) = app.webhook(UNKNOWN, "success").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    // Fields a gateway adds later are ignored.
    let (s, b) = app
        .post_json(
            "/webhook/payment",
            &json!({ "orderId": o, "paymentStatus": "success", "paymentId": "gw_1",
                     "amount": 1299, "currency": "EUR" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "queued");
    let (done, _) = app
        .wait_for(o.as_str().unwrap(), 10, |o| o["orderStatus"] == 3)
        .await;
    assert_eq!(done["paymentId"], "gw_1");
}

#[tokio::test]
async fn with_a_secret_only_correctly_signed_recent_webhooks_count() {
    let secret = "whsec_test";
    let app = TestApp::spawn_with(
        Options::fast()
            .flag("--payment-timeout", "30s")
            .env("ORDERFLOW_WEBHOOK_SECRET", secret),
    )
    .await;
    app.stock("p", 10).await;
    let o = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "orderId": o, "paymentStatus": "success" }).to_string();
    let send = |sig: Option<String>, body: String| {
        let mut req = app
            .client
            .post(app.url("/webhook/payment"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = sig {
            req = req.header("Payment-Signature", sig);
        }
        async move { read(req.send().await.unwrap()).await }
    };
    let stale = Timestamp::from_millis(now().as_millis() - 301_000);
    let other_body = json!({ "orderId": o, "paymentStatus": "failed" }).to_string();
    for sig in [
        None,
        Some("garbage".to_owned()),
        Some(signature::sign(b"wrong-secret", now(), body.as_bytes())),
        Some(signature::sign(secret.as_bytes(), stale, body.as_bytes())),
        Some(signature::sign(
            secret.as_bytes(),
            now(),
            other_body.as_bytes(),
        )),
    ] {
        let (s, b) = send(sig.clone(), body.clone()).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    assert_eq!(
        app.order(&o).await["paymentStatus"],
        "pending",
        "nothing changed"
    );

    let good = signature::sign(secret.as_bytes(), now(), body.as_bytes());
    let (s, b) = send(Some(good), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "queued");

    // The simulated gateway signs real webhooks with this secret, so without an admin
    // token it is closed (security.rs shows it signing with one).
    let o2 = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = app.simulate(&o2, "success", 0).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn simulated_payments_arrive_after_their_delay() {
    let app = TestApp::spawn_with(Options::fast().flag("--payment-timeout", "30s")).await;
    app.stock("p", 10).await;
    let o = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = app.simulate(&o, "success", 1500).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["delayMs"], 1500);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        app.order(&o).await["paymentStatus"],
        "pending",
        "not before its delay"
    );
    app.wait_for(&o, 10, |o| o["orderStatus"] == 3).await;
}

#[tokio::test]
async fn bad_simulations_are_refused() {
    let app = TestApp::spawn_with(Options::fast()).await;
    app.stock("p", 10).await;
    let o = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = app.simulate(UNKNOWN, "success", 0).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    for body in [
        json!({}),
        json!({ "outcome": "maybe" }),
        json!({ "outcome": "success", "delayMs": -1 }),
        json!({ "outcome": "success", "delayMs": 3_600_001 }),
        json!({ "outcome": "success", "delayMs": 1.5 }),
        json!({ "outcome": "success", "delay": 5 }),
    ] {
        let (s, b) = app
            .post_json(&format!("/simulate/payment/{o}"), &body)
            .await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let (s, b) = app.simulate("not-a-uuid", "success", 0).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    let (s, _) = app.simulate(&o, "success", 3_600_000).await;
    assert_eq!(s, StatusCode::ACCEPTED, "an hour is allowed");
}

#[tokio::test]
async fn with_an_admin_token_refunds_and_simulations_need_it() {
    let app = TestApp::spawn_with(Options::fast().flag("--admin-token", "adm")).await;
    let authed = |path: String, auth: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url(&path))
            .json(&json!({ "outcome": "success" }));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move { read(req.send().await.unwrap()).await }
    };
    let r = app
        .client
        .put(app.url("/inventory/p"))
        .header("Authorization", "Bearer adm")
        .json(&json!({ "stockCount": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let o = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [format!("/simulate/payment/{o}"), format!("/refund/{o}")] {
        for auth in [None, Some("Bearer nope")] {
            let (s, b) = authed(path.clone(), auth).await;
            assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
    let (s, b) = authed(format!("/simulate/payment/{o}"), Some("Bearer adm")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    // The webhook is the gateway's door, not an admin one.
    app.wait_for(&o, 10, |o| o["orderStatus"] == 3).await;
    let (s, b) = authed(format!("/refund/{o}"), Some("Bearer adm")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
}
