//! SIGTERM on the AWS backend, then a restart as a user would try it: the messages being
//! processed are finished, and none of the queue's messages is left hidden for the
//! visibility timeout (3 minutes) by the stopped process, so orders paid right after the
//! restart complete within seconds.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Options, TestApp};

fn id(o: &serde_json::Value) -> String {
    o["orderId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_sigterm_finishes_what_is_in_hand_and_a_restart_completes_new_payments_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // One set of tables and queues for both runs, as a user restarting the server has.
    let opts = Options::default()
        .aws()
        .flag("--processing-delay", "2s")
        .no_scheduled_sweeps();
    let mut app = TestApp::spawn_in(dir.path(), opts.clone()).await;
    app.stock("p", 100).await;
    let in_hand: Vec<String> = {
        let mut ids = Vec::new();
        for u in 0..2 {
            ids.push(id(&app.place_ok(&format!("in-hand-{u}"), "p", 1).await));
        }
        ids
    };
    let later: Vec<String> = {
        let mut ids = Vec::new();
        for u in 0..5 {
            ids.push(id(&app.place_ok(&format!("later-{u}"), "p", 1).await));
        }
        ids
    };
    for o in &in_hand {
        let (s, b) = app.webhook(o, "success").await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // Both are being processed (2 s of work each) when SIGTERM comes.
    for o in &in_hand {
        app.wait_for(o, 10, |o| o["orderStatus"] == 2).await;
    }
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
    drop(app);

    let app = TestApp::spawn_in(dir.path(), opts).await;
    for o in &in_hand {
        assert_eq!(
            app.order(o).await["orderStatus"],
            3,
            "the message in hand was finished before the exit"
        );
    }
    // Paid in a burst right after the restart: each completes in about the processing
    // delay, not after a visibility timeout.
    let started = Instant::now();
    let mut payments = tokio::task::JoinSet::new();
    for o in later.clone() {
        let client = app.client.clone();
        let url = app.url("/webhook/payment");
        payments.spawn(async move {
            let body = serde_json::json!({ "orderId": o, "paymentStatus": "success" });
            let r = client.post(&url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{o}");
        });
    }
    payments.join_all().await;
    for o in &later {
        app.wait_for(o, 15, |o| o["orderStatus"] == 3).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
