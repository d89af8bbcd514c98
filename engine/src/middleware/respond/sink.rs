use futures::future::BoxFuture;

use crate::error::Result;
use crate::kafka::Producer;
use crate::request::Answer;

/// Where [`Respond`](super::Respond) writes answers: the [`Producer`] in production, a fake in
/// tests.
pub trait ReplySink: Send + Sync + 'static {
    /// Writes `answer` to `partition` of `topic`, resolving once it is stored.
    fn reply<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<()>>;
}

impl ReplySink for Producer {
    fn reply<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.send_to_partition(
                topic,
                partition,
                &answer.request_id,
                answer.payload(),
                &answer.headers(),
            )
            .await
        })
    }
}
