//! Relaying batch after batch: read, send, wait for the broker, checkpoint.
//! [`Relay::drain`] pipelines this (the next batch is read and sent while the
//! previous one is being confirmed); [`Relay::step`] does one batch.

use tokio::sync::watch;

use store::source::Checkpoint;

use crate::error::RelayError;
use crate::producer::Relay;
use crate::publish::InFlight;

impl Relay {
    /// Relays until a read finds nothing new; returns how many events. The
    /// next batch is read and handed to the producer while the broker is
    /// still confirming the previous one; checkpoints follow confirmations,
    /// in order.
    pub async fn drain(&self, stop: &watch::Receiver<bool>) -> Result<usize, RelayError> {
        let mut after = self.checkpoint().await?;
        let mut previous: Option<(Checkpoint, usize, InFlight)> = None;
        let mut total = 0;
        loop {
            let batch = if *stop.borrow() {
                Vec::new()
            } else {
                self.read(after).await?
            };
            let current = match batch.last() {
                Some(last) => {
                    after = last.checkpoint;
                    match self.send(&batch).await {
                        Ok(in_flight) => Some((last.checkpoint, batch.len(), in_flight)),
                        Err(error) => {
                            // The error may name events of this batch as
                            // confirmed: the previous batch's checkpoint
                            // must be committed before anything past it.
                            if let Some((last, count, in_flight)) = previous.take() {
                                in_flight.confirmed().await?;
                                self.commit(last, count).await?;
                            }
                            return Err(error);
                        }
                    }
                }
                None => None,
            };
            if let Some((last, count, in_flight)) = previous.take() {
                in_flight.confirmed().await?;
                self.commit(last, count).await?;
                total += count;
            }
            match current {
                Some(current) => previous = Some(current),
                None => return Ok(total),
            }
        }
    }

    /// Relays the next batch: read, deliver, checkpoint. Returns how many events.
    pub async fn step(&self) -> Result<usize, RelayError> {
        let batch = self.read(self.checkpoint().await?).await?;
        let Some(last) = batch.last() else {
            return Ok(0);
        };
        self.deliver(&batch).await?;
        self.commit(last.checkpoint, batch.len()).await?;
        Ok(batch.len())
    }
}
