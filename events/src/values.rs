//! Value types of the domain. Each has a private field and a constructor that
//! rejects what the business does not allow, so a value that exists is valid.
//! Deserialisation goes through the same constructors, except where events
//! already stored need more leniency (see [Text](#text)).
//!
//! # Text
//!
//! One character rule, [`refused_chars`], decides what every text value type
//! accepts from a person or a client (names, tags, phone, e-mail, user ids,
//! order refs, company, subject, notes, reasons...) and what query strings and
//! path segments may hold (`web::extract`):
//!
//! - no control character (`char::is_control`: C0 U+0000–U+001F, DEL U+007F,
//!   C1 U+0080–U+009F). PostgreSQL cannot store U+0000 in `text` or `jsonb`,
//!   and the others garble logs, CSV exports and the mini-program's screens;
//! - except that free text ([`TextKind::FreeText`]: notes and reasons, typed
//!   in multi-line boxes) may hold line feeds (U+000A), tabs (U+0009) and
//!   carriage returns that begin a CR LF pair (a Windows line break, stored as
//!   it came). A carriage return alone is refused: it is no line break any
//!   client shows the same way, and it overwrites the line in a terminal;
//! - no Unicode noncharacter (U+FDD0–U+FDEF and every code point ending in
//!   FFFE or FFFF, such as U+FFFF): they are reserved for a program's internal
//!   use and never meaningful in interchanged text.
//!
//! Everything else is accepted and stored as it came, including format
//! characters such as the right-to-left mark U+200F (Arabic and Hebrew
//! company names need them), zero-width joiners and U+2028/U+2029.
//!
//! Reading stored events back (serde `try_from`) is deliberately more lenient,
//! because the event log is append-only and an event that no longer decodes
//! blocks its customer for good:
//!
//! - [`ShortText`] checks only its length bounds: before this rule existed its
//!   constructor accepted any character, so stored company names, subjects,
//!   notes and reasons may hold control characters;
//! - [`CustomerName`], [`Tag`], [`OrderRef`], [`UserId`] and [`Email`] always
//!   refused control characters, and still do when decoding, but not
//!   noncharacters, which they used to accept;
//! - [`Phone`] decodes through its constructor: its syntax (ASCII digits and
//!   `+`) never allowed either kind of character.

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
    ($(#[$doc:meta])* $name:ident, decode = $decode:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// The serde path: how a stored event's value is read back (see the
        /// [module's text rules](self#text)).
        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $decode(&value)
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

// ---------------------------------------------------------------- text

/// Which characters besides the ordinary ones a text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One line (names, tags, subject, company, query parameters...): no
    /// control character at all.
    SingleLine,
    /// Multi-line free text (notes, reasons): line feeds, tabs and CR LF
    /// line breaks too.
    FreeText,
}

/// Why a character was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A control character (C0, DEL, C1) where it is not allowed.
    Control,
    /// A Unicode noncharacter.
    Noncharacter,
}

/// A character the rule refuses, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedChar {
    pub char: char,
    pub refusal: Refusal,
}

impl RefusedChar {
    /// The message for the person who typed it: names the field and the code point.
    pub fn message(self, what: &str) -> String {
        let code = format!("U+{:04X}", u32::from(self.char));
        match (self.refusal, self.char) {
            (Refusal::Noncharacter, _) => {
                format!("{what} must not contain Unicode noncharacters ({code})")
            }
            (Refusal::Control, '\r') => format!(
                "{what} must not contain control characters ({code}: a carriage return is allowed only before a line feed)"
            ),
            (Refusal::Control, '\n' | '\t') => format!(
                "{what} must not contain control characters ({code}: line breaks and tabs are allowed only in multi-line text such as notes)"
            ),
            (Refusal::Control, _) => {
                format!("{what} must not contain control characters ({code})")
            }
        }
    }
}

/// Whether `c` is a Unicode noncharacter: U+FDD0–U+FDEF, or a code point
/// whose low 16 bits are FFFE or FFFF (U+FFFE, U+FFFF, U+1FFFE, ... U+10FFFF).
pub fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// THE character rule (see [the module's text rules](self#text)): every
/// character of `text` that `kind` does not allow, in order.
pub fn refused_chars(text: &str, kind: TextKind) -> impl Iterator<Item = RefusedChar> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || {
        while let Some(c) = chars.next() {
            let refusal = if is_noncharacter(c) {
                Some(Refusal::Noncharacter)
            } else if !c.is_control() {
                None
            } else {
                let free = kind == TextKind::FreeText;
                let allowed = match c {
                    '\n' | '\t' => free,
                    '\r' => free && chars.peek() == Some(&'\n'),
                    _ => false,
                };
                (!allowed).then_some(Refusal::Control)
            };
            if let Some(refusal) = refusal {
                return Some(RefusedChar { char: c, refusal });
            }
        }
        None
    })
}

/// Applies the character rule: `Err` names `what` and the first refused code
/// point. Query strings and path segments are checked with this too.
pub fn check_chars(text: &str, what: &str, kind: TextKind) -> Result<(), InvalidValue> {
    match refused_chars(text, kind).next() {
        Some(refused) => Err(invalid(refused.message(what))),
        None => Ok(()),
    }
}

/// What a stored value of a type that always refused control characters must
/// still satisfy: no control characters (noncharacters were accepted).
fn check_stored_controls(text: &str, what: &str) -> Result<(), InvalidValue> {
    match refused_chars(text, TextKind::SingleLine).find(|r| r.refusal == Refusal::Control) {
        Some(refused) => Err(invalid(refused.message(what))),
        None => Ok(()),
    }
}

/// Trims and checks a character count (characters, not bytes: names are Chinese).
fn trimmed_within<'a>(raw: &'a str, what: &str, max_chars: usize) -> Result<&'a str, InvalidValue> {
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
    Ok(trimmed)
}

/// Input: trims, checks the length and applies the character rule.
fn bounded_text(
    raw: &str,
    what: &str,
    max_chars: usize,
    kind: TextKind,
) -> Result<String, InvalidValue> {
    let trimmed = trimmed_within(raw, what, max_chars)?;
    check_chars(trimmed, what, kind)?;
    Ok(trimmed.to_owned())
}

/// A stored value of a type that always refused control characters.
fn stored_text(raw: &str, what: &str, max_chars: usize) -> Result<String, InvalidValue> {
    let trimmed = trimmed_within(raw, what, max_chars)?;
    check_stored_controls(trimmed, what)?;
    Ok(trimmed.to_owned())
}

string_newtype!(
    /// A customer's name: 1–100 characters after trimming, one line.
    CustomerName, decode = CustomerName::from_stored
);
impl CustomerName {
    pub const MAX_CHARS: usize = 100;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "name", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "name", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// A tag: 1–32 characters after trimming, one line.
    Tag, decode = Tag::from_stored
);
impl Tag {
    pub const MAX_CHARS: usize = 32;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "tag", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "tag", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// Text with a length bound (company, industry, subject, notes, category...).
    ///
    /// Input goes through [`ShortText::parse_max`] (one line) or
    /// [`ShortText::parse_free_text_max`] (notes and reasons: line breaks and
    /// tabs too), which apply the character rule and the field's bound.
    ///
    /// Deserialisation (`TryFrom<String>`, how stored events are read back)
    /// only trims and checks 1–10,000 characters, and accepts any character:
    /// events appended before the character rule existed may hold control
    /// characters in these fields, and the append-only log must keep
    /// decoding them. Nothing new gets there, since every input goes through
    /// the constructors.
    ShortText, decode = ShortText::from_stored
);
impl ShortText {
    const ABSOLUTE_MAX: usize = 10_000;

    /// Free text of at most 10,000 characters (for values the program writes itself).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_free_text_max(raw, "text", Self::ABSOLUTE_MAX)
    }

    /// One line of at most `max_chars` characters after trimming: no control
    /// character, no noncharacter.
    pub fn parse_max(raw: &str, what: &str, max_chars: usize) -> Result<Self, InvalidValue> {
        bounded_text(raw, what, max_chars, TextKind::SingleLine).map(Self)
    }

    /// Multi-line free text of at most `max_chars` characters after trimming:
    /// line feeds, tabs and CR LF allowed, no other control character, no
    /// noncharacter.
    pub fn parse_free_text_max(
        raw: &str,
        what: &str,
        max_chars: usize,
    ) -> Result<Self, InvalidValue> {
        bounded_text(raw, what, max_chars, TextKind::FreeText).map(Self)
    }

    /// A stored value: the length bounds only (see the type's documentation).
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        trimmed_within(raw, "text", Self::ABSOLUTE_MAX).map(|text| Self(text.to_owned()))
    }
}

string_newtype!(
    /// A phone number: a mainland China mobile number (11 digits starting with 1)
    /// or an E.164 number (`+` then 2–15 digits, no leading zero).
    Phone, decode = Phone::parse
);
impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        check_chars(value, "phone", TextKind::SingleLine)?;
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
    Email, decode = Email::from_stored
);
impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::checked(raw, |value| {
            check_chars(value, "email", TextKind::SingleLine)
        })
    }

    /// A stored address: noncharacters in the local part used to be accepted.
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        Self::checked(raw, |value| check_stored_controls(value, "email"))
    }

    fn checked(
        raw: &str,
        chars: impl FnOnce(&str) -> Result<(), InvalidValue>,
    ) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        chars(value)?;
        let bad = || invalid("email must look like name@example.com");
        if value.len() > 254 || value.chars().any(char::is_whitespace) {
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
    /// A user id: the JWT `sub` claim, 1–64 characters, one line.
    UserId, decode = UserId::from_stored
);
impl UserId {
    pub const MAX_CHARS: usize = 64;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "user id", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "user id", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// An external order reference (makes purchases idempotent per customer), 1–64 characters.
    OrderRef, decode = OrderRef::from_stored
);
impl OrderRef {
    pub const MAX_CHARS: usize = 64;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "order_ref", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "order_ref", Self::MAX_CHARS).map(Self)
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

    /// Every input constructor of a text type, with the field name its
    /// messages use and whether it takes free text.
    #[allow(clippy::type_complexity)]
    fn text_constructors() -> Vec<(
        &'static str,
        bool,
        Box<dyn Fn(&str) -> Result<String, InvalidValue>>,
    )> {
        vec![
            (
                "name",
                false,
                Box::new(|t| CustomerName::parse(t).map(String::from)),
            ),
            ("tag", false, Box::new(|t| Tag::parse(t).map(String::from))),
            (
                "order_ref",
                false,
                Box::new(|t| OrderRef::parse(t).map(String::from)),
            ),
            (
                "user id",
                false,
                Box::new(|t| UserId::parse(t).map(String::from)),
            ),
            (
                "subject",
                false,
                Box::new(|t| ShortText::parse_max(t, "subject", 200).map(String::from)),
            ),
            (
                "notes",
                true,
                Box::new(|t| ShortText::parse_free_text_max(t, "notes", 5000).map(String::from)),
            ),
            (
                "text",
                true,
                Box::new(|t| ShortText::parse(t).map(String::from)),
            ),
        ]
    }

    /// `inside` between ordinary characters is refused by every text type
    /// (and by phone and e-mail), naming the field and the code point.
    #[track_caller]
    fn refused_everywhere(inside: char) {
        let code = format!("U+{:04X}", u32::from(inside));
        for (what, _, parse) in text_constructors() {
            let error = parse(&format!("ab{inside}c")).expect_err(what);
            assert!(
                error.0.starts_with(&format!("{what} must not contain")) && error.0.contains(&code),
                "{what}: {error}"
            );
        }
        let phone = Phone::parse(&format!("1380013{inside}8000")).expect_err("phone");
        assert!(phone.0.contains(&code), "{phone}");
        let email = Email::parse(&format!("li{inside}si@example.com")).expect_err("email");
        assert!(
            email.0.starts_with("email must not contain") && email.0.contains(&code),
            "{email}"
        );
        assert!(check_chars(&format!("x{inside}"), "q", TextKind::SingleLine).is_err());
        assert!(check_chars(&format!("x{inside}"), "q", TextKind::FreeText).is_err());
    }

    #[test]
    fn nul_is_refused_with_the_field_and_code_point() {
        refused_everywhere('\u{0}');
        assert_eq!(
            ShortText::parse_free_text_max("x\u{0}", "notes", 5000),
            Err(InvalidValue(
                "notes must not contain control characters (U+0000)".into()
            ))
        );
    }

    #[test]
    fn other_c0_controls_are_refused() {
        for c in ['\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}'] {
            refused_everywhere(c);
        }
    }

    #[test]
    fn del_and_c1_controls_are_refused() {
        for c in ['\u{7f}', '\u{80}', '\u{85}', '\u{9f}'] {
            refused_everywhere(c);
        }
    }

    #[test]
    fn noncharacters_are_refused() {
        for c in [
            '\u{fdd0}',
            '\u{fdef}',
            '\u{fffe}',
            '\u{ffff}',
            '\u{1fffe}',
            '\u{10ffff}',
        ] {
            assert!(is_noncharacter(c), "{c:?}");
            refused_everywhere(c);
        }
        assert_eq!(
            Tag::parse("vip\u{ffff}"),
            Err(InvalidValue(
                "tag must not contain Unicode noncharacters (U+FFFF)".into()
            ))
        );
        // Neighbours of noncharacters are ordinary characters.
        for c in ['\u{fdcf}', '\u{fdf0}', '\u{fffd}', '\u{1fffd}'] {
            assert!(!is_noncharacter(c), "{c:?}");
            assert!(Tag::parse(&format!("a{c}b")).is_ok(), "{c:?}");
        }
    }

    #[test]
    fn newline_and_tab_are_allowed_only_in_free_text() {
        for text in ["第一行\n第二行", "a\tb", "a\r\nb", "a\n\n\tb", "a\r\n\r\nb"] {
            for (what, free, parse) in text_constructors() {
                assert_eq!(parse(text).is_ok(), free, "{what}: {text:?}");
            }
        }
        assert_eq!(
            ShortText::parse_max("a\nb", "subject", 200),
            Err(InvalidValue(
                "subject must not contain control characters (U+000A: line breaks and tabs are allowed only in multi-line text such as notes)".into()
            ))
        );
        // A carriage return only as part of CR LF.
        for text in ["a\rb", "a\r\rb", "a\n\rb"] {
            let error = ShortText::parse_free_text_max(text, "reason", 500).expect_err(text);
            assert!(error.0.contains("U+000D"), "{error}");
        }
        // Outer whitespace is trimmed before the rule: a trailing line break is no line.
        assert_eq!(
            ShortText::parse_max("回访\n", "subject", 200).map(String::from),
            Ok("回访".into())
        );
    }

    #[test]
    fn right_to_left_marks_and_format_characters_are_stored_as_they_are() {
        for text in [
            "\u{200f}شركة الأمل",
            "abc\u{200f}def",
            "a\u{200d}b",
            "a\u{2028}b",
            "a\u{feff}b",
        ] {
            for (what, _, parse) in text_constructors() {
                assert_eq!(parse(text).as_deref(), Ok(text), "{what}: {text:?}");
            }
            assert_eq!(check_chars(text, "q", TextKind::SingleLine), Ok(()));
        }
        assert!(Email::parse("li\u{200f}si@example.com").is_ok());
    }

    #[test]
    fn stored_short_text_with_control_characters_still_decodes() {
        // Appended before the rule existed: the log must keep decoding it.
        for (stored, text) in [
            ("\"a\\u0000b\"", "a\u{0}b"),
            ("\"a\\u0007b\"", "a\u{7}b"),
            ("\"a\\rb\"", "a\rb"),
            ("\"a\\uffffb\"", "a\u{ffff}b"),
        ] {
            let decoded: ShortText = serde_json::from_str(stored).expect(stored);
            assert_eq!(decoded.as_str(), text, "read back as it was stored");
        }
        // The length bounds still hold.
        assert!(serde_json::from_str::<ShortText>("\" \"").is_err());
        assert!(
            serde_json::from_value::<ShortText>(serde_json::json!("a".repeat(10_001))).is_err()
        );
        // Types that always refused control characters still do, but
        // noncharacters they used to accept still decode.
        assert!(serde_json::from_str::<Tag>("\"a\\u0000b\"").is_err());
        assert!(serde_json::from_str::<CustomerName>("\"a\\u0001b\"").is_err());
        assert!(serde_json::from_str::<Tag>("\"a\\uffffb\"").is_ok());
        assert!(serde_json::from_str::<UserId>("\"rep\\ufdd0\"").is_ok());
        assert!(serde_json::from_str::<OrderRef>("\"PO\\ufffe\"").is_ok());
        assert!(serde_json::from_str::<Email>("\"a\\uffff@example.com\"").is_ok());
        assert!(serde_json::from_str::<Email>("\"a\\u0000@example.com\"").is_err());
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
