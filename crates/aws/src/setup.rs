//! `orderflow aws init`: create the tables (with their indexes and TTL) and the queues
//! (with their dead-letter queues) if they do not exist. Safe to run again.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::AwsNames;
use crate::dynamo::{AWAITING_MESSAGE, UNPAID_BY_EXPIRY};
use crate::listing::{BY_STATUS, BY_USER, RECENT};
use crate::outbox::NOTIFY_PENDING;

/// Receives before a message goes to its dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// How the queues are made.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    /// Must exceed the time a consumer may hold a message (SQS's advice for Lambda: six
    /// times the function's timeout).
    pub visibility_timeout: Duration,
    pub max_receives: u32,
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(180),
            max_receives: MAX_RECEIVES,
        }
    }
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn attr(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .expect("name and type are set")
}

fn gsi(name: &str, pk: &str, sk: &str) -> GlobalSecondaryIndex {
    gsi_projecting(name, pk, sk, ProjectionType::All)
}

/// An index of keys only: updates of an item's other attributes cost it nothing.
fn gsi_keys_only(name: &str, pk: &str, sk: &str) -> GlobalSecondaryIndex {
    gsi_projecting(name, pk, sk, ProjectionType::KeysOnly)
}

fn gsi_projecting(
    name: &str,
    pk: &str,
    sk: &str,
    projection: ProjectionType,
) -> GlobalSecondaryIndex {
    gsi_with(
        name,
        pk,
        sk,
        Projection::builder().projection_type(projection).build(),
    )
}

/// An index of keys and these attributes: only changes of those cost it a write.
fn gsi_including(name: &str, pk: &str, sk: &str, attributes: &[&str]) -> GlobalSecondaryIndex {
    let projection = attributes
        .iter()
        .fold(
            Projection::builder().projection_type(ProjectionType::Include),
            |p, a| p.non_key_attributes(*a),
        )
        .build();
    gsi_with(name, pk, sk, projection)
}

fn gsi_with(name: &str, pk: &str, sk: &str, projection: Projection) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(sk, KeyType::Range))
        .projection(projection)
        .build()
        .expect("name, keys and projection are set")
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    req: aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
    name: &str,
) -> Result<(), String> {
    match req.billing_mode(BillingMode::PayPerRequest).send().await {
        Ok(_) => {}
        Err(e) => match e.into_service_error() {
            CreateTableError::ResourceInUseException(_) => {}
            other => {
                return Err(format!(
                    "creating table {name}: {}",
                    DisplayErrorContext(other)
                ));
            }
        },
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| format!("waiting for table {name}: {}", DisplayErrorContext(e)))?;
    Ok(())
}

/// Add [`NOTIFY_PENDING`] to an orders table made before it existed, and wait until it
/// is active (DynamoDB fills it from the table first).
async fn add_index(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    wanted: GlobalSecondaryIndex,
    attributes: [(&str, ScalarAttributeType); 2],
) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let index = wanted.index_name().to_owned();
    let index = index.as_str();
    let describe = || async {
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("describing table {table}: {}", DisplayErrorContext(e)))
            .map(|out| {
                out.table
                    .and_then(|t| t.global_secondary_indexes)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|i| i.index_name() == Some(index))
                    .map(|i| i.index_status().map(|s| s.as_str().to_owned()))
            })
    };
    if describe().await?.is_none() {
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index)
            .set_key_schema(Some(wanted.key_schema().to_vec()))
            .set_projection(wanted.projection().cloned())
            .build()
            .map_err(|e| e.to_string())?;
        let [(a, at), (b, bt)] = attributes;
        client
            .update_table()
            .table_name(table)
            .attribute_definitions(attr(a, at))
            .attribute_definitions(attr(b, bt))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "adding index {index} to {table}: {}",
                    DisplayErrorContext(e)
                )
            })?;
        tracing::info!(table, index, "index added");
    }
    for _ in 0..600 {
        match describe().await? {
            Some(Some(status)) if status != "ACTIVE" => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return Ok(()),
        }
    }
    Err(format!(
        "index {index} of {table} is not active after 10 minutes"
    ))
}

/// Create every table and queue of `names` that is missing.
///
/// # Errors
/// What AWS (or the emulator) answered, when it was not "already exists".
pub async fn init(
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    names: &AwsNames,
    queues: QueueSpec,
) -> Result<(), String> {
    use ScalarAttributeType::{N, S};
    let orders = dynamo
        .create_table()
        .table_name(&names.orders_table)
        .key_schema(key("orderId", KeyType::Hash))
        .attribute_definitions(attr("orderId", S))
        .attribute_definitions(attr("userId", S))
        .attribute_definitions(attr("statusShard", S))
        .attribute_definitions(attr("listShard", S))
        .attribute_definitions(attr("sortKey", S))
        .attribute_definitions(attr("unpaidShard", S))
        .attribute_definitions(attr("expiresAt", N))
        .attribute_definitions(attr("waitShard", S))
        .attribute_definitions(attr("resendAt", N))
        .attribute_definitions(attr("notifyShard", S))
        .attribute_definitions(attr("notifyDue", N))
        // Listings (see `crate::listing`): no constant or low-cardinality partition key,
        // and no attribute that every transition changes, but the customer's statuses.
        .global_secondary_indexes(gsi_including(
            BY_USER,
            "userId",
            "sortKey",
            &["orderStatus"],
        ))
        .global_secondary_indexes(gsi_keys_only(BY_STATUS, "statusShard", "sortKey"))
        .global_secondary_indexes(gsi_keys_only(RECENT, "listShard", "sortKey"))
        .global_secondary_indexes(gsi(UNPAID_BY_EXPIRY, "unpaidShard", "expiresAt"))
        .global_secondary_indexes(gsi(AWAITING_MESSAGE, "waitShard", "resendAt"))
        .global_secondary_indexes(gsi_keys_only(NOTIFY_PENDING, "notifyShard", "notifyDue"));
    create_table(dynamo, orders, &names.orders_table).await?;
    // A table made by an older version lacks the newer indexes: add them, one at a time
    // (DynamoDB creates one index per table update). Such a table also keeps its old
    // `paidWaiting` index, which nothing reads any more: orders paid before the upgrade
    // join the new index at their next change (see the README on upgrading).
    use ScalarAttributeType as T;
    let notify = gsi_keys_only(NOTIFY_PENDING, "notifyShard", "notifyDue");
    add_index(
        dynamo,
        &names.orders_table,
        notify,
        [("notifyShard", T::S), ("notifyDue", T::N)],
    )
    .await?;
    let awaiting = gsi(AWAITING_MESSAGE, "waitShard", "resendAt");
    add_index(
        dynamo,
        &names.orders_table,
        awaiting,
        [("waitShard", T::S), ("resendAt", T::N)],
    )
    .await?;
    let inventory = dynamo
        .create_table()
        .table_name(&names.inventory_table)
        .key_schema(key("productId", KeyType::Hash))
        .attribute_definitions(attr("productId", S));
    create_table(dynamo, inventory, &names.inventory_table).await?;
    let idempotency = dynamo
        .create_table()
        .table_name(&names.idempotency_table)
        .key_schema(key("key", KeyType::Hash))
        .attribute_definitions(attr("key", S));
    create_table(dynamo, idempotency, &names.idempotency_table).await?;
    let ttl = dynamo
        .update_time_to_live()
        .table_name(&names.idempotency_table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("name and flag are set"),
        )
        .send()
        .await;
    if let Err(e) = ttl {
        // Enabling it twice is refused ("already enabled"): that is the state we want.
        let text = DisplayErrorContext(&e).to_string();
        if !text.contains("already enabled") {
            return Err(format!("enabling TTL: {text}"));
        }
    }

    backfill_listing_keys(dynamo, names).await?;

    for queue in [
        names.queue.clone(),
        names.refunds_queue(),
        names.payments_queue(),
        names.notify_queue(),
    ] {
        create_queue(sqs, &queue, queues).await?;
    }
    Ok(())
}

/// Give orders stored before the sharded listing indexes their keys there (`listShard`,
/// `statusShard`), so that they are listed again; each on condition that its status is
/// still the one read (an order that changed meanwhile got them from its transition).
/// One scan of the orders, once: later runs find nothing to do.
async fn backfill_listing_keys(
    dynamo: &aws_sdk_dynamodb::Client,
    names: &AwsNames,
) -> Result<(), String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use orderflow_core::domain::{OrderId, OrderStatus};
    let mut start = None;
    let mut done = 0u64;
    loop {
        let page = dynamo
            .scan()
            .table_name(&names.orders_table)
            .filter_expression("attribute_exists(sortKey) AND attribute_not_exists(listShard)")
            .projection_expression("orderId, orderStatus")
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("reading orders to backfill: {}", DisplayErrorContext(e)))?;
        for item in page.items.unwrap_or_default() {
            let id = item.get("orderId").and_then(|v| v.as_s().ok());
            let status = item.get("orderStatus").and_then(|v| v.as_n().ok());
            let (Some(id), Some(code)) = (id, status) else {
                continue;
            };
            let (Ok(order), Some(status)) = (
                OrderId::parse(id),
                code.parse().ok().and_then(OrderStatus::from_code),
            ) else {
                continue;
            };
            let update = dynamo
                .update_item()
                .table_name(&names.orders_table)
                .key("orderId", AttributeValue::S(id.clone()))
                .update_expression("SET listShard = :l, statusShard = :s")
                .condition_expression("orderStatus = :st AND attribute_not_exists(listShard)")
                .expression_attribute_values(
                    ":l",
                    AttributeValue::S(crate::listing::list_shard(order)),
                )
                .expression_attribute_values(
                    ":s",
                    AttributeValue::S(crate::listing::status_shard(order, status)),
                )
                .expression_attribute_values(":st", AttributeValue::N(code.clone()))
                .send()
                .await;
            match update {
                Ok(_) => done += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => {
                    return Err(format!(
                        "backfilling order {id}: {}",
                        DisplayErrorContext(e)
                    ));
                }
            }
        }
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    if done > 0 {
        tracing::info!(
            orders = done,
            "listing keys given to orders stored before them"
        );
    }
    Ok(())
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    spec: QueueSpec,
) -> Result<(), String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what} {name}: {e}");
    let dlq = AwsNames::dead_letters(name);
    let dlq_url = sqs
        .create_queue()
        .queue_name(&dlq)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| {
            err(
                "creating the dead-letter queue of",
                &aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?
        .queue_url
        .unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| {
            err(
                "reading the dead-letter queue of",
                &aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("no ARN for {dlq}"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": spec.max_receives.to_string(),
    })
    .to_string();
    let attributes = HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout.as_secs().to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive),
    ]);
    let made = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    if let Err(e) = made {
        // It exists with other settings: bring them to these.
        let url = sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|_| err("creating", &aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .unwrap_or_default();
        sqs.set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| err("updating", &aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}
