//! How to reach a customer: phone numbers and e-mail addresses.

use super::chars::{check_chars, check_stored_controls, TextKind};
use super::{invalid, InvalidValue};

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
