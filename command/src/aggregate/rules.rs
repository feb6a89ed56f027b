//! The decision rules: whether a command is allowed, and which event (if
//! any) it becomes, given the customer's state.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use uuid::Uuid;

use events::customer::{
    ActivityLogged, CustomerArchived, CustomerAssigned, CustomerForgotten, CustomerRegistered,
    CustomerStageMoved, CustomerTagged, CustomerUntagged, PurchaseRecorded,
};
use events::personal::Personal;
use events::values::{Money, OccurredAt, ShortText, Stage, Tag};
use events::CustomerEvent;
use events::Role;

use super::commands::{Action, Actor, CustomerCommand};
use super::error::{invalid, CustomerError};
use super::state::{Customer, CustomerState};

/// At most this many tags per customer.
pub const MAX_TAGS: usize = 20;
/// Facts may be dated at most this far ahead (clock skew of phones).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

impl Customer {
    pub(super) fn decide(
        &self,
        command: CustomerCommand,
    ) -> Result<Option<CustomerEvent>, CustomerError> {
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
        let registered_at = not_in_future(registration.occurred_at, now)?;
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
                registered_at,
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

/// When a fact happened: the stated instant (never before
/// [`OccurredAt::EARLIEST`], by its type) or now, and not in the future.
fn not_in_future(
    occurred_at: Option<OccurredAt>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, CustomerError> {
    let occurred_at = occurred_at.map_or(now, OccurredAt::instant);
    if occurred_at > now + MAX_FUTURE_SKEW {
        return Err(invalid(
            "occurred_at",
            "must not be more than 5 minutes in the future",
        ));
    }
    Ok(occurred_at)
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl CustomerState {
    /// A stage move happens no earlier than the customer entered its
    /// current stage (or was registered): stays never run backwards.
    fn stage_move_at(
        &self,
        occurred_at: Option<OccurredAt>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, CustomerError> {
        let at = not_in_future(occurred_at, now)?;
        if at < self.stage_since {
            let since = if self.stage_since == self.registered_at {
                "the customer was registered".to_owned()
            } else {
                format!("the customer entered {}", self.stage)
            };
            return Err(invalid(
                "occurred_at",
                format!(
                    "must not be before {}, when {since}: stage moves are dated in order",
                    rfc3339(self.stage_since)
                ),
            ));
        }
        Ok(at)
    }

    /// An activity or purchase happens no earlier than the registration, in
    /// any order among the others (history is often entered late).
    fn fact_at(
        &self,
        occurred_at: Option<OccurredAt>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, CustomerError> {
        let at = not_in_future(occurred_at, now)?;
        if at < self.registered_at {
            return Err(invalid(
                "occurred_at",
                format!(
                    "must not be before {}, when the customer was registered",
                    rfc3339(self.registered_at)
                ),
            ));
        }
        Ok(at)
    }

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
                occurred_at,
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
                self.stage_move_at(occurred_at, now)?;
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
                occurred_at: self.fact_at(occurred_at, now)?,
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
                    occurred_at: self.fact_at(occurred_at, now)?,
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
