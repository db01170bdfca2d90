//! The sweeper, on an EventBridge schedule.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_lambda::init_logging();
    let (service, _) = orderflow_lambda::service_from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent<Value>>| {
        let service = service.clone();
        async move { orderflow_lambda::handle_schedule(&service, event.payload).await }
    }))
    .await
}
