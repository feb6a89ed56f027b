//! Which deliveries an endpoint wants: a list of event types, each
//!
//! - a CloudEvents type of the log, exactly as the envelope names it
//!   (`crm.customer.stage_moved.v1`);
//! - a family wildcard (`crm.customer.*`: every event of the family, in every
//!   version, also types added later);
//! - a kind of delivery that is not an event of the log, from
//!   [`OTHER_KINDS`] (reminders add `crm.reminder.due` there, and write their
//!   deliveries with [`crate::outbox::enqueue`]).
//!
//! A delivery matches when the endpoint's list holds its type or its
//! family's wildcard; the match is done in SQL with the array overlap
//! operator on exactly these two strings ([`match_keys`]).

use events::family::{stored_type, FAMILIES};

/// Delivery kinds that are not events of the log. Empty until the reminders
/// deliver to webhooks; adding `"crm.reminder.due"` here (and calling
/// [`crate::outbox::enqueue`]) is all that takes.
pub const OTHER_KINDS: &[&str] = &[REMINDER_DUE];

/// A follow-up's reminder fired (`notify::scheduler`): one delivery per
/// notification, its id `reminder:<notification key>`.
pub const REMINDER_DUE: &str = "crm.reminder.due";

/// The most event types an endpoint may list.
pub const MAX_EVENT_TYPES: usize = 64;

/// Checks and normalises an endpoint's list: each entry known, no repeats
/// (kept in the given order). The message names the first bad entry.
pub fn parse_event_types(given: &[String]) -> Result<Vec<String>, String> {
    if given.is_empty() {
        return Err(
            "name at least one event type (e.g. crm.customer.* or crm.customer.stage_moved.v1)"
                .to_owned(),
        );
    }
    if given.len() > MAX_EVENT_TYPES {
        return Err(format!("at most {MAX_EVENT_TYPES} event types"));
    }
    let mut kept: Vec<String> = Vec::with_capacity(given.len());
    for entry in given {
        if !is_known(entry) {
            return Err(format!(
                "{entry:?} is not an event type: use a CloudEvents type such as \
                 crm.customer.stage_moved.v1, or a family such as crm.customer.*"
            ));
        }
        if !kept.contains(entry) {
            kept.push(entry.clone());
        }
    }
    Ok(kept)
}

fn is_known(entry: &str) -> bool {
    if OTHER_KINDS.contains(&entry) {
        return true;
    }
    if let Some(segment) = entry
        .strip_prefix("crm.")
        .and_then(|rest| rest.strip_suffix(".*"))
    {
        return FAMILIES.iter().any(|family| family.segment == segment);
    }
    // Only the versions this build writes: a subscription to a version that
    // does not exist would silently never match.
    stored_type(entry).is_some_and(|(_, _, version)| version == events::customer::V1)
}

/// The two strings an endpoint's list is matched against for a delivery of
/// `event_type`: the type itself and its family's wildcard.
pub fn match_keys(event_type: &str) -> [String; 2] {
    let family = event_type
        .strip_prefix("crm.")
        .and_then(|rest| rest.split_once('.'))
        .map_or_else(String::new, |(segment, _)| format!("crm.{segment}.*"));
    [event_type.to_owned(), family]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> Result<Vec<String>, String> {
        parse_event_types(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn types_families_and_nothing_else() {
        assert_eq!(
            parse(&[
                "crm.customer.stage_moved.v1",
                "crm.team.*",
                "crm.customer.stage_moved.v1"
            ]),
            Ok(vec![
                "crm.customer.stage_moved.v1".to_owned(),
                "crm.team.*".to_owned()
            ])
        );
        assert!(parse(&["crm.follow_up.*"]).is_ok());
        assert!(parse(&["crm.reminder.due"]).is_ok());
        for bad in [
            "crm.*",
            "crm.order.*",
            "crm.customer.stage_moved.v2",
            "crm.customer.nope.v1",
            "*",
            "crm.reminder.other",
            "",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn a_type_matches_itself_and_its_family() {
        assert_eq!(
            match_keys("crm.customer.stage_moved.v1"),
            [
                "crm.customer.stage_moved.v1".to_owned(),
                "crm.customer.*".to_owned()
            ]
        );
    }
}
