//! Text in the form PostgreSQL can store.
//!
//! The log holds whatever the command side accepted, including text from
//! older versions that accepted more (and personal fields, which are sealed
//! in the log, so the store never saw their clear text). PostgreSQL's `text`
//! cannot hold U+0000 and `jsonb` refuses the escape `\u0000`; every other
//! character a Rust string can hold (lone surrogates cannot be one; opening a
//! sealed field decodes invalid UTF-8 lossily, as U+FFFD) is storable. So the
//! read models store U+0000 as U+FFFD (REPLACEMENT CHARACTER), and every way
//! rows reach PostgreSQL — JSON documents (live projection, Kafka-fed
//! projector, catch-up) and COPY text (rebuild) — goes through this module,
//! which keeps replays and rebuilds equal to the live result.

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

/// What a character PostgreSQL cannot store becomes in the read models.
pub const REPLACEMENT: char = '\u{FFFD}';

/// The JSON escape of [`REPLACEMENT`], written where serde_json would write `\u0000`.
const REPLACEMENT_ESCAPE: &[u8] = b"\\ufffd";

/// Compact JSON whose strings hold [`REPLACEMENT`] wherever the value held U+0000.
struct StorableJson;

impl Formatter for StorableJson {
    fn write_char_escape<W>(&mut self, writer: &mut W, escape: CharEscape) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        match escape {
            CharEscape::AsciiControl(0) => writer.write_all(REPLACEMENT_ESCAPE),
            other => CompactFormatter.write_char_escape(writer, other),
        }
    }
}

/// `value` as a JSON document `jsonb` accepts (see the module documentation).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        StorableJson,
    ))?;
    // serde_json writes only UTF-8.
    String::from_utf8(out).map_err(|error| serde::ser::Error::custom(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character_and_nothing_else_changes() {
        let value = serde_json::json!({
            "notes": "a\u{0}b", "other": "\u{1}\t\n\"\\\u{7f}\u{ffff}\u{200f}张",
        });
        let json = to_json(&value).expect("json");
        let back: serde_json::Value = serde_json::from_str(&json).expect("parses");
        assert_eq!(back["notes"], "a\u{fffd}b");
        assert_eq!(back["other"], value["other"]);
        assert_eq!(
            to_json(&serde_json::json!(["plain"])).expect("json"),
            serde_json::to_string(&serde_json::json!(["plain"])).expect("json"),
            "the same bytes as serde_json's compact form otherwise"
        );
    }
}
