//! The Customer aggregate: the rules every command must satisfy before it
//! becomes an event.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use events::customer::{
    ActivityLogged, CustomerArchived, CustomerAssigned, CustomerForgotten, CustomerProfileUpdated,
    CustomerRegistered, CustomerStageMoved, CustomerTagged, CustomerUntagged, PurchaseRecorded,
};
use events::personal::Personal;
use events::values::{
    ActivityType, CustomerName, Email, Money, OrderRef, Phone, Probability, ShortText, Stage, Tag,
    UserId,
};
use events::CustomerEvent;
use events::Role;

/// At most this many tags per customer.
pub const MAX_TAGS: usize = 20;
/// Activities and purchases may be dated at most this far ahead (clock skew of phones).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// Who issues a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: Uuid,
    pub user_id: UserId,
    pub role: Role,
}

/// A command with the context every rule needs. `now` is passed in so the
/// aggregate never reads a clock.
#[derive(Debug, Clone)]
pub struct CustomerCommand {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u64>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Register(Registration),
    UpdateProfile(CustomerProfileUpdated),
    Assign {
        owner_id: UserId,
    },
    MoveStage {
        stage: Stage,
        deal_value: Option<Money>,
        probability: Option<Probability>,
        reason: Option<ShortText>,
    },
    LogActivity {
        activity_type: ActivityType,
        subject: Option<ShortText>,
        notes: Option<ShortText>,
        occurred_at: Option<DateTime<Utc>>,
        value: Option<Money>,
    },
    RecordPurchase {
        amount: Money,
        category: ShortText,
        occurred_at: Option<DateTime<Utc>>,
        order_ref: Option<OrderRef>,
    },
    Tag(Tag),
    Untag(Tag),
    Archive {
        reason: Option<ShortText>,
    },
    /// Erase the customer's personal data (admin only).
    Forget {
        reason: ShortText,
    },
}

impl Action {
    /// The command's name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Register(_) => "RegisterCustomer",
            Action::UpdateProfile(_) => "UpdateProfile",
            Action::Assign { .. } => "AssignCustomer",
            Action::MoveStage { .. } => "MoveStage",
            Action::LogActivity { .. } => "LogActivity",
            Action::RecordPurchase { .. } => "RecordPurchase",
            Action::Tag(_) => "TagCustomer",
            Action::Untag(_) => "UntagCustomer",
            Action::Archive { .. } => "ArchiveCustomer",
            Action::Forget { .. } => "ForgetCustomer",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub name: CustomerName,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub company: Option<ShortText>,
    pub industry: Option<ShortText>,
    pub position: Option<ShortText>,
    pub source: Option<ShortText>,
    pub owner_id: Option<UserId>,
    pub tags: Vec<Tag>,
    pub deal_value: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// Unknown, another tenant's, or (for a rep) another rep's customer.
    #[error("customer not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("customer is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    #[error("customer is archived")]
    Archived,
    #[error("the customer's personal data was erased")]
    Forgotten,
    #[error("customer already exists")]
    AlreadyRegistered,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Rule(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> CustomerError {
    CustomerError::Invalid {
        field,
        message: message.into(),
    }
}

/// The state the rules need; rebuilt from the stream on every command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    version: u64,
    state: Option<CustomerState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CustomerState {
    tenant_id: Uuid,
    owner_id: UserId,
    stage: Stage,
    deal_value: Money,
    tags: BTreeSet<Tag>,
    /// order_ref → sequence of its PurchaseRecorded, for idempotent purchases.
    order_refs: BTreeMap<OrderRef, u64>,
    archived: bool,
    forgotten: bool,
}

impl Customer {
    /// Number of events applied: the stream's version.
    pub fn version(&self) -> u64 {
        self.version
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

    fn decide(&self, command: CustomerCommand) -> Result<Option<CustomerEvent>, CustomerError> {
        let CustomerCommand {
            actor,
            now,
            expected_version,
            action,
        } = command;
        if actor.role == Role::Auditor {
            return Err(CustomerError::Forbidden(
                "role auditor is read-only".to_owned(),
            ));
        }
        // A customer the caller may not see must look absent, even to If-Match.
        let checkable = self.visible_to(&actor) || matches!(action, Action::Register(_));
        if let Some(expected) = expected_version.filter(|_| checkable) {
            if expected != self.version {
                return Err(CustomerError::VersionMismatch {
                    expected,
                    actual: self.version,
                });
            }
        }
        let Action::Register(registration) = action else {
            let state = self.state.as_ref().filter(|_| self.visible_to(&actor));
            let state = state.ok_or(CustomerError::NotFound)?;
            if let Action::Forget { reason } = action {
                return state.forget(&actor, reason);
            }
            if state.forgotten {
                return Err(CustomerError::Forgotten);
            }
            if state.archived {
                return Err(CustomerError::Archived);
            }
            return state.decide(&actor, now, action);
        };
        if self.state.is_some() {
            return Err(CustomerError::AlreadyRegistered);
        }
        let owner_id = match (actor.role, registration.owner_id) {
            (Role::Rep, Some(owner)) if owner != actor.user_id => {
                return Err(CustomerError::Forbidden(
                    "a rep registers customers as their own owner".to_owned(),
                ))
            }
            (_, Some(owner)) => owner,
            (_, None) => actor.user_id.clone(),
        };
        let tags = distinct(registration.tags);
        if tags.len() > MAX_TAGS {
            return Err(invalid(
                "tags",
                format!("at most {MAX_TAGS} tags per customer"),
            ));
        }
        Ok(Some(CustomerEvent::CustomerRegistered(
            CustomerRegistered {
                tenant_id: actor.tenant_id,
                name: Personal::Clear(registration.name),
                phone: registration.phone.map(Personal::Clear),
                email: registration.email.map(Personal::Clear),
                company: registration.company,
                industry: registration.industry,
                position: registration.position,
                source: registration.source,
                owner_id,
                tags,
                deal_value: registration.deal_value.unwrap_or(Money::ZERO),
                stage: Stage::Lead,
                probability: Stage::Lead.default_probability(),
                registered_at: now,
            },
        )))
    }

    fn visible_to(&self, actor: &Actor) -> bool {
        self.state.as_ref().is_some_and(|state| {
            state.tenant_id == actor.tenant_id
                && (actor.role.sees_whole_tenant() || state.owner_id == actor.user_id)
        })
    }
}

fn distinct(tags: Vec<Tag>) -> Vec<Tag> {
    let mut seen = BTreeSet::new();
    tags.into_iter()
        .filter(|tag| seen.insert(tag.clone()))
        .collect()
}

fn not_in_future(
    occurred_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, CustomerError> {
    let occurred_at = occurred_at.unwrap_or(now);
    if occurred_at > now + MAX_FUTURE_SKEW {
        return Err(invalid(
            "occurred_at",
            "must not be more than 5 minutes in the future",
        ));
    }
    Ok(occurred_at)
}

impl CustomerState {
    /// Erasure is allowed on archived customers too, and repeating it changes nothing.
    fn forget(
        &self,
        actor: &Actor,
        reason: ShortText,
    ) -> Result<Option<CustomerEvent>, CustomerError> {
        if actor.role != Role::Admin {
            return Err(CustomerError::Forbidden(
                "only an admin may erase a customer's personal data".to_owned(),
            ));
        }
        if self.forgotten {
            return Ok(None);
        }
        Ok(Some(CustomerEvent::CustomerForgotten(CustomerForgotten {
            reason,
        })))
    }

    fn decide(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        action: Action,
    ) -> Result<Option<CustomerEvent>, CustomerError> {
        let event = match action {
            Action::Register(_) => return Err(CustomerError::AlreadyRegistered),
            Action::Forget { reason } => return self.forget(actor, reason),
            Action::UpdateProfile(update) => {
                if update.is_empty() {
                    return Err(CustomerError::Rule(
                        "the update changes nothing: give at least one field".to_owned(),
                    ));
                }
                CustomerEvent::CustomerProfileUpdated(update)
            }
            Action::Assign { owner_id } => {
                if !matches!(actor.role, Role::Manager | Role::Admin) {
                    return Err(CustomerError::Forbidden(
                        "only a manager or admin may reassign customers".to_owned(),
                    ));
                }
                if owner_id == self.owner_id {
                    return Ok(None);
                }
                CustomerEvent::CustomerAssigned(CustomerAssigned {
                    owner_id,
                    previous_owner_id: self.owner_id.clone(),
                })
            }
            Action::MoveStage {
                stage,
                deal_value,
                probability,
                reason,
            } => {
                if stage == self.stage {
                    return Err(invalid("stage", format!("customer is already in {stage}")));
                }
                if self.stage.is_closed() {
                    if !matches!(stage, Stage::Lead | Stage::Qualified) {
                        return Err(invalid(
                            "stage",
                            format!(
                                "a {} deal can only be reopened to lead or qualified",
                                self.stage
                            ),
                        ));
                    }
                    if reason.is_none() {
                        return Err(invalid("reason", "reopening a closed deal needs a reason"));
                    }
                }
                CustomerEvent::CustomerStageMoved(CustomerStageMoved {
                    from: self.stage,
                    to: stage,
                    deal_value: deal_value.unwrap_or(self.deal_value),
                    probability: probability.unwrap_or_else(|| stage.default_probability()),
                    reason,
                })
            }
            Action::LogActivity {
                activity_type,
                subject,
                notes,
                occurred_at,
                value,
            } => CustomerEvent::ActivityLogged(ActivityLogged {
                activity_id: Uuid::now_v7(),
                activity_type,
                subject,
                notes: notes.map(Personal::Clear),
                occurred_at: not_in_future(occurred_at, now)?,
                value,
            }),
            Action::RecordPurchase {
                amount,
                category,
                occurred_at,
                order_ref,
            } => {
                if order_ref
                    .as_ref()
                    .is_some_and(|order_ref| self.order_refs.contains_key(order_ref))
                {
                    return Ok(None);
                }
                if amount.amount() <= rust_decimal::Decimal::ZERO {
                    return Err(invalid("amount", "amount must be greater than 0"));
                }
                CustomerEvent::PurchaseRecorded(PurchaseRecorded {
                    purchase_id: Uuid::now_v7(),
                    amount,
                    category,
                    occurred_at: not_in_future(occurred_at, now)?,
                    order_ref,
                })
            }
            Action::Tag(tag) => {
                if self.tags.contains(&tag) {
                    return Ok(None);
                }
                if self.tags.len() >= MAX_TAGS {
                    return Err(invalid(
                        "tag",
                        format!("at most {MAX_TAGS} tags per customer"),
                    ));
                }
                CustomerEvent::CustomerTagged(CustomerTagged { tag })
            }
            Action::Untag(tag) => {
                if !self.tags.contains(&tag) {
                    return Ok(None);
                }
                CustomerEvent::CustomerUntagged(CustomerUntagged { tag })
            }
            Action::Archive { reason } => {
                CustomerEvent::CustomerArchived(CustomerArchived { reason })
            }
        };
        Ok(Some(event))
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

    fn apply(&mut self, event: Self::Event) {
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
}

impl Customer {
    /// Decides `command` and applies the event it yields, if any: one command
    /// as the service handles it, without an event store. For building
    /// histories in memory (`crm seed`) under the service's own rules.
    pub fn decide_and_apply(
        &mut self,
        command: CustomerCommand,
    ) -> Result<Option<CustomerEvent>, CustomerError> {
        let event = self.decide(command)?;
        if let Some(event) = &event {
            self.apply(event.clone());
        }
        Ok(event)
    }
}
