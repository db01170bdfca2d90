//! `GET /events` (live changes) against the real binary: a client sees a lifecycle live and
//! in order, resumes after a disconnect and after a restart with exactly the changes it
//! missed, filters, keep-alives, the admin token, and streams ending at shutdown.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, TestApp, assert_error, read};

/// One SSE message, or a comment line.
#[derive(Debug)]
enum Sse {
    Message {
        id: String,
        event: String,
        data: Value,
    },
    Comment(String),
}

/// A minimal SSE client over a streaming response.
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> Self {
        let mut req = app.client.get(app.url(path));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next message or comment, or `None` if nothing came within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        return Some(Sse::Comment(c.trim().to_owned()));
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => id = value.to_owned(),
                        "event" => event = value.to_owned(),
                        "data" => data.push_str(value),
                        _ => {}
                    }
                }
                return Some(Sse::Message {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) => return None,
            }
        }
    }

    /// The next `n` messages (comments skipped) as `(id, type, orderId, orderStatus)`.
    async fn take(&mut self, n: usize) -> Vec<(u64, String, String, i64)> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next(Duration::from_secs(15)).await {
                Some(Sse::Message { id, event, data }) => {
                    assert_eq!(event, "order");
                    out.push((
                        id.parse().expect("ids are positions"),
                        data["type"].as_str().unwrap().to_owned(),
                        data["order"]["orderId"].as_str().unwrap().to_owned(),
                        data["order"]["orderStatus"].as_i64().unwrap(),
                    ));
                }
                Some(Sse::Comment(_)) => {}
                None => panic!("only {} of {n} messages came: {out:?}", out.len()),
            }
        }
        out
    }

    /// Nothing but comments for `wait`.
    async fn assert_quiet(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.next(deadline - Instant::now()).await {
                Some(Sse::Message { id, data, .. }) => panic!("unexpected message {id}: {data}"),
                Some(Sse::Comment(_)) => {}
                None => return,
            }
        }
    }
}

fn types(msgs: &[(u64, String, String, i64)]) -> Vec<&str> {
    msgs.iter().map(|m| m.1.as_str()).collect()
}

async fn pay_and_complete(app: &TestApp, id: &str) {
    let (s, b) = app.webhook(id, "success").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.wait_for(id, 15, |o| o["orderStatus"] == 3).await;
}

#[tokio::test]
async fn a_client_sees_a_lifecycle_live_and_resumes_without_gaps_or_repeats_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        Options::default()
            .fast_flags()
            .flag("--payment-timeout", "30s")
    };
    let mut app = TestApp::spawn_in(dir.path(), opts()).await;
    app.stock("p", 10).await;
    let mut live = Stream::open(&app, "/events", None).await;
    let a = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    pay_and_complete(&app, &a).await;
    let seen = live.take(4).await;
    assert_eq!(types(&seen), ["placed", "paid", "processing", "completed"]);
    assert!(seen.iter().all(|m| m.2 == a));
    assert_eq!(
        seen.iter().map(|m| m.3).collect::<Vec<_>>(),
        [1, 1, 2, 3],
        "each message carries the order as it was right after the change"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "ids rise: {seen:?}"
    );
    let last = seen.last().unwrap().0;
    drop(live);

    // Missed while disconnected: resume with Last-Event-ID.
    let b = app.place_ok("u2", "p", 2).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    pay_and_complete(&app, &b).await;
    let mut resumed = Stream::open(&app, "/events", Some(&last.to_string())).await;
    let missed = resumed.take(4).await;
    assert_eq!(
        types(&missed),
        ["placed", "paid", "processing", "completed"]
    );
    assert!(missed.iter().all(|m| m.2 == b), "{missed:?}");
    resumed.assert_quiet(Duration::from_millis(500)).await;
    let last = missed.last().unwrap().0;
    drop(resumed);

    // Across a restart: positions are durable.
    assert!(app.terminate().success());
    let app = TestApp::spawn_in(dir.path(), opts()).await;
    let c = app.place_ok("u3", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b2) = app.webhook(&c, "failed").await;
    assert_eq!(s, StatusCode::OK, "{b2}");
    let mut after = Stream::open(&app, &format!("/events?after={last}"), None).await;
    let missed = after.take(2).await;
    assert_eq!(types(&missed), ["placed", "payment_failed"]);
    assert!(missed.iter().all(|m| m.2 == c));
    assert!(missed[0].0 > last);
    after.assert_quiet(Duration::from_millis(500)).await;
    // The header wins over the query.
    let mut both = Stream::open(&app, "/events?after=0", Some(&missed[0].0.to_string())).await;
    assert_eq!(types(&both.take(1).await), ["payment_failed"]);
}

#[tokio::test]
async fn a_new_client_starts_from_the_present_and_filters_narrow_the_stream() {
    let app = TestApp::spawn_with(Options::default().no_scheduled_sweeps()).await;
    app.stock("p", 10).await;
    let old = app.place_ok("u1", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut all = Stream::open(&app, "/events", None).await;
    let mut by_order = Stream::open(&app, &format!("/events?orderId={old}"), None).await;
    let mut by_user = Stream::open(&app, "/events?userId=u2", None).await;
    let new = app.place_ok("u2", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.webhook(&old, "failed").await;
    let got = all.take(2).await;
    assert_eq!(
        got.iter()
            .map(|m| (m.1.as_str(), m.2.as_str()))
            .collect::<Vec<_>>(),
        [("placed", new.as_str()), ("payment_failed", old.as_str())],
        "nothing from before the connection"
    );
    let got = by_order.take(1).await;
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str()),
        ("payment_failed", old.as_str())
    );
    let got = by_user.take(1).await;
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str()),
        ("placed", new.as_str())
    );
    by_order.assert_quiet(Duration::from_millis(300)).await;
    by_user.assert_quiet(Duration::from_millis(300)).await;

    for bad in [
        "/events?after=abc",
        "/events?orderId=nope",
        "/events?after=-1",
    ] {
        let (s, b) = app.get(bad).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = TestApp::spawn().await;
    let mut s = Stream::open(&app, "/events", None).await;
    match s.next(Duration::from_secs(17)).await {
        Some(Sse::Comment(c)) => assert_eq!(c, "keep-alive"),
        other => panic!("no keep-alive within 17 s: {other:?}"),
    }
}

#[tokio::test]
async fn with_an_admin_token_the_stream_needs_it() {
    let token = "admin-0123456789abcdef";
    let app = TestApp::spawn_with(Options::default().flag("--admin-token", token)).await;
    let (s, b) = app.get("/events").await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = app
        .client
        .get(app.url("/events"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn open_streams_end_at_shutdown_without_waiting_for_the_deadline() {
    let mut app = TestApp::spawn().await;
    let streams = [
        Stream::open(&app, "/events", None).await,
        Stream::open(&app, "/events?userId=x", None).await,
    ];
    let started = Instant::now();
    assert!(app.terminate().success());
    let took = started.elapsed();
    // The default shutdown timeout is 30 s; streams must not hold the server until then.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    drop(streams);
}

#[tokio::test]
async fn the_aws_backend_says_it_cannot_stream() {
    let app = TestApp::spawn_with(Options::default().aws()).await;
    let (s, b) = read(app.client.get(app.url("/events")).send().await.unwrap()).await;
    assert_error(s, &b, StatusCode::NOT_IMPLEMENTED, "not_supported");
    // Its history is there all the same.
    app.stock("p", 1).await;
    let id = app.place_ok("u", "p", 1).await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = app.get(&format!("/order/{id}/events")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["events"][0]["type"], "placed");
}
