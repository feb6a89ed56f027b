//! Value types of the domain. Each has a private field and a constructor that
//! rejects what the business does not allow, so a value that exists is valid.
//! Deserialisation goes through the same constructors.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a value was refused; the message is written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(message: impl Into<String>) -> InvalidValue {
    InvalidValue(message.into())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Trims and checks a character count (characters, not bytes: names are Chinese).
fn bounded_text(raw: &str, what: &str, max_chars: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if count > max_chars {
        return Err(invalid(format!(
            "{what} must be at most {max_chars} characters (got {count})"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

string_newtype!(
    /// A customer's name: 1–100 characters after trimming.
    CustomerName
);
impl CustomerName {
    pub const MAX_CHARS: usize = 100;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "name", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// A tag: 1–32 characters after trimming.
    Tag
);
impl Tag {
    pub const MAX_CHARS: usize = 32;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "tag", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// Free text with a length bound (company, industry, subject, notes, category...).
    /// The bound is checked by [`ShortText::parse_max`]; deserialisation allows up to 10,000.
    ShortText
);
impl ShortText {
    const ABSOLUTE_MAX: usize = 10_000;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_max(raw, "text", Self::ABSOLUTE_MAX)
    }
    pub fn parse_max(raw: &str, what: &str, max_chars: usize) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let count = trimmed.chars().count();
        if count == 0 {
            return Err(invalid(format!("{what} must not be empty")));
        }
        if count > max_chars {
            return Err(invalid(format!(
                "{what} must be at most {max_chars} characters (got {count})"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

string_newtype!(
    /// A phone number: a mainland China mobile number (11 digits starting with 1)
    /// or an E.164 number (`+` then 2–15 digits, no leading zero).
    Phone
);
impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let mainland = value.len() == 11 && value.starts_with('1') && digits(value);
        let e164 = value.strip_prefix('+').is_some_and(|rest| {
            (2..=15).contains(&rest.len()) && digits(rest) && !rest.starts_with('0')
        });
        if mainland || e164 {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                "phone must be a mainland mobile number (11 digits starting with 1) or E.164 (+8613800138000)",
            ))
        }
    }
}

string_newtype!(
    /// An e-mail address, lower-cased domain, at most 254 characters.
    Email
);
impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let bad = || invalid("email must look like name@example.com");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !labels_ok {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }
}

string_newtype!(
    /// A user id: the JWT `sub` claim, 1–64 characters.
    UserId
);
impl UserId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
            return Err(invalid("user id must be 1-64 characters"));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype!(
    /// An external order reference (makes purchases idempotent per customer), 1–64 characters.
    OrderRef
);
impl OrderRef {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "order_ref", 64).map(Self)
    }
}

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

    fn from_percent_tenths(tenths: i64) -> Self {
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

/// The funnel stages, in order. `closed_lost` is terminal and reachable from any open stage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lead,
    Qualified,
    Proposal,
    Negotiation,
    ClosedWon,
    ClosedLost,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Lead,
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiation,
        Stage::ClosedWon,
        Stage::ClosedLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Qualified => "qualified",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::ClosedWon => "closed_won",
            Stage::ClosedLost => "closed_lost",
        }
    }

    /// The name the mini-program shows.
    pub fn display_name(self) -> &'static str {
        match self {
            Stage::Lead => "潜在客户",
            Stage::Qualified => "合格线索",
            Stage::Proposal => "方案阶段",
            Stage::Negotiation => "商务谈判",
            Stage::ClosedWon => "成交",
            Stage::ClosedLost => "失败",
        }
    }

    pub fn colour(self) -> &'static str {
        match self {
            Stage::Lead => "#e6f7ff",
            Stage::Qualified => "#bae7ff",
            Stage::Proposal => "#91d5ff",
            Stage::Negotiation => "#69c0ff",
            Stage::ClosedWon => "#40a9ff",
            Stage::ClosedLost => "#ff7875",
        }
    }

    pub fn default_probability(self) -> Probability {
        Probability::from_percent_tenths(match self {
            Stage::Lead => 1,
            Stage::Qualified => 2,
            Stage::Proposal => 5,
            Stage::Negotiation => 7,
            Stage::ClosedWon => 10,
            Stage::ClosedLost => 0,
        })
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Stage::ClosedWon | Stage::ClosedLost)
    }
}

impl FromStr for Stage {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                invalid("stage must be one of lead, qualified, proposal, negotiation, closed_won, closed_lost")
            })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a sales rep followed a customer up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    Visit,
    Call,
    Email,
    Meeting,
}

impl ActivityType {
    pub const ALL: [ActivityType; 4] = [
        ActivityType::Visit,
        ActivityType::Call,
        ActivityType::Email,
        ActivityType::Meeting,
    ];

    /// The name events and read models store (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::Visit => "visit",
            ActivityType::Call => "call",
            ActivityType::Email => "email",
            ActivityType::Meeting => "meeting",
        }
    }
}

impl FromStr for ActivityType {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|activity_type| activity_type.as_str() == s)
            .ok_or_else(|| invalid("type must be one of visit, call, email, meeting"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_type_names_are_the_serde_names_and_parse_back() {
        for activity_type in ActivityType::ALL {
            assert_eq!(
                serde_json::to_value(activity_type).expect("serialise"),
                serde_json::Value::from(activity_type.as_str())
            );
            assert_eq!(activity_type.as_str().parse(), Ok(activity_type));
        }
        assert!("phone".parse::<ActivityType>().is_err());
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn name_is_trimmed_and_counted_in_characters() {
        assert_eq!(
            CustomerName::parse("  张三  ").map(String::from),
            Ok("张三".into())
        );
        assert!(CustomerName::parse(&"张".repeat(100)).is_ok());
        assert!(CustomerName::parse(&"张".repeat(101)).is_err());
        assert!(CustomerName::parse("   ").is_err());
        assert!(CustomerName::parse("").is_err());
    }

    #[test]
    fn phone_accepts_mainland_mobile_and_e164_only() {
        assert!(Phone::parse("13800138000").is_ok());
        assert!(Phone::parse("+8613800138000").is_ok());
        assert!(Phone::parse("+14155550123").is_ok());
        assert!(
            Phone::parse("23800138000").is_err(),
            "mainland must start with 1"
        );
        assert!(Phone::parse("1380013800").is_err(), "10 digits");
        assert!(Phone::parse("138001380001").is_err(), "12 digits");
        assert!(
            Phone::parse("+0123456").is_err(),
            "E.164 has no leading zero"
        );
        assert!(
            Phone::parse("+1234567890123456").is_err(),
            "E.164 has at most 15 digits"
        );
        assert!(Phone::parse("138-0013-8000").is_err());
    }

    #[test]
    fn email_must_have_local_part_and_dotted_domain() {
        assert_eq!(
            Email::parse("Li.Si@Example.COM").map(String::from),
            Ok("Li.Si@example.com".into())
        );
        assert!(Email::parse("lisi@例子.中国").is_ok());
        assert!(Email::parse("lisi").is_err());
        assert!(Email::parse("@example.com").is_err());
        assert!(Email::parse("lisi@example").is_err());
        assert!(Email::parse("li si@example.com").is_err());
        assert!(Email::parse("lisi@.com").is_err());
    }

    #[test]
    fn tag_is_one_to_thirty_two_characters() {
        assert!(Tag::parse("重要客户").is_ok());
        assert!(Tag::parse(&"a".repeat(32)).is_ok());
        assert!(Tag::parse(&"a".repeat(33)).is_err());
        assert!(Tag::parse(" ").is_err());
    }

    #[test]
    fn money_is_never_negative_and_has_two_decimals_at_most() {
        assert_eq!(
            Money::non_negative(dec("0")).map(String::from),
            Ok("0.00".into())
        );
        assert_eq!(
            Money::non_negative(dec("12.5")).map(String::from),
            Ok("12.50".into())
        );
        assert!(Money::non_negative(dec("-0.01")).is_err());
        assert!(Money::non_negative(dec("1.234")).is_err());
        assert!(
            Money::non_negative(dec("1.230")).is_ok(),
            "trailing zeros are fine"
        );
    }

    #[test]
    fn purchase_amount_is_positive_and_at_most_one_trillion() {
        assert!(Money::positive(dec("0")).is_err());
        assert!(Money::positive(dec("0.01")).is_ok());
        assert!(Money::positive(dec("1000000000000")).is_ok());
        assert!(Money::positive(dec("1000000000000.01")).is_err());
        assert_eq!(MAX_MONEY, dec("1000000000000"));
    }

    #[test]
    fn money_deserialises_from_string_or_number_and_serialises_as_string() {
        let from_number: Money = serde_json::from_str("12.5").expect("number");
        let from_text: Money = serde_json::from_str("\"12.50\"").expect("text");
        assert_eq!(from_number, from_text);
        assert_eq!(
            serde_json::to_string(&from_number).expect("ser"),
            "\"12.50\""
        );
        assert!(serde_json::from_str::<Money>("-1").is_err());
    }

    #[test]
    fn probability_is_between_zero_and_one() {
        assert!(Probability::new(dec("0")).is_ok());
        assert!(Probability::new(dec("1")).is_ok());
        assert!(Probability::new(dec("0.35")).is_ok());
        assert!(Probability::new(dec("1.01")).is_err());
        assert!(Probability::new(dec("-0.1")).is_err());
    }

    #[test]
    fn stages_parse_and_carry_defaults() {
        assert_eq!("closed_won".parse::<Stage>(), Ok(Stage::ClosedWon));
        assert!("won".parse::<Stage>().is_err());
        assert_eq!(Stage::Negotiation.default_probability().value(), dec("0.7"));
        assert_eq!(Stage::ClosedWon.default_probability().value(), dec("1"));
    }
}
