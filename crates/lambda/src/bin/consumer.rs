//! The SQS-triggered consumer: paid orders, refunds and simulated payments.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_lambda::init_logging();
    // Built once per container, reused by every invocation.
    let (service, names) = orderflow_lambda::service_from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (service, names) = (service.clone(), names.clone());
        async move {
            Ok::<_, lambda_runtime::Error>(
                orderflow_lambda::handle_sqs(&service, &names, event.payload).await,
            )
        }
    }))
    .await
}
