//! The whole [`Profile`] at an instant, put together from a summary of the
//! facts: the RFM scores and lifecycle, plus the predicted value, the churn
//! risk, the preferences and the recommended actions.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use events::values::ActivityType;

use super::facts::{Facts, Summary};
use super::lifecycle::{lifecycle, Lifecycle};
use super::scoring::{days_between, rfm, Rfm};
use super::thresholds::{
    CHURN_CONTACT_DAYS, CHURN_PURCHASE_DAYS, CHURN_SILENT_DAYS, DAYS_PER_MONTH,
};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub as_of: DateTime<Utc>,
    pub rfm: Rfm,
    pub lifecycle: Lifecycle,
    /// Expected purchases over the next 12 months, in yuan.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub predicted_value: Decimal,
    pub churn_risk: f64,
    pub preferences: Vec<String>,
    pub recommended_actions: Vec<String>,
    pub last_contact_at: DateTime<Utc>,
    pub purchase_count: usize,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub total_amount: Decimal,
}

/// Computes the profile from the facts known at `as_of` (later facts are ignored).
pub fn profile(facts: &Facts, as_of: DateTime<Utc>) -> Profile {
    profile_of(&facts.summary_at(as_of), as_of)
}

/// Computes the profile at `as_of` from a summary of the facts known then.
pub fn profile_of(summary: &Summary, as_of: DateTime<Utc>) -> Profile {
    let purchase_count = summary.purchase_count;
    let total_amount = summary.total_amount;
    let last_purchase_at = summary.last_purchase_at;
    let last_contact_at = summary.last_contact_at;
    let contact_days = days_between(last_contact_at, as_of);
    let scores = rfm(purchase_count, total_amount, last_purchase_at, as_of);
    let lifecycle = lifecycle(purchase_count, scores, contact_days);

    let predicted_value = match summary.first_purchase_at {
        Some(first) if purchase_count > 0 => {
            let count = Decimal::from(purchase_count);
            let average = total_amount / count;
            let months =
                (days_between(first, as_of) / Decimal::from(DAYS_PER_MONTH)).max(Decimal::ONE);
            (average * count / months * Decimal::from(12)).round_dp(2)
        }
        _ => Decimal::ZERO,
    };

    let purchase_stale = last_purchase_at
        .is_none_or(|last| days_between(last, as_of) > Decimal::from(CHURN_PURCHASE_DAYS));
    let mut risk = Decimal::ZERO;
    if contact_days > Decimal::from(CHURN_CONTACT_DAYS) {
        risk += Decimal::new(3, 1);
    }
    if contact_days > Decimal::from(CHURN_SILENT_DAYS) {
        risk += Decimal::new(3, 1);
    }
    if purchase_stale {
        risk += Decimal::new(4, 1);
    }
    let churn_risk = risk.min(Decimal::ONE);

    let mut preferences = top_categories(&summary.categories);
    for (kind, label) in [
        (ActivityType::Email, "邮件沟通"),
        (ActivityType::Call, "电话沟通"),
        (ActivityType::Meeting, "面对面会议"),
    ] {
        if summary.activity_types.contains(&kind) {
            preferences.push(label.to_owned());
        }
    }

    let mut recommended_actions: Vec<String> = lifecycle
        .actions()
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    if churn_risk > Decimal::new(7, 1) {
        recommended_actions.extend(["高优先级跟进".to_owned(), "客户关怀电话".to_owned()]);
    }

    Profile {
        as_of,
        rfm: scores,
        lifecycle,
        predicted_value,
        churn_risk: churn_risk.to_f64().unwrap_or(0.0),
        preferences,
        recommended_actions,
        last_contact_at,
        purchase_count,
        total_amount,
    }
}

/// The three most bought categories; ties go to the one seen first.
fn top_categories(categories: &[(String, usize)]) -> Vec<String> {
    let mut ranked: Vec<&(String, usize)> = categories.iter().collect();
    // A stable sort keeps first-seen order among equal counts.
    ranked.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    ranked
        .into_iter()
        .take(3)
        .map(|(category, _)| category.clone())
        .collect()
}
