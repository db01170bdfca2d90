//! What a function reads from its environment at cold start, once: its secrets (a plain
//! variable, or the name of a Parameter Store `SecureString` that holds it) and the URLs of
//! its queues (given, or looked up by name).
//!
//! On AWS the template passes parameter names, never secret values, so a secret appears
//! neither in the stack's parameters nor in the function's configuration; locally (and in
//! tests) the plain variable still works. Either way the value goes through the same checks
//! (set but empty is a configuration error: the function refuses to start).

use std::fmt;

use aws_sdk_ssm::error::DisplayErrorContext;
use orderflow_aws::{AwsNames, SqsQueue};

/// Where a secret comes from.
#[derive(PartialEq, Eq)]
pub enum SecretSource {
    /// Neither variable is set.
    Unset,
    /// The plain variable's value (checked by whoever uses it: empty is refused there).
    Value(String),
    /// The name of a Parameter Store parameter holding it.
    Parameter(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => f.write_str("Unset"),
            // Never print a secret, even in a test failure.
            Self::Value(_) => f.write_str("Value([redacted])"),
            Self::Parameter(name) => f.debug_tuple("Parameter").field(name).finish(),
        }
    }
}

/// The variable that names the parameter holding the secret `var`: `<var>_PARAMETER`.
pub fn parameter_var(var: &str) -> String {
    format!("{var}_PARAMETER")
}

/// Where the secret `var` comes from, `lookup` being the environment.
///
/// # Errors
/// When both `var` and `<var>_PARAMETER` are set (which one wins would be a guess), or when
/// `<var>_PARAMETER` is set but empty.
pub fn secret_source(
    var: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SecretSource, String> {
    let param_var = parameter_var(var);
    match (lookup(var), lookup(&param_var)) {
        (Some(_), Some(_)) => Err(format!(
            "both {var} and {param_var} are set: set one of them (on AWS, the parameter)"
        )),
        (Some(value), None) => Ok(SecretSource::Value(value)),
        (None, Some(name)) if name.trim().is_empty() => Err(format!(
            "{param_var} is set but empty: name a SecureString parameter, or unset it"
        )),
        (None, Some(name)) => Ok(SecretSource::Parameter(name.trim().to_owned())),
        (None, None) => Ok(SecretSource::Unset),
    }
}

/// The value of a Parameter Store parameter, decrypted (a `SecureString` is encrypted
/// with a KMS key; `GetParameter` without decryption would answer the ciphertext).
///
/// # Errors
/// When the parameter does not exist, the function may not read it (or decrypt it), or SSM
/// does not answer.
pub async fn fetch_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, String> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| format!("parameter {name}: {}", DisplayErrorContext(e)))?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| format!("parameter {name}: no value"))
}

/// The secret `var`: the plain variable's value, or the value of the parameter that
/// `<var>_PARAMETER` names (fetched once, here), or `None` when neither is set.
///
/// # Errors
/// As [`secret_source`] and [`fetch_parameter`], and when the parameter's value is blank
/// (the contract's "set but empty").
pub async fn secret(
    ssm: &aws_sdk_ssm::Client,
    var: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    match secret_source(var, lookup)? {
        SecretSource::Unset => Ok(None),
        SecretSource::Value(value) => Ok(Some(value)),
        SecretSource::Parameter(name) => {
            let value = fetch_parameter(ssm, &name).await?;
            if value.trim().is_empty() {
                return Err(format!(
                    "{} names {name}, whose value is empty: put a long random value there",
                    parameter_var(var)
                ));
            }
            Ok(Some(value))
        }
    }
}

/// [`secret`] from the process's environment.
///
/// # Errors
/// As [`secret`].
pub async fn secret_from_env(
    ssm: &aws_sdk_ssm::Client,
    var: &str,
) -> Result<Option<String>, String> {
    secret(ssm, var, |k| std::env::var(k).ok()).await
}

/// The URLs of the four work queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub orders: String,
    pub refunds: String,
    pub payments: String,
    pub notify: String,
}

impl QueueUrls {
    /// The work queues' URLs from the orders queue's. An SQS queue URL ends with the
    /// queue's name (`https://sqs.<region>.amazonaws.com/<account>/<name>`), and the other
    /// queues are named `<name>-refunds`, `<name>-payments` and `<name>-notify`
    /// ([`AwsNames`]), so their URLs are the orders queue's with the same suffixes: no
    /// `GetQueueUrl` at cold start, and no permission for it. (Standard queues only: a
    /// FIFO queue's name ends in `.fifo`, which a suffix would break; orderflow uses none.)
    ///
    /// # Errors
    /// When `orders` does not end with a queue name.
    pub fn derived_from(orders: &str) -> Result<Self, String> {
        queue_name(orders)?;
        Ok(Self {
            orders: orders.to_owned(),
            refunds: format!("{orders}-refunds"),
            payments: format!("{orders}-payments"),
            notify: format!("{orders}-notify"),
        })
    }

    /// Each queue looked up by its name (`GetQueueUrl`), as `orderflow aws init` made them.
    ///
    /// # Errors
    /// When a queue does not exist or SQS does not answer.
    pub async fn looked_up(sqs: &aws_sdk_sqs::Client, names: &AwsNames) -> Result<Self, String> {
        let url = |name: String| async move {
            SqsQueue::by_name(sqs.clone(), &name)
                .await
                .map(|q| q.url().to_owned())
                .map_err(|e| e.to_string())
        };
        Ok(Self {
            orders: url(names.queue.clone()).await?,
            refunds: url(names.refunds_queue()).await?,
            payments: url(names.payments_queue()).await?,
            notify: url(names.notify_queue()).await?,
        })
    }
}

/// The queue name a URL ends with: its last path segment.
///
/// # Errors
/// When the URL has no path, ends with `/`, or carries a query.
pub fn queue_name(url: &str) -> Result<&str, String> {
    let invalid = || {
        format!(
            "{url} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"
        )
    };
    let (_, path) = url.split_once("://").ok_or_else(invalid)?;
    let (_, name) = path.rsplit_once('/').ok_or_else(invalid)?;
    if name.is_empty() || name.contains(['?', '#']) {
        return Err(invalid());
    }
    Ok(name)
}

/// The queues' URLs and the names the consumer routes records by: from
/// `ORDERFLOW_QUEUE_URL` when set (the template passes it; the orders queue's name in
/// `names` is then the URL's), else looked up from `ORDERFLOW_QUEUE_NAME` (`names.queue`).
///
/// # Errors
/// When the URL is not a queue URL, names another queue than `ORDERFLOW_QUEUE_NAME`, or a
/// queue cannot be looked up.
pub async fn queues(
    sqs: &aws_sdk_sqs::Client,
    mut names: AwsNames,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(AwsNames, QueueUrls), String> {
    let Some(url) = lookup("ORDERFLOW_QUEUE_URL").filter(|u| !u.trim().is_empty()) else {
        let urls = QueueUrls::looked_up(sqs, &names).await?;
        return Ok((names, urls));
    };
    let urls = QueueUrls::derived_from(url.trim())?;
    let name = queue_name(&urls.orders)?.to_owned();
    if let Some(given) = lookup("ORDERFLOW_QUEUE_NAME").filter(|n| *n != name) {
        return Err(format!(
            "ORDERFLOW_QUEUE_URL names the queue {name} but ORDERFLOW_QUEUE_NAME says {given}: set one of them"
        ));
    }
    names.queue = name;
    Ok((names, urls))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    const VAR: &str = "ORDERFLOW_WEBHOOK_SECRET";

    #[test]
    fn a_secret_comes_from_its_variable_or_its_parameter_never_both() {
        assert_eq!(secret_source(VAR, env(&[])), Ok(SecretSource::Unset));
        assert_eq!(
            secret_source(VAR, env(&[(VAR, "plain-secret-value")])),
            Ok(SecretSource::Value("plain-secret-value".into()))
        );
        assert_eq!(
            secret_source(
                VAR,
                env(&[("ORDERFLOW_WEBHOOK_SECRET_PARAMETER", "/shop/webhook")])
            ),
            Ok(SecretSource::Parameter("/shop/webhook".into()))
        );
        let both = secret_source(
            VAR,
            env(&[
                (VAR, "plain-secret-value"),
                ("ORDERFLOW_WEBHOOK_SECRET_PARAMETER", "/shop/webhook"),
            ]),
        )
        .unwrap_err();
        assert!(
            both.contains("both") && both.contains("_PARAMETER"),
            "{both}"
        );
        // Another secret's parameter is not this one's.
        assert_eq!(
            secret_source(
                VAR,
                env(&[("ORDERFLOW_ADMIN_TOKEN_PARAMETER", "/shop/admin")])
            ),
            Ok(SecretSource::Unset)
        );
    }

    #[test]
    fn an_empty_plain_secret_is_passed_on_to_be_refused_where_it_is_used() {
        // The same path as before parameters: `Secret::from_config` (or the notify
        // secret's check) refuses it, with the variable's name.
        assert_eq!(
            secret_source(VAR, env(&[(VAR, "")])),
            Ok(SecretSource::Value(String::new()))
        );
    }

    #[test]
    fn a_parameter_variable_set_but_empty_is_an_error() {
        for blank in ["", "  "] {
            let e = secret_source(VAR, env(&[("ORDERFLOW_WEBHOOK_SECRET_PARAMETER", blank)]))
                .unwrap_err();
            assert!(e.contains("set but empty"), "{e}");
        }
    }

    #[test]
    fn a_secret_value_does_not_print() {
        let s = format!("{:?}", SecretSource::Value("s3cr3t-s3cr3t".into()));
        assert!(!s.contains("s3cr3t"), "{s}");
    }

    #[tokio::test]
    async fn resolving_a_plain_or_absent_secret_asks_nothing_of_ssm() {
        // A client for an address nothing listens on: a call would fail.
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let ssm = aws_sdk_ssm::Client::from_conf(config);
        assert_eq!(
            secret(&ssm, VAR, env(&[(VAR, "plain-secret-value")])).await,
            Ok(Some("plain-secret-value".into()))
        );
        assert_eq!(secret(&ssm, VAR, env(&[])).await, Ok(None));
        assert!(
            secret(
                &ssm,
                VAR,
                env(&[(VAR, "x"), ("ORDERFLOW_WEBHOOK_SECRET_PARAMETER", "/p")])
            )
            .await
            .is_err()
        );
    }

    #[test]
    fn the_other_queues_urls_are_the_orders_queues_with_a_suffix() {
        let urls =
            QueueUrls::derived_from("https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders")
                .unwrap();
        assert_eq!(
            urls,
            QueueUrls {
                orders: "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders".into(),
                refunds: "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders-refunds"
                    .into(),
                payments: "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders-payments"
                    .into(),
                notify: "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders-notify"
                    .into(),
            }
        );
        // Each derived URL ends with the name AwsNames gives that queue.
        let names = AwsNames::prefixed("shop-");
        assert_eq!(
            queue_name(&urls.refunds),
            Ok(names.refunds_queue().as_str())
        );
        assert_eq!(
            queue_name(&urls.payments),
            Ok(names.payments_queue().as_str())
        );
        assert_eq!(queue_name(&urls.notify), Ok(names.notify_queue().as_str()));
    }

    #[test]
    fn a_url_without_a_queue_name_is_refused() {
        for url in [
            "shop-orders",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/",
            "https://sqs.eu-west-1.amazonaws.com",
            "https://sqs.eu-west-1.amazonaws.com/1/q?x=1",
        ] {
            assert!(QueueUrls::derived_from(url).is_err(), "{url}");
        }
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/t1-orders"),
            Ok("t1-orders")
        );
    }

    #[tokio::test]
    async fn a_given_url_names_the_queue_the_consumer_routes_by() {
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders";
        let (names, urls) = queues(
            &sqs,
            AwsNames::prefixed("orderflow-"),
            env(&[("ORDERFLOW_QUEUE_URL", url)]),
        )
        .await
        .unwrap();
        assert_eq!(names.queue, "shop-orders");
        assert_eq!(names.refunds_queue(), "shop-orders-refunds");
        assert_eq!(urls.orders, url);
        // The same name beside it is fine; another is a misconfiguration.
        assert!(
            queues(
                &sqs,
                AwsNames::prefixed("orderflow-"),
                env(&[
                    ("ORDERFLOW_QUEUE_URL", url),
                    ("ORDERFLOW_QUEUE_NAME", "shop-orders")
                ]),
            )
            .await
            .is_ok()
        );
        let e = queues(
            &sqs,
            AwsNames::prefixed("orderflow-"),
            env(&[
                ("ORDERFLOW_QUEUE_URL", url),
                ("ORDERFLOW_QUEUE_NAME", "other"),
            ]),
        )
        .await
        .unwrap_err();
        assert!(e.contains("other"), "{e}");
    }
}
