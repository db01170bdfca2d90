//! Test support (feature `testing`): the DynamoDB/SQS emulator the test command starts, and
//! fresh tables and queues on it for each test.

use crate::AwsNames;
use crate::setup::{QueueSpec, init};

/// The SDK configuration of the emulator. Panics (fails the test) when `AWS_ENDPOINT_URL`
/// is not set: the AWS tests never skip, and never reach a real account by accident.
pub async fn config() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run these through scripts/test, which starts the emulator"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The emulator's DynamoDB and SQS clients.
pub async fn clients() -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let config = config().await;
    (
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    )
}

/// A name prefix no other test uses: `tag`, then ten random hex digits and `-`.
pub fn prefix(tag: &str) -> String {
    format!("{tag}{}-", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Every table and queue of a backend, made by `aws init` under a fresh prefix.
pub async fn fresh(
    tag: &str,
    spec: QueueSpec,
) -> (AwsNames, aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let (dynamo, sqs) = clients().await;
    let names = AwsNames::prefixed(&prefix(tag));
    init(&dynamo, &sqs, &names, spec).await.expect("aws init");
    (names, dynamo, sqs)
}

/// The retry policy of stores on the emulator: DynamoDB's pauses, a longer budget. The
/// emulator answers one request at a time, tens of times slower than DynamoDB, so a burst
/// of 100 placements on one item takes seconds to get through there, not milliseconds.
pub fn retry_policy() -> crate::RetryPolicy {
    crate::RetryPolicy {
        budget: std::time::Duration::from_secs(30),
        ..crate::RetryPolicy::default()
    }
}
