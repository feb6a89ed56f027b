//! The Customer aggregate's state: what the rules need to know of a
//! customer, folded from its stream (`apply`), and the cqrs-es `Aggregate`
//! that hands each command to the rules.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use events::values::{Money, OrderRef, Stage, Tag, UserId};
use events::CustomerEvent;

use super::commands::{Action, CustomerCommand};
use super::error::CustomerError;

/// The state the rules need; rebuilt from the stream on every command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub(super) version: u64,
    pub(super) state: Option<CustomerState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct CustomerState {
    pub(super) tenant_id: Uuid,
    pub(super) owner_id: UserId,
    pub(super) stage: Stage,
    pub(super) deal_value: Money,
    pub(super) tags: BTreeSet<Tag>,
    /// order_ref → sequence of its PurchaseRecorded, for idempotent purchases.
    pub(super) order_refs: BTreeMap<OrderRef, u64>,
    pub(super) archived: bool,
    pub(super) forgotten: bool,
    /// When the customer was registered (its first fact).
    pub(super) registered_at: DateTime<Utc>,
    /// When the customer entered its current stage: the latest of the
    /// registration and the stage moves whose instant the fold was given.
    pub(super) stage_since: DateTime<Utc>,
}

/// See [`Customer::standing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing<'a> {
    pub tenant_id: Uuid,
    pub owner_id: &'a UserId,
    pub takes_facts: bool,
}

impl Customer {
    /// Number of events applied: the stream's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owner, once registered.
    pub fn owner_id(&self) -> Option<&UserId> {
        self.state.as_ref().map(|state| &state.owner_id)
    }

    /// What another aggregate's rules may know of the customer (a
    /// follow-up's): its tenant, its owner, and whether it still takes new
    /// facts (not archived, not forgotten).
    pub fn standing(&self) -> Option<Standing<'_>> {
        self.state.as_ref().map(|state| Standing {
            tenant_id: state.tenant_id,
            owner_id: &state.owner_id,
            takes_facts: !state.archived && !state.forgotten,
        })
    }

    /// The sequence of the event a no-op command stands for: the original
    /// purchase for a repeated `order_ref`, otherwise the current version.
    pub fn sequence_answering(&self, action: &Action) -> u64 {
        match (action, &self.state) {
            (
                Action::RecordPurchase {
                    order_ref: Some(order_ref),
                    ..
                },
                Some(state),
            ) => state
                .order_refs
                .get(order_ref)
                .copied()
                .unwrap_or(self.version),
            _ => self.version,
        }
    }
}

impl Aggregate for Customer {
    const TYPE: &'static str = "Customer";
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type Error = CustomerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    /// Folds an event without knowing when it happened: a stage move then
    /// leaves the stage's start as it was (see [`Customer::apply_at`]).
    fn apply(&mut self, event: Self::Event) {
        self.apply_at(event, None);
    }
}

impl Customer {
    /// Folds an event that happened at `occurred_at` (the event's
    /// `occurred_at`, from its metadata). Stage moves carry no instant in
    /// their payload, so the ordering rule of stage moves needs it from
    /// here; the service folds every stream this way.
    pub fn apply_at(&mut self, event: CustomerEvent, occurred_at: Option<DateTime<Utc>>) {
        self.version += 1;
        let sequence = self.version;
        if let CustomerEvent::CustomerRegistered(registered) = event {
            self.state = Some(CustomerState {
                tenant_id: registered.tenant_id,
                owner_id: registered.owner_id,
                stage: registered.stage,
                deal_value: registered.deal_value,
                tags: registered.tags.into_iter().collect(),
                order_refs: BTreeMap::new(),
                archived: false,
                forgotten: false,
                registered_at: registered.registered_at,
                stage_since: registered.registered_at,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            // Only a corrupted stream starts without CustomerRegistered; the
            // hash chain and the contiguity trigger make that impossible.
            return;
        };
        match event {
            CustomerEvent::CustomerRegistered(_) => {}
            CustomerEvent::CustomerProfileUpdated(update) => {
                if let Some(deal_value) = update.deal_value {
                    state.deal_value = deal_value;
                }
            }
            CustomerEvent::CustomerAssigned(assigned) => state.owner_id = assigned.owner_id,
            CustomerEvent::CustomerStageMoved(moved) => {
                state.stage = moved.to;
                state.deal_value = moved.deal_value;
                if let Some(occurred_at) = occurred_at {
                    state.stage_since = state.stage_since.max(occurred_at);
                }
            }
            CustomerEvent::ActivityLogged(_) => {}
            CustomerEvent::PurchaseRecorded(purchase) => {
                if let Some(order_ref) = purchase.order_ref {
                    state.order_refs.insert(order_ref, sequence);
                }
            }
            CustomerEvent::CustomerTagged(tagged) => {
                state.tags.insert(tagged.tag);
            }
            CustomerEvent::CustomerUntagged(untagged) => {
                state.tags.remove(&untagged.tag);
            }
            CustomerEvent::CustomerArchived(_) => state.archived = true,
            CustomerEvent::CustomerForgotten(_) => state.forgotten = true,
        }
    }

    /// Decides `command` and applies the event it yields, if any: one command
    /// as the service handles it, without an event store. For building
    /// histories in memory (`crm seed`) under the service's own rules.
    pub fn decide_and_apply(
        &mut self,
        command: CustomerCommand,
    ) -> Result<Option<CustomerEvent>, CustomerError> {
        let occurred_at = command.action.occurred_at(command.now);
        let event = self.decide(command)?;
        if let Some(event) = &event {
            self.apply_at(event.clone(), Some(occurred_at));
        }
        Ok(event)
    }
}
