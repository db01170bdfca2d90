//! The seed scenarios, end to end on the real binary with short timeouts: each order goes
//! through the real webhook, queue, consumer, sweeper and refund gateway. Each runs on the
//! embedded backend and on the AWS backend (DynamoDB and SQS on the emulator).

use crate::helpers::on_both_backends;

on_both_backends!(
    a_paid_order_goes_pending_processing_completed,
    an_unpaid_order_is_timed_out_by_the_sweeper_and_its_stock_returns,
    a_payment_after_the_timeout_is_refunded,
    a_payment_after_the_deadline_but_before_the_sweep_is_late_too,
    a_failed_payment_fails_the_order_and_returns_its_stock,
    repeated_webhooks_are_duplicates,
    refunds_are_asked_once_and_complete,
);

use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, assert_error};

#[tokio::test]
async fn the_history_of_an_unknown_or_malformed_order_is_an_error() {
    let app = TestApp::spawn().await;
    let (s, b) = app
        .get("/order/00000000-0000-4000-8000-000000000000/events")
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    let (s, b) = app.get("/order/nope/events").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
}

fn id(o: &serde_json::Value) -> String {
    o["orderId"].as_str().unwrap().to_owned()
}

async fn a_paid_order_goes_pending_processing_completed(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "30s")).await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 3).await);
    let (s, b) = app.simulate(&o, "success", 0).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (done, seen) = app.wait_for(&o, 15, |o| o["orderStatus"] == 3).await;
    assert_eq!(seen, [1, 2, 3], "watched it move through processing");
    assert_eq!(done["paymentStatus"], "success");
    assert!(done["paymentTime"].is_string());
    assert!(done["paymentId"].as_str().unwrap().starts_with("sim_"));
    assert_eq!(done["refundStatus"], "none");
    assert_eq!(app.product("p").await, (7, 0), "locked stock sold");
    assert_history(
        &app,
        &o,
        &[
            ("placed", "api", 1),
            ("paid", "webhook", 1),
            ("processing", "consumer", 2),
            ("completed", "consumer", 3),
        ],
    )
    .await;
}

/// `GET /order/{id}/events`: the types, sources and statuses, oldest first, and the shape
/// of each event (I7: seq from 1, the last event's state is the order's).
async fn assert_history(app: &TestApp, id: &str, want: &[(&str, &str, i64)]) {
    let (s, body) = app.get(&format!("/order/{id}/events")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    let got: Vec<(&str, &str, i64)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
                e["orderStatus"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want, "{body}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        assert!(e["at"].as_str().unwrap().ends_with('Z'), "{e}");
        for field in ["status", "paymentStatus", "refundStatus"] {
            assert!(e[field].is_string(), "{e}");
        }
    }
    let order = app.order(id).await;
    let last = events.last().unwrap();
    for field in ["orderStatus", "status", "paymentStatus", "refundStatus"] {
        assert_eq!(last[field], order[field], "I7: {field}");
    }
}

async fn an_unpaid_order_is_timed_out_by_the_sweeper_and_its_stock_returns(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags()).await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 4).await);
    assert_eq!(app.product("p").await, (6, 4));
    let (done, _) = app.wait_for(&o, 10, |o| o["orderStatus"] == 4).await;
    assert_eq!(done["status"], "timeout");
    assert_eq!(done["paymentStatus"], "pending");
    assert_eq!(app.product("p").await, (10, 0));
}

async fn a_payment_after_the_timeout_is_refunded(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags()).await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 2).await);
    app.wait_for(&o, 10, |o| o["orderStatus"] == 4).await;
    let (s, b) = app.webhook(&o, "success").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "refund_initiated");
    assert_eq!(b["orderStatus"], 4);
    assert_eq!(b["refundStatus"], "initiated");
    let (done, _) = app
        .wait_for(&o, 10, |o| o["refundStatus"] == "completed")
        .await;
    assert_eq!(done["orderStatus"], 4);
    assert_eq!(done["paymentStatus"], "success");
    assert_eq!(app.product("p").await, (10, 0));
    assert_history(
        &app,
        &o,
        &[
            ("placed", "api", 1),
            ("timed_out", "sweeper", 4),
            ("paid_late", "webhook", 4),
            ("refund_completed", "refund", 4),
        ],
    )
    .await;
}

async fn a_payment_after_the_deadline_but_before_the_sweep_is_late_too(base: Options) {
    let app = TestApp::spawn_with(
        base.fast_flags()
            .flag("--payment-timeout", "300ms")
            .no_scheduled_sweeps(),
    )
    .await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 5).await);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.order(&o).await["orderStatus"], 1, "not swept yet");
    let (s, b) = app.webhook(&o, "success").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "refund_initiated");
    assert_eq!(b["orderStatus"], 4);
    assert_eq!(app.product("p").await, (10, 0), "released at once");
    app.wait_for(&o, 10, |o| o["refundStatus"] == "completed")
        .await;
}

async fn a_failed_payment_fails_the_order_and_returns_its_stock(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "30s")).await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 2).await);
    let (s, _) = app.simulate(&o, "failed", 0).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (done, _) = app.wait_for(&o, 10, |o| o["orderStatus"] == 5).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["paymentStatus"], "failed");
    assert_eq!(done["paymentTime"], serde_json::Value::Null);
    assert_eq!(app.product("p").await, (10, 0));
    // A success after the failure is refunded; the order stays failed.
    let (_, b) = app.webhook(&o, "success").await;
    assert_eq!(b["outcome"], "refund_initiated");
    let (done, _) = app
        .wait_for(&o, 10, |o| o["refundStatus"] == "completed")
        .await;
    assert_eq!(done["orderStatus"], 5);
}

async fn repeated_webhooks_are_duplicates(base: Options) {
    let app = TestApp::spawn_with(
        base.fast_flags()
            .flag("--payment-timeout", "30s")
            .flag("--processing-delay", "2s"),
    )
    .await;
    app.stock("p", 10).await;
    let o = id(&app.place_ok("u1", "p", 1).await);
    let (s, first) = app.webhook(&o, "success").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["outcome"], "queued");
    assert_eq!(first["paymentStatus"], "success");
    let keys: std::collections::HashSet<_> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "orderId",
            "orderStatus",
            "paymentStatus",
            "refundStatus",
            "outcome"
        ]
        .into()
    );
    for status in ["success", "failed"] {
        let (s, again) = app.webhook(&o, status).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(again["outcome"], "duplicate", "{status}: {again}");
    }
    let (done, _) = app.wait_for(&o, 10, |o| o["orderStatus"] == 3).await;
    assert_eq!(done["refundStatus"], "none");
    assert_eq!(app.product("p").await, (9, 0));
}

async fn refunds_are_asked_once_and_complete(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "30s")).await;
    app.stock("p", 10).await;
    let unpaid = id(&app.place_ok("u1", "p", 1).await);
    let (s, b) = app
        .post_json(&format!("/refund/{unpaid}"), &serde_json::json!({}))
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "not_refundable");
    let (s, b) = app
        .post_json(
            "/refund/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            &serde_json::Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    let (s, b) = app
        .post_json("/refund/nope", &serde_json::Value::Null)
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");

    let o = id(&app.place_ok("u1", "p", 1).await);
    app.webhook(&o, "success").await;
    app.wait_for(&o, 10, |o| o["orderStatus"] == 3).await;
    let (s, b) = app
        .post_json(&format!("/refund/{o}"), &serde_json::Value::Null)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(
        b,
        serde_json::json!({ "orderId": o, "refundStatus": "initiated" })
    );
    let (s, b) = app
        .post_json(&format!("/refund/{o}"), &serde_json::Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (done, _) = app
        .wait_for(&o, 10, |o| o["refundStatus"] == "completed")
        .await;
    assert_eq!(
        done["orderStatus"], 3,
        "a refund does not change the status"
    );
    let (s, b) = app
        .post_json(&format!("/refund/{o}"), &serde_json::Value::Null)
        .await;
    assert_eq!(
        (s, &b["refundStatus"]),
        (StatusCode::OK, &"completed".into())
    );
    assert_eq!(
        app.product("p").await,
        (8, 1),
        "the unpaid order still holds its unit"
    );
}

/// Polls until the order is timed out; returns how long after its `expiresAt` (by the
/// wall clock, which is the server's clock too) that was observed.
async fn timed_out_after_deadline(app: &TestApp, id: &str, secs: u64) -> std::time::Duration {
    let expires = crate::helpers::millis(&app.order(id).await["expiresAt"]);
    app.wait_for(id, secs, |o| o["orderStatus"] == 4).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    std::time::Duration::from_millis((now - expires).max(0) as u64)
}

#[tokio::test]
async fn stock_comes_back_within_a_second_of_the_deadline_without_waiting_for_a_sweep_tick() {
    // The cron sweeper only ticks once a year here: the deadline timer does the work.
    let app = TestApp::spawn_with(
        Options::default()
            .flag("--payment-timeout", "1s")
            .flag("--sweep-schedule", "0 0 0 1 1 *"),
    )
    .await;
    app.stock("p", 5).await;
    for _ in 0..3 {
        let o = id(&app.place_ok("u1", "p", 2).await);
        let late = timed_out_after_deadline(&app, &o, 5).await;
        assert!(
            late < std::time::Duration::from_millis(1000),
            "stock back {late:?} after the deadline"
        );
        assert_eq!(app.product("p").await, (5, 0));
    }
}

#[tokio::test]
async fn on_aws_the_deadline_timer_times_orders_out_too() {
    let app = TestApp::spawn_with(
        Options::default()
            .aws()
            .flag("--payment-timeout", "1s")
            .flag("--sweep-schedule", "0 0 0 1 1 *"),
    )
    .await;
    app.stock("p", 5).await;
    let o = id(&app.place_ok("u1", "p", 2).await);
    let late = timed_out_after_deadline(&app, &o, 10).await;
    assert!(late < std::time::Duration::from_secs(3), "{late:?}");
    assert_eq!(app.product("p").await, (5, 0));
}
