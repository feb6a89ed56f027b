//! Sending a batch: every event is handed to the producer in log order, and
//! [`InFlight`] then waits for the broker's confirmations, reporting the
//! first failure together with what was confirmed before it.

use std::time::Duration;

use futures_util::future::join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

use store::source::Checkpoint;

use crate::error::{is_message_error, RelayError};
use crate::outbox::Outgoing;
use crate::producer::Relay;

impl Relay {
    /// Produces `batch` and waits until the broker has confirmed every event.
    pub async fn deliver(&self, batch: &[Outgoing]) -> Result<(), RelayError> {
        self.send(batch).await?.confirmed().await.map(|_| ())
    }

    /// Hands `batch` to the producer, in order; the broker confirms later.
    pub(crate) async fn send(&self, batch: &[Outgoing]) -> Result<InFlight, RelayError> {
        let mut pending = Vec::with_capacity(batch.len());
        for event in batch {
            let payload =
                serde_json::to_vec(&event.envelope).map_err(|error| RelayError::Encode {
                    position: event.checkpoint.position,
                    reason: error.to_string(),
                })?;
            let mut record = FutureRecord::to(&self.config.topic)
                .key(&event.key)
                .payload(&payload);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        self.published
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        pending.push((event.checkpoint, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue drains as the broker confirms.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((error, _)) => {
                        // What was handed over before it may still be confirmed.
                        let confirmed = match InFlight(pending).confirmed().await {
                            Ok(confirmed) => confirmed,
                            Err(earlier) => return Err(earlier),
                        };
                        return Err(RelayError::Delivery {
                            failed: event.checkpoint,
                            confirmed,
                            poison: is_message_error(&error),
                            reason: error.to_string(),
                        });
                    }
                }
            }
        }
        Ok(InFlight(pending))
    }
}

/// Events handed to the producer, with their checkpoints, awaiting the broker.
pub(crate) struct InFlight(Vec<(Checkpoint, rdkafka::producer::DeliveryFuture)>);

impl InFlight {
    /// Waits for every confirmation; the first failure (in log order) fails
    /// the batch. Returns the last event confirmed and how many were.
    pub(crate) async fn confirmed(self) -> Result<Option<(Checkpoint, usize)>, RelayError> {
        let (checkpoints, deliveries): (Vec<Checkpoint>, Vec<_>) = self.0.into_iter().unzip();
        let mut confirmed = None;
        for (index, (checkpoint, outcome)) in checkpoints
            .into_iter()
            .zip(join_all(deliveries).await)
            .enumerate()
        {
            let (reason, poison) = match outcome {
                Ok(Ok(_)) => {
                    confirmed = Some((checkpoint, index + 1));
                    continue;
                }
                Ok(Err((error, _))) => (error.to_string(), is_message_error(&error)),
                Err(_) => ("the producer was dropped".to_owned(), false),
            };
            return Err(RelayError::Delivery {
                failed: checkpoint,
                confirmed,
                reason,
                poison,
            });
        }
        Ok(confirmed)
    }
}
