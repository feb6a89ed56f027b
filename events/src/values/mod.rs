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
//!   noncharacters, which they used to accept; [`DisplayName`] and
//!   [`TeamName`] (newer, with the people directory) decode the same way, so
//!   every one-line name reads back by one rule;
//! - [`Phone`] decodes through its constructor: its syntax (ASCII digits and
//!   `+`) never allowed either kind of character.

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
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// The serde path: how a stored event's value is read back (see the
        /// [text rules](crate::values#text)).
        impl TryFrom<String> for $name {
            type Error = $crate::values::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $decode(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

mod chars;
mod contact;
mod money;
mod occurred;
mod stage;
#[cfg(test)]
mod tests;
mod text;

pub use chars::{check_chars, is_noncharacter, refused_chars, Refusal, RefusedChar, TextKind};
pub use contact::{Email, Phone};
pub use money::{Money, Probability, MAX_MONEY};
pub use occurred::OccurredAt;
pub use stage::{ActivityType, Stage};
pub use text::{CustomerName, DisplayName, OrderRef, ShortText, Tag, TeamName, TextField, UserId};
