//! The customer profile of docs/design.md §5 (the seed's CustomerProfileAnalyzer
//! with its bugs fixed), computed for an explicit instant so replays are
//! deterministic. `crm_lifecycle` in schema/0003_read_models.sql is the same
//! lifecycle rule in SQL, for list filters; a test keeps them in agreement.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use events::values::ActivityType;

/// The formulas' constants (docs/design.md §5), in one place. The SQL
/// function `crm_lifecycle` (migration 0011) mirrors them; a test compares
/// the two at every boundary.
pub mod thresholds {
    /// A day, in seconds.
    pub const SECONDS_PER_DAY: i64 = 86_400;
    /// A month, in days (recency scores, predicted value).
    pub const DAYS_PER_MONTH: i64 = 30;
    /// A customer without purchases stays a prospect this long after its last contact.
    pub const PROSPECT_DAYS: i64 = 180;
    /// A customer with one purchase is new this long after its last contact.
    pub const NEW_DAYS: i64 = 60;
    /// A customer with a recency score of 1 is lost after this much silence.
    pub const LOST_DAYS: i64 = 180;
    /// Churn risk: contact older than this adds 0.3 …
    pub const CHURN_CONTACT_DAYS: i64 = 90;
    /// … older than this another 0.3 …
    pub const CHURN_SILENT_DAYS: i64 = 180;
    /// … and no purchase within this adds 0.4.
    pub const CHURN_PURCHASE_DAYS: i64 = 180;
    /// Monetary score: one point per this many yuan.
    pub const MONETARY_STEP_YUAN: i64 = 1_000;
}
use thresholds::*;

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
        recency: clamp_score(Decimal::from(6) - (days / Decimal::from(DAYS_PER_MONTH)).floor()),
        frequency: clamp_score(Decimal::from(purchase_count / 2 + 1)),
        monetary: clamp_score(
            (total_amount / Decimal::from(MONETARY_STEP_YUAN)).floor() + Decimal::ONE,
        ),
    }
}

/// docs/design.md §5's rules, first that holds.
pub fn lifecycle(purchase_count: usize, rfm: Rfm, days_since_last_contact: Decimal) -> Lifecycle {
    let (r, f, m) = (rfm.recency, rfm.frequency, rfm.monetary);
    if purchase_count == 0 {
        return if days_since_last_contact <= Decimal::from(PROSPECT_DAYS) {
            Lifecycle::Prospect
        } else {
            Lifecycle::Lost
        };
    }
    if purchase_count == 1 && days_since_last_contact <= Decimal::from(NEW_DAYS) {
        Lifecycle::New
    } else if r >= 4 && f >= 4 && m >= 4 {
        Lifecycle::Loyal
    } else if r >= 4 && f >= 3 {
        Lifecycle::Active
    } else if r <= 1 && days_since_last_contact > Decimal::from(LOST_DAYS) {
        Lifecycle::Lost
    } else if r <= 2 && f >= 2 {
        Lifecycle::AtRisk
    } else {
        Lifecycle::Active
    }
}

/// What the formulas read of a customer's facts up to an instant: totals,
/// instants, purchase categories and activity kinds. The `customers`
/// projection keeps the same on each row, so the profile "as of now" needs
/// no history.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub registered_at: DateTime<Utc>,
    pub purchase_count: usize,
    pub total_amount: Decimal,
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Latest of registration, activities and purchases.
    pub last_contact_at: DateTime<Utc>,
    /// Purchase categories in first-seen order, with their counts.
    pub categories: Vec<(String, usize)>,
    /// Activity kinds logged, each once.
    pub activity_types: Vec<ActivityType>,
}

impl Facts {
    /// The summary of the facts known at `as_of` (later facts are ignored).
    pub fn summary_at(&self, as_of: DateTime<Utc>) -> Summary {
        let purchases: Vec<&Purchase> = self
            .purchases
            .iter()
            .filter(|purchase| purchase.occurred_at <= as_of)
            .collect();
        let activities: Vec<&Activity> = self
            .activities
            .iter()
            .filter(|activity| activity.occurred_at <= as_of)
            .collect();
        let last_purchase_at = purchases.iter().map(|purchase| purchase.occurred_at).max();
        let mut categories: Vec<(String, usize)> = Vec::new();
        for purchase in &purchases {
            match categories
                .iter_mut()
                .find(|(category, _)| *category == purchase.category)
            {
                Some((_, count)) => *count += 1,
                None => categories.push((purchase.category.clone(), 1)),
            }
        }
        let mut activity_types = Vec::new();
        for activity in &activities {
            if !activity_types.contains(&activity.activity_type) {
                activity_types.push(activity.activity_type);
            }
        }
        Summary {
            registered_at: self.registered_at,
            purchase_count: purchases.len(),
            total_amount: purchases.iter().map(|purchase| purchase.amount).sum(),
            first_purchase_at: purchases.iter().map(|purchase| purchase.occurred_at).min(),
            last_purchase_at,
            last_contact_at: activities
                .iter()
                .map(|activity| activity.occurred_at)
                .chain(last_purchase_at)
                .chain([self.registered_at])
                .max()
                .unwrap_or(self.registered_at),
            categories,
            activity_types,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::str::FromStr;

    fn as_of() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .expect("instant")
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    fn days(n: i64) -> DateTime<Utc> {
        as_of() - Duration::days(n)
    }

    fn purchase(days_ago: i64, amount: &str, category: &str) -> Purchase {
        Purchase {
            occurred_at: days(days_ago),
            amount: dec(amount),
            category: category.to_owned(),
        }
    }

    fn facts(
        registered_days_ago: i64,
        purchases: Vec<Purchase>,
        activities: Vec<(i64, ActivityType)>,
    ) -> Facts {
        Facts {
            registered_at: days(registered_days_ago),
            purchases,
            activities: activities
                .into_iter()
                .map(|(days_ago, activity_type)| Activity {
                    occurred_at: days(days_ago),
                    activity_type,
                })
                .collect(),
        }
    }

    #[test]
    fn recency_at_its_boundaries() {
        for (days_ago, expected) in [
            (0, 5),
            (29, 5),
            (30, 5),
            (31, 5),
            (59, 5),
            (60, 4),
            (61, 4),
            (89, 4),
            (90, 3),
            (91, 3),
            (149, 2),
            (150, 1),
            (180, 1),
            (181, 1),
            (400, 1),
        ] {
            let scores = rfm(1, dec("10"), Some(days(days_ago)), as_of());
            assert_eq!(scores.recency, expected, "{days_ago} days");
        }
    }

    #[test]
    fn frequency_by_purchase_count() {
        for (count, expected) in [(1, 1), (2, 2), (3, 2), (7, 4), (8, 5), (20, 5)] {
            assert_eq!(
                rfm(count, dec("10"), Some(days(1)), as_of()).frequency,
                expected,
                "{count} purchases"
            );
        }
        assert_eq!(
            rfm(0, Decimal::ZERO, None, as_of()),
            Rfm {
                recency: 0,
                frequency: 0,
                monetary: 0
            }
        );
    }

    #[test]
    fn monetary_by_total_amount() {
        for (total, expected) in [
            ("999", 1),
            ("999.99", 1),
            ("1000", 2),
            ("4999", 5),
            ("3999.99", 4),
            ("5000", 5),
            ("1000000", 5),
        ] {
            assert_eq!(
                rfm(1, dec(total), Some(days(1)), as_of()).monetary,
                expected,
                "{total}"
            );
        }
    }

    #[test]
    fn lifecycle_rules_in_order_at_their_boundaries() {
        let scores = |r, f, m| Rfm {
            recency: r,
            frequency: f,
            monetary: m,
        };
        let zero = scores(0, 0, 0);
        let cases = [
            // no purchases: prospect up to 180 days of silence, then lost
            (0, zero, "180", Lifecycle::Prospect),
            (0, zero, "180.01", Lifecycle::Lost),
            (0, zero, "181", Lifecycle::Lost),
            // one purchase and contact within 60 days: new
            (1, scores(5, 1, 1), "60", Lifecycle::New),
            (1, scores(4, 1, 5), "61", Lifecycle::Active),
            // loyal before active (the seed made loyal unreachable)
            (7, scores(4, 4, 4), "10", Lifecycle::Loyal),
            (7, scores(4, 4, 3), "10", Lifecycle::Active),
            (2, scores(4, 3, 5), "10", Lifecycle::Active),
            // lost before at_risk (the seed made lost unreachable)
            (2, scores(1, 2, 2), "181", Lifecycle::Lost),
            (2, scores(1, 2, 2), "180", Lifecycle::AtRisk),
            (2, scores(2, 2, 2), "91", Lifecycle::AtRisk),
            (1, scores(2, 1, 2), "91", Lifecycle::Active),
            (2, scores(3, 2, 1), "70", Lifecycle::Active),
        ];
        for (count, scores, contact_days, expected) in cases {
            assert_eq!(
                lifecycle(count, scores, dec(contact_days)),
                expected,
                "{count} {scores:?} {contact_days}"
            );
        }
    }

    #[test]
    fn churn_risk_adds_up_and_caps_at_one() {
        for (contact_days_ago, purchase_days_ago, expected) in [
            (10, Some(10), 0.0),
            (91, Some(91), 0.3),
            (90, Some(90), 0.0),
            (181, Some(181), 1.0),
            (181, None, 1.0),
            (10, None, 0.4),
            (100, Some(181), 0.7),
        ] {
            let purchases = purchase_days_ago
                .map(|d| vec![purchase(d, "100", "软件")])
                .unwrap_or_default();
            let registered = contact_days_ago.max(purchase_days_ago.unwrap_or(0));
            let activities = vec![(contact_days_ago, ActivityType::Call)];
            let profile = profile(&facts(registered, purchases, activities), as_of());
            assert!(
                (profile.churn_risk - expected).abs() < 1e-9,
                "{contact_days_ago} {purchase_days_ago:?}: {}",
                profile.churn_risk
            );
        }
    }

    #[test]
    fn predicted_value_uses_months_since_first_purchase_with_a_floor_of_one() {
        // Two purchases of 600 over 90 days: avg 600 × 2 / 3 months × 12 = 4800.
        let history = facts(
            100,
            vec![purchase(90, "600", "软件"), purchase(30, "600", "软件")],
            vec![],
        );
        assert_eq!(profile(&history, as_of()).predicted_value, dec("4800.00"));
        // A purchase last week: months floor at 1 → 1000 × 1 / 1 × 12.
        let recent = facts(10, vec![purchase(7, "1000", "培训")], vec![]);
        assert_eq!(profile(&recent, as_of()).predicted_value, dec("12000.00"));
        assert_eq!(
            profile(&facts(10, vec![], vec![]), as_of()).predicted_value,
            Decimal::ZERO
        );
    }

    #[test]
    fn preferences_are_top_three_categories_then_channels() {
        let purchases = vec![
            purchase(50, "10", "培训"),
            purchase(40, "10", "耗材"),
            purchase(30, "10", "软件"),
            purchase(20, "10", "硬件"),
            purchase(10, "10", "软件"),
        ];
        let activities = vec![
            (5, ActivityType::Meeting),
            (4, ActivityType::Email),
            (3, ActivityType::Visit),
        ];
        let profile = profile(&facts(60, purchases, activities), as_of());
        // 软件 twice; ties (once each) keep first-seen order: 培训 before 耗材 before 硬件.
        assert_eq!(
            profile.preferences,
            ["软件", "培训", "耗材", "邮件沟通", "面对面会议"]
        );
    }

    #[test]
    fn recommended_actions_follow_lifecycle_and_churn() {
        let lost = profile(&facts(400, vec![], vec![]), as_of());
        assert_eq!(lost.lifecycle, Lifecycle::Lost);
        assert_eq!(
            lost.recommended_actions,
            [
                "重新激活营销",
                "问卷调研流失原因",
                "特价回归活动",
                "高优先级跟进",
                "客户关怀电话"
            ]
        );
        let prospect = profile(&facts(3, vec![], vec![]), as_of());
        assert_eq!(
            prospect.recommended_actions,
            ["安排产品演示", "发送欢迎邮件", "电话跟进需求"]
        );
    }

    #[test]
    fn facts_after_as_of_are_ignored() {
        let history = facts(
            100,
            vec![purchase(90, "600", "软件"), purchase(-1, "600", "软件")],
            vec![],
        );
        assert_eq!(profile(&history, as_of()).purchase_count, 1);
    }
}
