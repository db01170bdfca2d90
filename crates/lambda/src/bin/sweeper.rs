//! The sweeper, on an EventBridge schedule.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use orderflow_lambda::sweep_stop_at;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_lambda::init_logging();
    let f = std::sync::Arc::new(
        orderflow_lambda::service_from_env(orderflow_lambda::Function::Sweeper).await?,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent<Value>>| {
        let f = f.clone();
        async move {
            let stop_at = Some(sweep_stop_at(&event.context));
            orderflow_lambda::handle_schedule(&f.service, f.notify.as_deref(), stop_at).await
        }
    }))
    .await
}
