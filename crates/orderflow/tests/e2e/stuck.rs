//! Nothing is stuck: an order whose consumer died holding it is found again by the sweeper
//! after its processing lease, on both backends, through the real binary.

use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, on_both_backends};

on_both_backends!(an_order_whose_consumer_was_killed_mid_processing_completes_after_a_restart);

/// On AWS the killed consumer's message stays invisible for the queue's visibility timeout
/// (three minutes): what completes the order within seconds is the sweeper re-sending it
/// once its lease (`--resend-after`) is over. On the embedded backend the restart itself
/// hands back the messages in flight.
async fn an_order_whose_consumer_was_killed_mid_processing_completes_after_a_restart(
    base: Options,
) {
    let dir = tempfile::tempdir().unwrap();
    let opts = base
        .fast_flags()
        .flag("--payment-timeout", "30s")
        .flag("--processing-delay", "3s")
        .flag("--resend-after", "1s");
    let mut app = TestApp::spawn_in(dir.path(), opts.clone()).await;
    app.stock("p", 10).await;
    let o = app.place_ok("u1", "p", 2).await;
    let id = o["orderId"].as_str().unwrap().to_owned();
    let (s, b) = app.webhook(&id, "success").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.wait_for(&id, 15, |o| o["orderStatus"] == 2).await;
    app.kill_9();

    // Within 20 s: well before a three-minute visibility timeout would bring it back.
    let app = TestApp::spawn_in(dir.path(), opts).await;
    let (done, _) = app.wait_for(&id, 20, |o| o["orderStatus"] == 3).await;
    assert_eq!(done["paymentStatus"], "success");
    assert_eq!(app.product("p").await, (8, 0), "its stock sold once");
}
