//! Cold-start configuration against the emulator that `scripts/test` starts
//! (`AWS_ENDPOINT_URL`): secrets read from Parameter Store `SecureString`s, and the queue
//! URLs derived from the orders queue's. Without the emulator these tests fail; they never
//! skip.

use std::collections::HashMap;

use aws_sdk_ssm::types::ParameterType;
use orderflow_aws::AwsNames;
use orderflow_aws::setup::{QueueSpec, init};
use orderflow_lambda::config::{self, QueueUrls};

async fn sdk() -> aws_config::SdkConfig {
    orderflow_aws::emulator::config().await
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| vars.get(k).cloned()
}

/// A fresh parameter name, as the template wants them (a path).
fn fresh_name(what: &str) -> String {
    format!(
        "/t{}/{what}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

async fn put_secure(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .expect("put_parameter");
}

#[tokio::test]
async fn a_secret_named_by_its_parameter_is_read_decrypted() {
    let ssm = aws_sdk_ssm::Client::new(&sdk().await);
    let name = fresh_name("webhook-secret");
    put_secure(&ssm, &name, "whsec-0123456789abcdef").await;
    let got = config::secret(
        &ssm,
        "ORDERFLOW_WEBHOOK_SECRET",
        env(&[("ORDERFLOW_WEBHOOK_SECRET_PARAMETER", &name)]),
    )
    .await;
    assert_eq!(got, Ok(Some("whsec-0123456789abcdef".to_owned())));
}

#[tokio::test]
async fn a_missing_parameter_stops_the_start_and_is_named() {
    let ssm = aws_sdk_ssm::Client::new(&sdk().await);
    let name = fresh_name("nowhere");
    let e = config::secret(
        &ssm,
        "ORDERFLOW_ADMIN_TOKEN",
        env(&[("ORDERFLOW_ADMIN_TOKEN_PARAMETER", &name)]),
    )
    .await
    .unwrap_err();
    assert!(e.contains(&name), "{e}");
}

#[tokio::test]
async fn a_blank_parameter_is_set_but_empty() {
    // SSM refuses an empty value, but not a blank one.
    let ssm = aws_sdk_ssm::Client::new(&sdk().await);
    let name = fresh_name("blank");
    put_secure(&ssm, &name, "   ").await;
    let e = config::secret(
        &ssm,
        "ORDERFLOW_NOTIFY_SECRET",
        env(&[("ORDERFLOW_NOTIFY_SECRET_PARAMETER", &name)]),
    )
    .await
    .unwrap_err();
    assert!(e.contains("empty") && e.contains(&name), "{e}");
}

#[tokio::test]
async fn derived_queue_urls_are_the_urls_of_the_queues_init_made() {
    let sdk = sdk().await;
    let (dynamo, sqs) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let names = AwsNames::prefixed(&prefix);
    init(&dynamo, &sqs, &names, QueueSpec::default())
        .await
        .expect("aws init");
    let looked_up = QueueUrls::looked_up(&sqs, &names).await.unwrap();
    assert_eq!(
        QueueUrls::derived_from(&looked_up.orders).unwrap(),
        looked_up
    );
    // Given the URL alone, a function routes records by the same names.
    let (routed, urls) = config::queues(
        &sqs,
        AwsNames::prefixed("elsewhere-"),
        env(&[("ORDERFLOW_QUEUE_URL", &looked_up.orders)]),
    )
    .await
    .unwrap();
    assert_eq!(urls, looked_up);
    assert_eq!(routed.queue, names.queue);
    assert_eq!(routed.notify_queue(), names.notify_queue());
}
