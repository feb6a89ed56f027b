//! The bodies of the command requests and their parsing into domain values:
//! every field error is collected, so a 422 names them all.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use events::customer::CustomerProfileUpdated;
use events::personal::Personal;
use events::values::{
    ActivityType, CustomerName, Email, InvalidValue, OccurredAt, OrderRef, Phone, Probability,
    Stage, Tag, TextField, UserId,
};
use web::ApiError;

use super::fields::{amount, Fields};
use crate::aggregate::{Action, Registration};

/// A decimal amount in yuan, as a string (`"1234.50"`) or a JSON number.
type AmountInput = Value;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCustomerRequest {
    /// 1–100 characters.
    name: String,
    /// Mainland mobile (11 digits, leading 1) or E.164.
    phone: Option<String>,
    email: Option<String>,
    company: Option<String>,
    industry: Option<String>,
    position: Option<String>,
    source: Option<String>,
    /// Defaults to the caller; a rep may only name themself.
    owner_id: Option<String>,
    /// At most 20, each 1–32 characters.
    tags: Option<Vec<String>>,
    /// Expected deal value in yuan, ≥ 0.
    #[schema(value_type = Option<String>, example = "50000.00")]
    deal_value: Option<AmountInput>,
    /// When the customer relationship began, for customers entered after
    /// the fact (RFC 3339); defaults to now. Not before 2000-01-01, at most
    /// 5 minutes ahead.
    #[schema(format = DateTime, example = "2025-03-18T10:30:00+08:00")]
    occurred_at: Option<String>,
}

impl RegisterCustomerRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let name = f.check("name", CustomerName::parse(&self.name));
        let phone = f.optional("phone", self.phone.as_deref(), Phone::parse);
        let email = f.optional("email", self.email.as_deref(), Email::parse);
        let company = f.text(TextField::COMPANY, self.company.as_deref());
        let industry = f.text(TextField::INDUSTRY, self.industry.as_deref());
        let position = f.text(TextField::POSITION, self.position.as_deref());
        let source = f.text(TextField::SOURCE, self.source.as_deref());
        let owner_id = f.optional("owner_id", self.owner_id.as_deref(), UserId::parse);
        let tags: Vec<Tag> = self
            .tags
            .iter()
            .flatten()
            .filter_map(|tag| f.check("tags", Tag::parse(tag)))
            .collect();
        let deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        let occurred_at = f.optional(
            "occurred_at",
            self.occurred_at.as_deref(),
            OccurredAt::parse,
        );
        f.finish(|| {
            Some(Action::Register(Registration {
                name: name?,
                phone,
                email,
                company,
                industry,
                position,
                source,
                owner_id,
                tags,
                deal_value,
                occurred_at,
            }))
        })
    }
}

/// Absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    name: Option<String>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    company: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    industry: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    position: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    source: Option<Option<String>>,
    #[schema(value_type = Option<String>, example = "80000")]
    deal_value: Option<AmountInput>,
}

impl UpdateProfileRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let mut update = CustomerProfileUpdated {
            name: f
                .optional("name", self.name.as_deref(), CustomerName::parse)
                .map(Personal::Clear),
            ..Default::default()
        };
        // Some(None) clears; Some(Some(raw)) sets; None leaves the field alone.
        fn clearable<T>(
            f: &mut Fields,
            field: &'static str,
            raw: &Option<Option<String>>,
            parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
        ) -> Option<Option<T>> {
            match raw {
                None => None,
                Some(None) => Some(None),
                Some(Some(raw)) => f.check(field, parse(raw)).map(Some),
            }
        }
        update.phone = personal(clearable(&mut f, "phone", &self.phone, Phone::parse));
        update.email = personal(clearable(&mut f, "email", &self.email, Email::parse));
        update.company = clearable(&mut f, "company", &self.company, |raw| {
            TextField::COMPANY.parse(raw)
        });
        update.industry = clearable(&mut f, "industry", &self.industry, |raw| {
            TextField::INDUSTRY.parse(raw)
        });
        update.position = clearable(&mut f, "position", &self.position, |raw| {
            TextField::POSITION.parse(raw)
        });
        update.source = clearable(&mut f, "source", &self.source, |raw| {
            TextField::SOURCE.parse(raw)
        });
        update.deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        f.finish(|| Some(Action::UpdateProfile(update)))
    }
}

/// A clearable personal field, marked clear for the service to seal.
fn personal<T>(value: Option<Option<T>>) -> Option<Option<Personal<T>>> {
    value.map(|inner| inner.map(Personal::Clear))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    owner_id: String,
}

impl AssignRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let owner_id =
            UserId::parse(&self.owner_id).map_err(|e| ApiError::field("owner_id", e.0))?;
        Ok(Action::Assign { owner_id })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveStageRequest {
    /// One of lead, qualified, proposal, negotiation, closed_won, closed_lost.
    #[schema(example = "proposal")]
    stage: String,
    #[schema(value_type = Option<String>)]
    deal_value: Option<AmountInput>,
    /// In [0, 1]; defaults to the stage's probability.
    #[schema(value_type = Option<f64>)]
    probability: Option<serde_json::Number>,
    /// Required when reopening a closed deal; at most 500 characters, line
    /// breaks and tabs allowed.
    reason: Option<String>,
    /// When the deal moved (RFC 3339); defaults to now. Not before the
    /// customer entered its current stage (stage moves are dated in order),
    /// not before 2000-01-01, at most 5 minutes ahead.
    #[schema(format = DateTime, example = "2025-04-02T15:00:00+08:00")]
    occurred_at: Option<String>,
}

impl MoveStageRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let stage = f.check("stage", Stage::from_str(self.stage.trim()));
        let deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        let probability = self
            .probability
            .as_ref()
            .and_then(|raw| f.check("probability", Probability::try_from(raw.clone())));
        let reason = f.text(TextField::REASON, self.reason.as_deref());
        let occurred_at = f.optional(
            "occurred_at",
            self.occurred_at.as_deref(),
            OccurredAt::parse,
        );
        f.finish(|| {
            Some(Action::MoveStage {
                stage: stage?,
                deal_value,
                probability,
                reason,
                occurred_at,
            })
        })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogActivityRequest {
    /// visit, call, email or meeting.
    #[serde(rename = "type")]
    #[schema(example = "call")]
    activity_type: String,
    /// One line, at most 200 characters.
    subject: Option<String>,
    /// At most 5000 characters; line breaks and tabs allowed.
    notes: Option<String>,
    /// RFC 3339; defaults to now. Not before the customer's registration
    /// (in any order among its other activities), not before 2000-01-01, at
    /// most 5 minutes ahead.
    #[schema(format = DateTime, example = "2025-04-10T14:00:00+08:00")]
    occurred_at: Option<String>,
    #[schema(value_type = Option<String>)]
    value: Option<AmountInput>,
}

impl LogActivityRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let activity_type = f.check("type", ActivityType::from_str(self.activity_type.trim()));
        let subject = f.text(TextField::SUBJECT, self.subject.as_deref());
        let notes = f.text(TextField::NOTES, self.notes.as_deref());
        let occurred_at = f.optional(
            "occurred_at",
            self.occurred_at.as_deref(),
            OccurredAt::parse,
        );
        let value = self
            .value
            .as_ref()
            .and_then(|raw| f.check("value", amount(raw, false)));
        f.finish(|| {
            Some(Action::LogActivity {
                activity_type: activity_type?,
                subject,
                notes,
                occurred_at,
                value,
            })
        })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPurchaseRequest {
    /// > 0 and ≤ 1,000,000,000,000 yuan.
    #[schema(value_type = String, example = "1999.00")]
    amount: AmountInput,
    category: String,
    /// RFC 3339; defaults to now. Not before the customer's registration
    /// (in any order among its other purchases), not before 2000-01-01, at
    /// most 5 minutes ahead.
    #[schema(format = DateTime, example = "2025-05-20T11:00:00+08:00")]
    occurred_at: Option<String>,
    /// A repeated order_ref on the same customer records nothing and answers like the first.
    order_ref: Option<String>,
}

impl RecordPurchaseRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let amount = f.check("amount", amount(&self.amount, true));
        let category = f.check("category", TextField::CATEGORY.parse(&self.category));
        let occurred_at = f.optional(
            "occurred_at",
            self.occurred_at.as_deref(),
            OccurredAt::parse,
        );
        let order_ref = f.optional("order_ref", self.order_ref.as_deref(), OrderRef::parse);
        f.finish(|| {
            Some(Action::RecordPurchase {
                amount: amount?,
                category: category?,
                occurred_at,
                order_ref,
            })
        })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    tag: String,
}

impl TagRequest {
    /// The tag named in a path, as the body it stands for.
    pub(super) fn named(tag: String) -> Self {
        Self { tag }
    }

    /// Tag the customer.
    pub(super) fn tag(&self) -> Result<Action, ApiError> {
        Tag::parse(&self.tag)
            .map(Action::Tag)
            .map_err(|e| ApiError::field("tag", e.0))
    }

    /// Remove the tag from the customer.
    pub(super) fn untag(&self) -> Result<Action, ApiError> {
        Tag::parse(&self.tag)
            .map(Action::Untag)
            .map_err(|e| ApiError::field("tag", e.0))
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// Why the personal data is erased (e.g. the customer's PIPL request);
    /// required; at most 500 characters, line breaks and tabs allowed.
    reason: Option<String>,
}

impl ForgetRequest {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let reason = self
            .reason
            .as_deref()
            .ok_or_else(|| ApiError::field("reason", "erasing personal data needs a reason"))?;
        TextField::REASON
            .parse(reason)
            .map(|reason| Action::Forget { reason })
            .map_err(|error| ApiError::field("reason", error.0))
    }
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArchiveParams {
    /// Why the customer is archived; at most 500 characters, line breaks and
    /// tabs allowed.
    reason: Option<String>,
}

impl ArchiveParams {
    pub(super) fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let reason = f.text(TextField::REASON, self.reason.as_deref());
        f.finish(|| Some(Action::Archive { reason }))
    }
}
