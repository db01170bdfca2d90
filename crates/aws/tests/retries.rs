//! The store's retry policy against stubbed DynamoDB answers (`aws-smithy-mocks`): the
//! emulator never throttles nor reports a transaction conflict, so these cases run on
//! canned HTTP responses, as DynamoDB sends them, through the SDK's whole stack (its
//! deserialisers and its own retry layer). No emulator is needed.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use orderflow_aws::{AwsNames, DynamoStore, RetryPolicy};
use orderflow_core::domain::lifecycle::{self, PaymentDecision, PaymentOutcome, StockEffect};
use orderflow_core::domain::{LimitChange, Order, Product, ProductId, StockCount, Timestamp};
use orderflow_core::ports::{NewOrder, OrderStore, Outbox, Placed, StoreError};
use orderflow_core::testing::placed_cart;

/// A DynamoDB error answer: `status`, `__type` and, for a cancelled transaction, its
/// cancellation reasons.
fn error_body(kind: &str, reasons: &[&str]) -> String {
    let mut body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": "stubbed",
    });
    if !reasons.is_empty() {
        body["CancellationReasons"] = reasons
            .iter()
            .map(|c| serde_json::json!({ "Code": c }))
            .collect();
    }
    body.to_string()
}

fn cancelled(reasons: &[&str]) -> String {
    error_body("TransactionCanceledException", reasons)
}

/// A store on a client answered by `rules`; the SDK's retry layer as `aws_config` sets it
/// up (standard mode, 3 attempts), with short pauses so that its own retries are quick.
fn store(rules: &[&Rule], policy: RetryPolicy) -> DynamoStore {
    // Setting a product's stock first reads it (to know over how many shards it is
    // spread): here it does not exist yet. Reads are not what these tests are about.
    let absent = mock!(Client::get_item)
        .sequence()
        .output(|| aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build())
        .repeatedly()
        .build();
    let rules: Vec<&Rule> = rules.iter().copied().chain([&absent]).collect();
    let client: Client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &rules, |c| {
        c.retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
    });
    DynamoStore::new(client, AwsNames::prefixed("t-")).with_retry(policy)
}

/// Short pauses, a generous budget: a write that passes later gets there quickly.
fn quick() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        budget: Duration::from_secs(5),
    }
}

fn budget(ms: u64) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(20),
        budget: Duration::from_millis(ms),
    }
}

fn order() -> Order {
    placed_cart("u1", &[("p", 2)], Timestamp::from_millis(1_790_000_000_000))
}

/// A paid-in-time transition: one conditional UpdateItem of the order.
fn payment(o: &Order) -> lifecycle::Transition {
    match lifecycle::on_payment(
        o,
        PaymentOutcome::Success,
        None,
        o.created_at.plus(Duration::from_secs(1)),
    ) {
        PaymentDecision::Apply { transition, .. } => {
            assert_eq!(transition.stock, StockEffect::None);
            transition
        }
        other => panic!("{other:?}"),
    }
}

/// A time-out: a transaction of the order and its line's stock.
fn expiry(o: &Order) -> lifecycle::Transition {
    let t = lifecycle::on_expiry(o, o.expires_at.plus(Duration::from_secs(1))).unwrap();
    assert_eq!(t.stock, StockEffect::Release);
    t
}

fn product_attributes() -> std::collections::HashMap<String, AttributeValue> {
    [
        ("productId", AttributeValue::S("p".into())),
        ("stockCount", AttributeValue::N("10".into())),
        ("lockedCount", AttributeValue::N("0".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn put(store: &DynamoStore) -> Result<Product, StoreError> {
    store
        .put_product(
            &ProductId::parse("p").unwrap(),
            StockCount::new(10).unwrap(),
            LimitChange::Keep,
        )
        .await
}

#[tokio::test]
async fn a_write_in_a_transactions_way_passes_on_a_later_try() {
    let update = mock!(Client::update_item)
        .sequence()
        .http_status(400, Some(error_body("TransactionConflictException", &[])))
        .times(2)
        .output(|| UpdateItemOutput::builder().build())
        .build();
    let store = store(&[&update], quick());
    let o = order();
    store.apply(&payment(&o)).await.unwrap();
    assert_eq!(update.num_calls(), 3);
}

#[tokio::test]
async fn a_lost_condition_is_a_conflict_tried_once() {
    let update = mock!(Client::update_item)
        .sequence()
        .http_status(
            400,
            Some(error_body("ConditionalCheckFailedException", &[])),
        )
        .repeatedly()
        .build();
    let store = store(&[&update], RetryPolicy::default());
    let err = store.apply(&payment(&order())).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_write_throttled_until_the_budget_ends_is_overloaded_within_it() {
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
    ] {
        let update = mock!(Client::update_item)
            .sequence()
            .http_status(400, Some(error_body(code, &[])))
            .repeatedly()
            .build();
        let policy = budget(150);
        let store = store(&[&update], policy);
        let started = Instant::now();
        let err = put(&store).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, StoreError::Overloaded), "{code}: {err:?}");
        assert!(update.num_calls() > 2, "{code}: {}", update.num_calls());
        // Every pause ends within the budget; what is left is the last attempt's time.
        assert!(
            took < policy.budget + Duration::from_millis(500),
            "{code}: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_product_write_passes_after_throttling() {
    let update = mock!(Client::update_item)
        .sequence()
        .http_status(
            400,
            Some(error_body("ProvisionedThroughputExceededException", &[])),
        )
        .output(|| {
            UpdateItemOutput::builder()
                .set_attributes(Some(product_attributes()))
                .build()
        })
        .build();
    let store = store(&[&update], quick());
    let p = put(&store).await.unwrap();
    assert_eq!((p.stock_count, p.locked_count), (10, 0));
    assert_eq!(update.num_calls(), 2);
}

#[tokio::test]
async fn the_sdk_leaves_throttling_and_conflicts_of_writes_to_the_store() {
    // No budget: the store does not retry, so each call is one SDK attempt, not three.
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "TransactionConflictException",
    ] {
        let update = mock!(Client::update_item)
            .sequence()
            .http_status(400, Some(error_body(code, &[])))
            .repeatedly()
            .build();
        let store = store(&[&update], budget(0));
        let err = put(&store).await.unwrap_err();
        assert!(matches!(err, StoreError::Overloaded), "{code}: {err:?}");
        assert_eq!(update.num_calls(), 1, "{code}");
    }
}

#[tokio::test]
async fn a_service_error_is_retried_by_the_sdk_alone_then_unavailable() {
    let update = mock!(Client::update_item)
        .sequence()
        .http_status(500, Some(error_body("InternalServerError", &[])))
        .repeatedly()
        .build();
    let store = store(&[&update], quick());
    let err = put(&store).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // The SDK's three attempts, and no more from the store.
    assert_eq!(update.num_calls(), 3);
}

#[tokio::test]
async fn a_transaction_cancelled_by_contention_or_throttling_passes_on_a_later_try() {
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(&["TransactionConflict", "None"])))
        .http_status(400, Some(cancelled(&["None", "ThrottlingError"])))
        .http_status(
            400,
            Some(cancelled(&["ProvisionedThroughputExceeded", "None"])),
        )
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = store(&[&tx], quick());
    store.apply(&expiry(&order())).await.unwrap();
    assert_eq!(tx.num_calls(), 4);
}

#[tokio::test]
async fn a_cancellation_with_a_lost_condition_is_not_retried_as_contention() {
    // The order's condition was lost: the transition's `Conflict`, at once.
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(
            400,
            Some(cancelled(&[
                "ConditionalCheckFailed",
                "TransactionConflict",
            ])),
        )
        .repeatedly()
        .build();
    let store = store(&[&tx], RetryPolicy::default());
    let err = store.apply(&expiry(&order())).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(tx.num_calls(), 1);
}

#[tokio::test]
async fn a_transition_contended_until_the_budget_ends_is_overloaded() {
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(&["None", "TransactionConflict"])))
        .repeatedly()
        .build();
    let store = store(&[&tx], budget(100));
    let err = store.apply(&expiry(&order())).await.unwrap_err();
    assert!(matches!(err, StoreError::Overloaded), "{err:?}");
    assert!(tx.num_calls() > 2, "{}", tx.num_calls());
}

/// Reads for placing one line of "p": the product, and no allowance.
fn placing_reads() -> Rule {
    mock!(Client::get_item)
        .match_requests(|r| r.table_name() == Some("t-inventory"))
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(product_attributes()))
                .build()
        })
}

fn no_allowance() -> Rule {
    mock!(Client::get_item)
        .match_requests(|r| r.table_name() == Some("t-orders"))
        .then_output(|| GetItemOutput::builder().build())
}

fn new_order() -> NewOrder {
    NewOrder {
        order: order(),
        idempotency: None,
    }
}

#[tokio::test]
async fn placing_passes_after_conflicts_and_throttling() {
    let (product, allowance) = (placing_reads(), no_allowance());
    // Items: the order, then the line's stock.
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(&["None", "TransactionConflict"])))
        .http_status(400, Some(error_body("ThrottlingException", &[])))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = store(&[&product, &allowance, &tx], quick());
    let placed = store.place_order(new_order()).await.unwrap();
    assert!(matches!(placed, Placed::Created(_)), "{placed:?}");
    assert_eq!(tx.num_calls(), 3);
}

#[tokio::test]
async fn placing_throttled_until_the_budget_ends_is_overloaded() {
    let (product, allowance) = (placing_reads(), no_allowance());
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(
            400,
            Some(cancelled(&["None", "ProvisionedThroughputExceeded"])),
        )
        .repeatedly()
        .build();
    let policy = budget(150);
    let store = store(&[&product, &allowance, &tx], policy);
    let started = Instant::now();
    let err = store.place_order(new_order()).await.unwrap_err();
    assert!(matches!(err, StoreError::Overloaded), "{err:?}");
    assert!(tx.num_calls() > 2, "{}", tx.num_calls());
    assert!(started.elapsed() < policy.budget + Duration::from_millis(500));
}

#[tokio::test]
async fn placing_is_not_retried_after_a_validation_failure() {
    let (product, allowance) = (placing_reads(), no_allowance());
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(&["None", "ValidationError"])))
        .repeatedly()
        .build();
    let store = store(&[&product, &allowance, &tx], RetryPolicy::default());
    let err = store.place_order(new_order()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(tx.num_calls(), 1);
}

#[tokio::test]
async fn an_outbox_write_passes_after_a_conflict_and_a_lost_condition_is_no_error() {
    let o = order();
    let update = mock!(Client::update_item)
        .sequence()
        .http_status(400, Some(error_body("TransactionConflictException", &[])))
        .output(|| UpdateItemOutput::builder().build())
        .http_status(
            400,
            Some(error_body("ConditionalCheckFailedException", &[])),
        )
        .build();
    let store = store(&[&update], quick());
    let now = o.created_at;
    assert!(store.unpark(o.id, 1, now).await.unwrap());
    assert_eq!(update.num_calls(), 2);
    // Not parked (any more): nothing written, not retried.
    assert!(!store.unpark(o.id, 1, now).await.unwrap());
    assert_eq!(update.num_calls(), 3);
}
