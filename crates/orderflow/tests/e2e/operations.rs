//! What operators read: `/metrics` and `/openapi.json`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_the_group_commits() {
    let app = TestApp::spawn().await;
    app.stock("p", 1).await;
    app.place_ok("u1", "p", 1).await;
    app.place("u1", "p", 1).await; // out of stock
    app.get("/order/1b4e28ba-2fa1-11d2-883f-0016d3cca427").await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    let text = r.text().await.unwrap();
    for line in [
        r#"orderflow_http_requests_total{method="POST",route="/order",status="201"} 1"#,
        r#"orderflow_http_requests_total{method="POST",route="/order",status="409"} 1"#,
        r#"orderflow_http_requests_total{method="GET",route="/order/{orderId}",status="404"} 1"#,
        r#"orderflow_http_requests_total{method="PUT",route="/inventory/{productId}",status="200"} 1"#,
        "# TYPE orderflow_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    let commits: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("orderflow_store_commits_total "))
        .unwrap_or_else(|| panic!("no commit counter in:\n{text}"))
        .parse()
        .unwrap();
    assert!(commits >= 3, "{commits}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/order", "post"),
        ("/order/{orderId}", "get"),
        ("/order/{orderId}/status", "get"),
        ("/orders", "get"),
        ("/webhook/payment", "post"),
        ("/refund/{orderId}", "post"),
        ("/simulate/payment/{orderId}", "post"),
        ("/inventory/{productId}", "put"),
        ("/inventory/{productId}", "get"),
        ("/inventory", "get"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let order = &doc["components"]["schemas"]["OrderDto"]["properties"];
    for field in [
        "orderId",
        "orderStatus",
        "paymentStatus",
        "refundStatus",
        "expiresAt",
    ] {
        assert!(order.get(field).is_some(), "OrderDto.{field}: {order}");
    }
    assert_eq!(
        doc["paths"]["/order"]["post"]["responses"]["409"]["content"]["application/json"]["schema"]
            ["$ref"],
        Value::from("#/components/schemas/ErrorBody")
    );
}
