//! A flash sale: many concurrent buyers, little stock, and never an oversell.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_buyers_for_fifty_units_get_exactly_fifty_orders() {
    let app = TestApp::spawn().await;
    app.stock("flash", 50).await;
    app.stock("other", 5).await;

    let mut buyers = tokio::task::JoinSet::new();
    for i in 0..300 {
        let req = app
            .client
            .post(app.url("/order"))
            .json(&json!({ "userId": format!("buyer-{i}"), "productId": "flash" }));
        buyers.spawn(async move { crate::helpers::read(req.send().await.unwrap()).await });
    }
    let mut by_status: HashMap<StatusCode, usize> = HashMap::new();
    for (s, b) in buyers.join_all().await {
        if s == StatusCode::CONFLICT {
            assert_eq!(b["error"]["code"], "out_of_stock", "{b}");
        }
        *by_status.entry(s).or_default() += 1;
    }
    assert_eq!(
        by_status.get(&StatusCode::CREATED),
        Some(&50),
        "{by_status:?}"
    );
    assert_eq!(
        by_status.get(&StatusCode::CONFLICT),
        Some(&250),
        "{by_status:?}"
    );
    assert_eq!(app.product("flash").await, (0, 50));
    assert_eq!(app.all_orders("").await.len(), 50);
    app.assert_invariants(&HashMap::from([
        ("flash".to_owned(), 50),
        ("other".to_owned(), 5),
    ]))
    .await;
}
