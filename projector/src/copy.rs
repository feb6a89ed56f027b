//! How projections write rows. A rebuild's bulk phase uses `COPY … FROM
//! STDIN` in PostgreSQL's text format, which costs the server a fraction of
//! parsing the same rows out of a JSON document; everything else inserts one
//! JSON document per table. Both store text in the form PostgreSQL can
//! ([`crate::storable`]).

use std::fmt::{Display, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use sqlx::PgConnection;

/// What a batch may find in the tables it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Rows of the batch's customers may exist (live projection, replays, a
    /// rebuild's catch-up): they are read, folded further and replaced.
    Existing,
    /// A rebuild's bulk phase: every stream in the batch is whole and none of
    /// its rows exists yet, so nothing is read back or deleted, and totals
    /// over many customers are computed once at the end instead of per batch.
    Fresh,
}

/// Inserts rows serialised as one JSON array (one round trip per table).
pub(crate) async fn insert_json<T: Serialize>(
    conn: &mut PgConnection,
    table: &str,
    rows: &[T],
    ignore_duplicates: bool,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let json =
        crate::storable::to_json(rows).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let conflict = if ignore_duplicates {
        " ON CONFLICT DO NOTHING"
    } else {
        ""
    };
    sqlx::query(&format!(
        "INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1::text::jsonb){conflict}"
    ))
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

/// A row type that knows its columns and writes itself as one COPY line.
pub(crate) trait CopyRow {
    /// The columns, in the order [`CopyRow::write`] writes them.
    const COLUMNS: &'static str;
    fn write(&self, line: &mut CopyText);
}

/// How COPY text writes a byte it treats specially, and U+0000, which
/// PostgreSQL cannot store: as [`crate::storable::REPLACEMENT`], like the
/// JSON path does.
fn copy_escape(byte: u8) -> Option<&'static str> {
    match byte {
        b'\0' => Some("\u{FFFD}"),
        b'\\' => Some("\\\\"),
        b'\t' => Some("\\t"),
        b'\n' => Some("\\n"),
        b'\r' => Some("\\r"),
        _ => None,
    }
}

/// COPY text: fields separated by tabs, rows by newlines, `\N` for NULL.
#[derive(Default)]
pub(crate) struct CopyText {
    buffer: String,
    row_started: bool,
}

impl CopyText {
    fn separate(&mut self) {
        if self.row_started {
            self.buffer.push('\t');
        }
        self.row_started = true;
    }

    /// Appends `value` with COPY's escapes (backslash, tab, newline, return, NUL),
    /// copying the runs between them whole: a rebuild writes millions of fields.
    fn escaped(&mut self, value: &str) {
        let mut rest = value;
        while let Some((index, escape)) = rest
            .bytes()
            .enumerate()
            .find_map(|(index, byte)| copy_escape(byte).map(|escape| (index, escape)))
        {
            self.buffer.push_str(&rest[..index]);
            self.buffer.push_str(escape);
            // The escaped byte is ASCII, so the next index is a char boundary.
            rest = &rest[index + 1..];
        }
        self.buffer.push_str(rest);
    }

    pub fn null(&mut self) {
        self.separate();
        self.buffer.push_str("\\N");
    }

    pub fn text(&mut self, value: &str) {
        self.separate();
        self.escaped(value);
    }

    pub fn optional_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    /// A value whose text form needs no escaping: numbers, UUIDs, decimals.
    pub fn plain(&mut self, value: impl Display) {
        self.separate();
        // Writing to a String cannot fail.
        let _ = write!(self.buffer, "{value}");
    }

    pub fn boolean(&mut self, value: bool) {
        self.plain(if value { 't' } else { 'f' });
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`, written field by field: chrono's
    /// `format` parses its pattern again for every value, which showed up in
    /// rebuild profiles.
    pub fn timestamp(&mut self, value: DateTime<Utc>) {
        self.separate();
        let (date, time) = (value.date_naive(), value.time());
        // Writing to a String cannot fail.
        let _ = write!(
            self.buffer,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
            date.year(),
            date.month(),
            date.day(),
            time.hour(),
            time.minute(),
            time.second(),
            time.nanosecond() % 1_000_000_000 / 1_000
        );
    }

    pub fn optional_timestamp(&mut self, value: Option<DateTime<Utc>>) {
        match value {
            Some(value) => self.timestamp(value),
            None => self.null(),
        }
    }

    /// A `text[]` literal: every element quoted, `"` and `\` escaped inside.
    pub fn text_array(&mut self, values: &[String]) {
        let mut literal = String::from("{");
        for (index, value) in values.iter().enumerate() {
            if index > 0 {
                literal.push(',');
            }
            literal.push('"');
            for character in value.chars() {
                if matches!(character, '"' | '\\') {
                    literal.push('\\');
                }
                literal.push(character);
            }
            literal.push('"');
        }
        literal.push('}');
        self.text(&literal);
    }

    /// An integer array literal.
    pub fn integer_array<T: Display>(&mut self, values: &[T]) {
        self.separate();
        self.buffer.push('{');
        for (index, value) in values.iter().enumerate() {
            if index > 0 {
                self.buffer.push(',');
            }
            let _ = write!(self.buffer, "{value}");
        }
        self.buffer.push('}');
    }

    fn end_row(&mut self) {
        self.buffer.push('\n');
        self.row_started = false;
    }
}

/// Writes `rows` into `table` with one COPY.
pub(crate) async fn copy_rows<'a, T: CopyRow + 'a>(
    conn: &mut PgConnection,
    table: &str,
    rows: impl IntoIterator<Item = &'a T>,
) -> Result<(), sqlx::Error> {
    let mut text = CopyText::default();
    for row in rows {
        row.write(&mut text);
        text.end_row();
    }
    if text.buffer.is_empty() {
        return Ok(());
    }
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", T::COLUMNS))
        .await?;
    copy.send(text.buffer.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(write: impl FnOnce(&mut CopyText)) -> String {
        let mut text = CopyText::default();
        write(&mut text);
        text.end_row();
        text.buffer
    }

    #[test]
    fn text_escapes_what_copy_treats_specially() {
        assert_eq!(line(|t| t.text("a\tb\nc\rd\\e")), "a\\tb\\nc\\rd\\\\e\n");
    }

    #[test]
    fn nul_is_stored_as_the_replacement_character() {
        assert_eq!(
            line(|t| t.text("a\u{0}b")),
            format!("a{}b\n", crate::storable::REPLACEMENT)
        );
        assert_eq!(
            line(|t| t.text_array(&["\u{0}".to_owned()])),
            "{\"\u{fffd}\"}\n"
        );
    }

    #[test]
    fn null_and_fields_are_tab_separated() {
        assert_eq!(
            line(|t| {
                t.plain(7);
                t.optional_text(None);
                t.boolean(true);
            }),
            "7\t\\N\tt\n"
        );
    }

    #[test]
    fn array_elements_are_quoted_and_escaped_twice() {
        // Array quoting first (\" and \\), then COPY's backslash escaping.
        assert_eq!(
            line(|t| t.text_array(&["重点".to_owned(), "a\"b\\c".to_owned()])),
            "{\"重点\",\"a\\\\\"b\\\\\\\\c\"}\n"
        );
        assert_eq!(line(|t| t.text_array(&[])), "{}\n");
        assert_eq!(line(|t| t.integer_array(&[1_i64, -2])), "{1,-2}\n");
    }

    #[test]
    fn text_without_specials_is_copied_as_it_is() {
        assert_eq!(line(|t| t.text("张三 科技")), "张三 科技\n");
        assert_eq!(line(|t| t.text("")), "\n");
        assert_eq!(line(|t| t.text("\\张\t")), "\\\\张\\t\n");
    }

    #[test]
    fn timestamps_keep_microseconds_in_utc_and_pad_every_field() {
        for (rfc3339, copy) in [
            (
                "2026-11-25T09:30:00.123456+08:00",
                "2026-11-25 01:30:00.123456+00\n",
            ),
            (
                "0987-01-02T03:04:05.000007Z",
                "0987-01-02 03:04:05.000007+00\n",
            ),
        ] {
            let instant = DateTime::parse_from_rfc3339(rfc3339)
                .expect("instant")
                .with_timezone(&Utc);
            assert_eq!(line(|t| t.timestamp(instant)), copy);
        }
    }
}
