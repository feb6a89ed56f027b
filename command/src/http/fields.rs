//! Field-level parsing shared by the request bodies: an error collector, so a
//! client learns every problem at once, and the parser of amounts.

use serde_json::Value;

use events::values::{InvalidValue, Money, ShortText, TextField};
use web::problem::FieldErrors;
use web::ApiError;

/// Collects field errors so a client learns every problem at once.
#[derive(Default)]
pub(super) struct Fields {
    errors: FieldErrors,
}

impl Fields {
    pub(super) fn check<T>(&mut self, field: &str, result: Result<T, InvalidValue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(InvalidValue(message)) => {
                self.errors
                    .entry(field.to_owned())
                    .or_default()
                    .push(message);
                None
            }
        }
    }

    pub(super) fn optional<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        raw.and_then(|raw| self.check(field, parse(raw)))
    }

    /// A bounded text field (company, subject, notes...), if present.
    pub(super) fn text(&mut self, field: TextField, raw: Option<&str>) -> Option<ShortText> {
        self.optional(field.name(), raw, |raw| field.parse(raw))
    }

    pub(super) fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(unprocessable(self.errors));
        }
        value().ok_or_else(|| ApiError::internal("a parsed field went missing"))
    }
}

fn unprocessable(errors: FieldErrors) -> ApiError {
    let message = errors
        .iter()
        .map(|(field, messages)| format!("{field}: {}", messages.join("; ")))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::Unprocessable { message, errors }
}

pub(super) fn amount(raw: &Value, positive: bool) -> Result<Money, InvalidValue> {
    let decimal = match raw {
        Value::String(text) => Money::parse_text(text)?,
        Value::Number(number) => Money::parse_text(&number.to_string())?,
        _ => return Err(InvalidValue("must be a decimal number or string".into())),
    };
    if positive {
        Money::positive(decimal)
    } else {
        Money::non_negative(decimal)
    }
}
