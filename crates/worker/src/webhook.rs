//! The simulated payment gateway's side of the webhook: when a simulated payment's delay
//! is over, it is POSTed to `<public url>/webhook/payment`, signed when a secret is set,
//! exactly as a real gateway would call orderflow.

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::messages::SimulatedPayment;
use orderflow_core::ports::Clock;
use orderflow_core::signature;

pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secret: Option<Vec<u8>>,
    clock: Arc<dyn Clock>,
}

impl WebhookSender {
    /// `public_url` is where orderflow's API is reachable, without a trailing path.
    pub fn new(public_url: &str, secret: Option<Vec<u8>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds"),
            url: format!("{}/webhook/payment", public_url.trim_end_matches('/')),
            secret,
            clock,
        }
    }

    /// Send the webhook for one payments-queue message.
    ///
    /// # Errors
    /// When the webhook should be sent again: the server did not answer, or answered
    /// with a server error. A `4xx` is final (the order is gone, say) and logged.
    pub async fn deliver(&self, message: &str) -> Result<(), String> {
        let payment: SimulatedPayment =
            serde_json::from_str(message).map_err(|e| format!("not a simulated payment: {e}"))?;
        let body = serde_json::to_vec(&payment).expect("strings serialise");
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(secret) = &self.secret {
            req = req.header(
                "Payment-Signature",
                signature::sign(secret, self.clock.now(), &body),
            );
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook to {} failed: {e}", self.url))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(format!("webhook answered {status}"));
        }
        if !status.is_success() {
            tracing::warn!(order = %payment.order_id, %status, "webhook refused; not retried");
        } else {
            tracing::info!(order = %payment.order_id, outcome = %payment.payment_status, "simulated payment delivered");
        }
        Ok(())
    }
}
