//! The text values: names (of customers, users and teams), tags, ids and the
//! bounded text fields, each with its length bound and whether it may span
//! lines.

use super::chars::{bounded_text, stored_text, trimmed_within, TextKind};
use super::InvalidValue;

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
    /// Input goes through a [`TextField`] (company, subject, notes...), which
    /// knows the field's length bound and whether it may span lines, and
    /// applies the character rule.
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
    fn parse_max(raw: &str, what: &str, max_chars: usize) -> Result<Self, InvalidValue> {
        bounded_text(raw, what, max_chars, TextKind::SingleLine).map(Self)
    }

    /// Multi-line free text of at most `max_chars` characters after trimming:
    /// line feeds, tabs and CR LF allowed, no other control character, no
    /// noncharacter.
    fn parse_free_text_max(raw: &str, what: &str, max_chars: usize) -> Result<Self, InvalidValue> {
        bounded_text(raw, what, max_chars, TextKind::FreeText).map(Self)
    }

    /// A stored value: the length bounds only (see the type's documentation).
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        trimmed_within(raw, "text", Self::ABSOLUTE_MAX).map(|text| Self(text.to_owned()))
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
    /// How a user of the tenant is shown to others (the people directory,
    /// owners, timelines): 1–50 characters after trimming, one line. It is
    /// personal data, sealed with the user's data key in events.
    DisplayName, decode = DisplayName::from_stored
);
impl DisplayName {
    pub const MAX_CHARS: usize = 50;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "display name", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "display name", Self::MAX_CHARS).map(Self)
    }
}

string_newtype!(
    /// A team's name: 1–50 characters after trimming, one line. Not personal
    /// data: it names a group, so it is stored in clear.
    TeamName, decode = TeamName::from_stored
);
impl TeamName {
    pub const MAX_CHARS: usize = 50;
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "team name", Self::MAX_CHARS, TextKind::SingleLine).map(Self)
    }
    fn from_stored(raw: &str) -> Result<Self, InvalidValue> {
        stored_text(raw, "team name", Self::MAX_CHARS).map(Self)
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

/// A bounded text field of the domain: the name its messages use, its length
/// bound and whether it may span lines. The bounds live here, with the value
/// type, so every way in (HTTP, seed, demo) applies the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextField {
    name: &'static str,
    max_chars: usize,
    kind: TextKind,
}

impl TextField {
    pub const COMPANY: Self = Self::line("company", 200);
    pub const INDUSTRY: Self = Self::line("industry", 50);
    pub const POSITION: Self = Self::line("position", 100);
    pub const SOURCE: Self = Self::line("source", 50);
    pub const SUBJECT: Self = Self::line("subject", 200);
    pub const CATEGORY: Self = Self::line("category", 50);
    /// An activity's notes: typed in a multi-line box.
    pub const NOTES: Self = Self::free_text("notes", 5000);
    /// Why a deal was lost, a customer archived or their data erased.
    pub const REASON: Self = Self::free_text("reason", 500);
    /// What came of a follow-up, written when it is completed.
    pub const OUTCOME: Self = Self::free_text("outcome", 2000);

    const fn line(name: &'static str, max_chars: usize) -> Self {
        Self {
            name,
            max_chars,
            kind: TextKind::SingleLine,
        }
    }

    const fn free_text(name: &'static str, max_chars: usize) -> Self {
        Self {
            name,
            max_chars,
            kind: TextKind::FreeText,
        }
    }

    /// The field's name, as requests and messages spell it.
    pub fn name(self) -> &'static str {
        self.name
    }

    pub fn max_chars(self) -> usize {
        self.max_chars
    }

    /// Trims, checks the field's bound and applies the character rule.
    pub fn parse(self, raw: &str) -> Result<ShortText, InvalidValue> {
        match self.kind {
            TextKind::SingleLine => ShortText::parse_max(raw, self.name, self.max_chars),
            TextKind::FreeText => ShortText::parse_free_text_max(raw, self.name, self.max_chars),
        }
    }
}
