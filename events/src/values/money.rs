//! Amounts of money and probabilities: exact decimals, never floats.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{invalid, InvalidValue};

/// An amount of money in yuan with at most two decimal places, never a float.
/// Serialised as a decimal string (`"1234.50"`) so no client parses it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "String")]
pub struct Money(Decimal);

/// The largest amount the system accepts: one trillion yuan.
pub const MAX_MONEY: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 1_000_000_000_000

impl Money {
    /// Zero at the two decimal places every stored amount has.
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// A non-negative amount (deal values, activity values).
    pub fn non_negative(value: Decimal) -> Result<Self, InvalidValue> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(invalid("amount must not be negative"));
        }
        Self::checked(value)
    }

    /// A strictly positive amount (purchases).
    pub fn positive(value: Decimal) -> Result<Self, InvalidValue> {
        if value <= Decimal::ZERO {
            return Err(invalid("amount must be greater than 0"));
        }
        Self::checked(value)
    }

    fn checked(value: Decimal) -> Result<Self, InvalidValue> {
        if value.scale() > 2 && value.normalize().scale() > 2 {
            return Err(invalid("amount must have at most two decimal places"));
        }
        if value > MAX_MONEY {
            return Err(invalid("amount must be at most 1000000000000"));
        }
        let mut value = value.normalize();
        value.rescale(2);
        Ok(Self(value))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// Parses a decimal string or the text of a JSON number.
    pub fn parse_text(text: &str) -> Result<Decimal, InvalidValue> {
        Decimal::from_str(text.trim())
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .map_err(|_| invalid("amount must be a decimal number such as 1234.50"))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Money> for String {
    fn from(value: Money) -> Self {
        value.0.to_string()
    }
}

/// Accepts `"12.50"` and `12.5` alike; stored events always carry the string form.
#[derive(Deserialize)]
#[serde(untagged)]
enum MoneyRepr {
    Text(String),
    Number(serde_json::Number),
}

impl TryFrom<MoneyRepr> for Money {
    type Error = InvalidValue;
    fn try_from(value: MoneyRepr) -> Result<Self, Self::Error> {
        let decimal = match value {
            MoneyRepr::Text(text) => Money::parse_text(&text)?,
            MoneyRepr::Number(number) => Money::parse_text(&number.to_string())?,
        };
        Money::non_negative(decimal)
    }
}

/// A probability in [0, 1] with at most four decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Number", into = "f64")]
pub struct Probability(Decimal);

impl Probability {
    pub fn new(value: Decimal) -> Result<Self, InvalidValue> {
        if value < Decimal::ZERO || value > Decimal::ONE {
            return Err(invalid("probability must be between 0 and 1"));
        }
        if value.normalize().scale() > 4 {
            return Err(invalid("probability must have at most four decimal places"));
        }
        Ok(Self(value.normalize()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub(super) fn from_percent_tenths(tenths: i64) -> Self {
        Self(Decimal::new(tenths, 1))
    }
}

impl TryFrom<serde_json::Number> for Probability {
    type Error = InvalidValue;
    fn try_from(value: serde_json::Number) -> Result<Self, Self::Error> {
        Probability::new(Money::parse_text(&value.to_string())?)
    }
}

impl From<Probability> for f64 {
    fn from(value: Probability) -> f64 {
        // Four decimal places at most: the conversion is exact enough for display.
        value.0.to_string().parse().unwrap_or(0.0)
    }
}
