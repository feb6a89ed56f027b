//! The profile formulas at their boundaries.

use super::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

use events::values::ActivityType;

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
