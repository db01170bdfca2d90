//! The SQS-triggered consumer: paid orders, refunds, simulated payments and notifications.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_lambda::init_logging();
    // Built once per container, reused by every invocation.
    let f = std::sync::Arc::new(
        orderflow_lambda::service_from_env(orderflow_lambda::Function::Consumer).await?,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let f = f.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(
                orderflow_lambda::handle_sqs(
                    &f.service,
                    &f.names,
                    f.notify.as_deref(),
                    event.payload,
                )
                .await,
            )
        }
    }))
    .await
}
