//! The customer profile of DESIGN.md §5 (the seed's CustomerProfileAnalyzer
//! with its bugs fixed), computed for an explicit instant so replays are
//! deterministic. `crm_lifecycle` in schema/0003_read_models.sql is the same
//! lifecycle rule in SQL, for list filters; a test keeps them in agreement.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use events::values::ActivityType;

const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Prospect,
    New,
    Active,
    Loyal,
    AtRisk,
    Lost,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 6] = [
        Lifecycle::Prospect,
        Lifecycle::New,
        Lifecycle::Active,
        Lifecycle::Loyal,
        Lifecycle::AtRisk,
        Lifecycle::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Prospect => "prospect",
            Lifecycle::New => "new",
            Lifecycle::Active => "active",
            Lifecycle::Loyal => "loyal",
            Lifecycle::AtRisk => "at_risk",
            Lifecycle::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|lifecycle| lifecycle.as_str() == raw)
    }

    fn actions(self) -> [&'static str; 3] {
        match self {
            Lifecycle::Prospect => ["安排产品演示", "发送欢迎邮件", "电话跟进需求"],
            Lifecycle::New => ["客户满意度调研", "推荐相关产品", "建立定期联系"],
            Lifecycle::Active => ["推荐升级服务", "邀请参加活动", "收集反馈意见"],
            Lifecycle::Loyal => ["VIP专属服务", "推荐给朋友奖励", "新产品优先体验"],
            Lifecycle::AtRisk => ["紧急联系挽回", "提供特别优惠", "了解不满原因"],
            Lifecycle::Lost => ["重新激活营销", "问卷调研流失原因", "特价回归活动"],
        }
    }
}

/// R, F and M scores, each 1–5, or all 0 without purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rfm {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

#[derive(Debug, Clone)]
pub struct Purchase {
    pub occurred_at: DateTime<Utc>,
    pub amount: Decimal,
    pub category: String,
}

#[derive(Debug, Clone)]
pub struct Activity {
    pub occurred_at: DateTime<Utc>,
    pub activity_type: ActivityType,
}

/// What the formulas read, in the order the events happened.
#[derive(Debug, Clone)]
pub struct Facts {
    pub registered_at: DateTime<Utc>,
    pub purchases: Vec<Purchase>,
    pub activities: Vec<Activity>,
}

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

/// Fractional days from `from` to `to` (negative if `from` is later).
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    let micros = (to - from).num_microseconds().unwrap_or(i64::MAX);
    Decimal::from(micros) / Decimal::from(SECONDS_PER_DAY * 1_000_000)
}

fn clamp_score(value: Decimal) -> u8 {
    value
        .clamp(Decimal::ONE, Decimal::from(5))
        .to_u8()
        .unwrap_or(1)
}

/// R = clamp(6 − ⌊days since last purchase / 30⌋), F = clamp(⌊n/2⌋ + 1),
/// M = clamp(⌊total/1000⌋ + 1), all clamped to 1..5; no purchases → 0,0,0.
pub fn rfm(
    purchase_count: usize,
    total_amount: Decimal,
    last_purchase_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Rfm {
    let Some(last_purchase_at) = last_purchase_at.filter(|_| purchase_count > 0) else {
        return Rfm {
            recency: 0,
            frequency: 0,
            monetary: 0,
        };
    };
    let days = days_between(last_purchase_at, as_of);
    Rfm {
        recency: clamp_score(Decimal::from(6) - (days / Decimal::from(30)).floor()),
        frequency: clamp_score(Decimal::from(purchase_count / 2 + 1)),
        monetary: clamp_score((total_amount / Decimal::from(1000)).floor() + Decimal::ONE),
    }
}

/// DESIGN.md §5's rules, first that holds.
pub fn lifecycle(purchase_count: usize, rfm: Rfm, days_since_last_contact: Decimal) -> Lifecycle {
    let (r, f, m) = (rfm.recency, rfm.frequency, rfm.monetary);
    if purchase_count == 0 {
        return if days_since_last_contact <= Decimal::from(180) {
            Lifecycle::Prospect
        } else {
            Lifecycle::Lost
        };
    }
    if purchase_count == 1 && days_since_last_contact <= Decimal::from(60) {
        Lifecycle::New
    } else if r >= 4 && f >= 4 && m >= 4 {
        Lifecycle::Loyal
    } else if r >= 4 && f >= 3 {
        Lifecycle::Active
    } else if r <= 1 && days_since_last_contact > Decimal::from(180) {
        Lifecycle::Lost
    } else if r <= 2 && f >= 2 {
        Lifecycle::AtRisk
    } else {
        Lifecycle::Active
    }
}

/// Computes the profile from the facts known at `as_of` (later facts are ignored).
pub fn profile(facts: &Facts, as_of: DateTime<Utc>) -> Profile {
    let purchases: Vec<&Purchase> = facts
        .purchases
        .iter()
        .filter(|purchase| purchase.occurred_at <= as_of)
        .collect();
    let activities: Vec<&Activity> = facts
        .activities
        .iter()
        .filter(|activity| activity.occurred_at <= as_of)
        .collect();
    let total_amount: Decimal = purchases.iter().map(|purchase| purchase.amount).sum();
    let last_purchase_at = purchases.iter().map(|purchase| purchase.occurred_at).max();
    let first_purchase_at = purchases.iter().map(|purchase| purchase.occurred_at).min();
    let last_contact_at = activities
        .iter()
        .map(|activity| activity.occurred_at)
        .chain(last_purchase_at)
        .chain([facts.registered_at])
        .max()
        .unwrap_or(facts.registered_at);
    let contact_days = days_between(last_contact_at, as_of);
    let scores = rfm(purchases.len(), total_amount, last_purchase_at, as_of);
    let lifecycle = lifecycle(purchases.len(), scores, contact_days);

    let predicted_value = match first_purchase_at {
        Some(first) if !purchases.is_empty() => {
            let count = Decimal::from(purchases.len());
            let average = total_amount / count;
            let months = (days_between(first, as_of) / Decimal::from(30)).max(Decimal::ONE);
            (average * count / months * Decimal::from(12)).round_dp(2)
        }
        _ => Decimal::ZERO,
    };

    let purchase_stale =
        last_purchase_at.is_none_or(|last| days_between(last, as_of) > Decimal::from(180));
    let mut risk = Decimal::ZERO;
    if contact_days > Decimal::from(90) {
        risk += Decimal::new(3, 1);
    }
    if contact_days > Decimal::from(180) {
        risk += Decimal::new(3, 1);
    }
    if purchase_stale {
        risk += Decimal::new(4, 1);
    }
    let churn_risk = risk.min(Decimal::ONE);

    let mut preferences = top_categories(&purchases);
    for (kind, label) in [
        (ActivityType::Email, "邮件沟通"),
        (ActivityType::Call, "电话沟通"),
        (ActivityType::Meeting, "面对面会议"),
    ] {
        if activities
            .iter()
            .any(|activity| activity.activity_type == kind)
        {
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
        purchase_count: purchases.len(),
        total_amount,
    }
}

/// The three most bought categories; ties go to the one seen first.
fn top_categories(purchases: &[&Purchase]) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for purchase in purchases {
        match counts
            .iter_mut()
            .find(|(category, _)| *category == purchase.category)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((&purchase.category, 1)),
        }
    }
    // A stable sort keeps first-seen order among equal counts.
    counts.sort_by(|a, b| b.1.cmp(&a.1));
    counts
        .into_iter()
        .take(3)
        .map(|(category, _)| category.to_owned())
        .collect()
}
