//! The character rule every text value obeys, and the trimming and length
//! checks the text types share (see [the text rules](super#text)).

use super::{invalid, InvalidValue};

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

/// THE character rule (see [the module's text rules](super#text)): every
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
pub(super) fn check_stored_controls(text: &str, what: &str) -> Result<(), InvalidValue> {
    match refused_chars(text, TextKind::SingleLine).find(|r| r.refusal == Refusal::Control) {
        Some(refused) => Err(invalid(refused.message(what))),
        None => Ok(()),
    }
}

/// Trims and checks a character count (characters, not bytes: names are Chinese).
pub(super) fn trimmed_within<'a>(
    raw: &'a str,
    what: &str,
    max_chars: usize,
) -> Result<&'a str, InvalidValue> {
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
pub(super) fn bounded_text(
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
pub(super) fn stored_text(raw: &str, what: &str, max_chars: usize) -> Result<String, InvalidValue> {
    let trimmed = trimmed_within(raw, what, max_chars)?;
    check_stored_controls(trimmed, what)?;
    Ok(trimmed.to_owned())
}
