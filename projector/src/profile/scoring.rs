//! RFM scoring: recency, frequency and monetary scores, each 1–5, and the
//! fractional day count the formulas measure time in.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::thresholds::{DAYS_PER_MONTH, MONETARY_STEP_YUAN, SECONDS_PER_DAY};

/// R, F and M scores, each 1–5, or all 0 without purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rfm {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

/// Fractional days from `from` to `to` (negative if `from` is later).
pub(super) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
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
