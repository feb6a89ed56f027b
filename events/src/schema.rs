//! JSON Schemas (draft 2020-12) of what analysts and Kafka consumers receive,
//! generated from the types: one for the CloudEvents envelope
//! ([`CloudEvent`]) and one per event type for the envelope's `data` member
//! (the payload structs of [`CustomerEvent`], [`UserEvent`], [`TeamEvent`]
//! and [`FollowUpEvent`](crate::follow_up::FollowUpEvent), one
//! [`EventFamily`] each).
//!
//! The derives (`utoipa::ToSchema`) describe the structs; this module adds the
//! wire form of the value newtypes (their constraints, as their constructors
//! enforce them) and of personal fields, and turns utoipa's OpenAPI schemas
//! into self-contained JSON Schema documents (`$defs` for referenced types).
//! `schema/json/` holds the output; `events/tests/json_schema.rs` fails when
//! it drifts (`UPDATE_SCHEMAS=1 cargo test -p events --test json_schema`
//! rewrites it).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::customer::V1;
use crate::envelope::CloudEvent;
use crate::values::{Money, OrderRef, Probability, ShortText, Tag, TeamName, UserId};

/// The meta-schema every document declares.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// File name of the envelope's schema in `schema/json/`.
pub const ENVELOPE_FILE: &str = "cloudevent.schema.json";

/// Rust's `char::is_whitespace` (what `trim` removes), spelled out because
/// `\s` differs between regular expression engines.
const WHITE_SPACE: &str = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// `char::is_control`.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// Trimmed (no leading or trailing white space), no control characters.
fn trimmed_no_control() -> String {
    format!("^[^{WHITE_SPACE}{CONTROL}](?:[^{CONTROL}]*[^{WHITE_SPACE}{CONTROL}])?$")
}

/// Trimmed (no leading or trailing white space).
fn trimmed() -> String {
    format!(r"^[^{WHITE_SPACE}](?:[\s\S]*[^{WHITE_SPACE}])?$")
}

pub use crate::family::{EventFamily, CUSTOMER, FAMILIES, FOLLOW_UP, TEAM, USER};

/// The file in `schema/json/` describing `data` for a CloudEvents `type`.
pub fn data_file(cloud_type: &str) -> String {
    format!("{cloud_type}.schema.json")
}

/// Every schema document, as `(file name in schema/json/, document)`: the
/// envelope first, then one per event type of each of [`FAMILIES`], in that
/// order.
pub fn documents() -> Vec<(String, Value)> {
    let mut documents = vec![(ENVELOPE_FILE.to_owned(), envelope_document())];
    for family in FAMILIES {
        documents.extend(family_documents(&family));
    }
    documents
}

/// One document per event type of `family`, in the order of its event types.
fn family_documents(family: &EventFamily) -> Vec<(String, Value)> {
    let mut documents = Vec::new();
    let mut collected = Vec::new();
    (family.schemas)(&mut collected);
    let schemas: BTreeMap<String, Value> = collected
        .into_iter()
        .map(|(name, schema)| (name, to_json(&schema)))
        .collect();
    for &name in family.event_types {
        let cloud = family.cloud_type(name);
        let root = schemas.get(name).cloned().unwrap_or_else(|| {
            panic!(
                "{name} is a {} event type but {}Event has no variant with that payload",
                family.aggregate_type, family.aggregate_type
            )
        });
        let description = format!(
            "The `data` member of `{cloud}` events (stored as `{name}` v{V1}). Personal fields \
             are sealed on Kafka and withheld or erased on the HTTP stream; never in clear."
        );
        documents.push((
            data_file(&cloud),
            document(
                &format!("urn:crm:schema:{cloud}"),
                name,
                &description,
                root,
                &schemas,
            ),
        ));
    }
    documents
}

fn envelope_document() -> Value {
    let mut root = to_json(&CloudEvent::schema());
    // What `CloudEvent::from_stored` always produces, beyond the field types.
    let properties = &mut root["properties"];
    properties["specversion"]["const"] = json!("1.0");
    properties["datacontenttype"]["const"] = json!("application/json");
    let segments: Vec<&str> = FAMILIES.iter().map(|family| family.segment).collect();
    properties["type"]["pattern"] = json!(format!(
        r"^crm\.({})\.[a-z_]+\.v[1-9][0-9]*$",
        segments.join("|")
    ));
    properties["type"]["examples"] = json!(FAMILIES
        .iter()
        .flat_map(|family| family
            .event_types
            .iter()
            .map(|name| family.cloud_type(name)))
        .collect::<Vec<_>>());
    properties["source"]["pattern"] =
        json!("^urn:crm:tenant:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
    properties["hash"]["pattern"] = json!("^[0-9a-f]{64}$");
    properties["sequence"]["minimum"] = json!(1);
    properties["position"]["minimum"] = json!(1);
    let description = "An event (of a customer, a user or a team) as analysts and Kafka \
         consumers receive it: CloudEvents 1.0, structured JSON mode, with the store's `sequence`, `position` and `hash` and the \
         extension attributes `tenantid`, `actor` and `recordedtime`. `data` is described per \
         `type` by `<type>.schema.json` beside this file.";
    let mut collected = Vec::new();
    CloudEvent::schemas(&mut collected);
    let defs = collected
        .into_iter()
        .map(|(name, schema)| (name, to_json(&schema)))
        .collect();
    document(
        "urn:crm:schema:cloudevent",
        "CloudEvent",
        description,
        root,
        &defs,
    )
}

/// A self-contained document: `root` with `$defs` holding every schema it
/// references (transitively), references rewritten to `#/$defs/<name>`.
fn document(
    id: &str,
    title: &str,
    description: &str,
    root: Value,
    schemas: &BTreeMap<String, Value>,
) -> Value {
    let mut needed = BTreeSet::new();
    let mut pending = references(&root);
    while let Some(name) = pending.pop() {
        if needed.insert(name.clone()) {
            let schema = schemas
                .get(&name)
                .unwrap_or_else(|| panic!("schema {name} is referenced but was not collected"));
            pending.extend(references(schema));
        }
    }
    let mut document = Map::new();
    document.insert("$schema".into(), json!(DRAFT_2020_12));
    document.insert("$id".into(), json!(id));
    document.insert("title".into(), json!(title));
    let own = root.get("description").and_then(Value::as_str);
    let description = match own {
        Some(own) => format!("{description}\n\n{own}"),
        None => description.to_owned(),
    };
    let Value::Object(root) = root else {
        panic!("{title}: the root schema is not an object")
    };
    document.extend(root);
    document.insert("description".into(), json!(description));
    if !needed.is_empty() {
        let defs: Map<String, Value> = needed
            .into_iter()
            .map(|name| {
                let schema = schemas[&name].clone();
                (name, schema)
            })
            .collect();
        document.insert("$defs".into(), Value::Object(defs));
    }
    let mut document = Value::Object(document);
    rewrite_references(&mut document);
    canonical(document)
}

const COMPONENTS: &str = "#/components/schemas/";

fn references(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("$ref") {
                    if let Some(name) = target.strip_prefix(COMPONENTS) {
                        found.push(name.to_owned());
                    }
                }
                stack.extend(fields.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

fn rewrite_references(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match field {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix(COMPONENTS) {
                            *target = format!("#/$defs/{name}");
                        }
                    }
                    _ => rewrite_references(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_references),
        _ => {}
    }
}

/// Keys in sorted order whatever `serde_json`'s map type, so the files do not
/// depend on feature unification.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let sorted: BTreeMap<String, Value> = fields
                .into_iter()
                .map(|(key, field)| (key, canonical(field)))
                .collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn to_json<T: serde::Serialize>(schema: &T) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// The wire form of the value types (what their constructors let through).

fn text(description: &str, max_chars: usize, pattern: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(pattern))
        .into()
}

macro_rules! text_schema {
    ($type:ty, $max:expr, $pattern:expr, $description:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                text($description, $max, $pattern)
            }
        }
        impl ToSchema for $type {}
    };
}

text_schema!(
    Tag,
    Tag::MAX_CHARS,
    trimmed_no_control(),
    "A tag: 1–32 characters, trimmed, no control characters."
);
text_schema!(
    ShortText,
    10_000,
    trimmed(),
    "Free text (company, industry, subject, notes, category, reason...): 1–10,000 characters, \
     trimmed; commands apply tighter per-field bounds."
);
text_schema!(
    UserId,
    64,
    trimmed_no_control(),
    "A user id (the JWT `sub` claim): 1–64 characters, trimmed, no control characters."
);
text_schema!(
    TeamName,
    TeamName::MAX_CHARS,
    trimmed_no_control(),
    "A team's name: 1–50 characters, trimmed, no control characters."
);
text_schema!(
    OrderRef,
    64,
    trimmed_no_control(),
    "An external order reference (purchases are idempotent per customer and reference): \
     1–64 characters, trimmed, no control characters."
);
impl PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An amount in yuan as a decimal string with exactly two decimal places \
                 (`\"1234.50\"`), never a float; 0 to 1,000,000,000,000.",
            ))
            .pattern(Some(
                r"^(?:(?:0|[1-9][0-9]{0,11})\.[0-9]{2}|1000000000000\.00)$",
            ))
            .examples(["1234.50"])
            .into()
    }
}
impl ToSchema for Money {}

impl PartialSchema for Probability {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "A probability between 0 and 1, at most four decimal places.",
            ))
            .minimum(Some(0))
            .maximum(Some(1))
            .into()
    }
}
impl ToSchema for Probability {}

/// Helpers the event modules' tests share.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every sample of `type_name` serialises as `{"<type_name>": {...}}` and
    /// reads back equal.
    pub(crate) fn round_trips<E>(samples: &[E], type_name: &str, name_of: fn(&E) -> &'static str)
    where
        E: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let mut seen = 0;
        for event in samples.iter().filter(|event| name_of(event) == type_name) {
            let json = serde_json::to_value(event).expect("serialise");
            let tags: Vec<&String> = json.as_object().expect("an object").keys().collect();
            assert_eq!(tags, [type_name], "tagged with its type name");
            let back: E = serde_json::from_value(json).expect("deserialise");
            assert_eq!(&back, event);
            seen += 1;
        }
        assert!(seen > 0, "no sample of {type_name}");
    }

    pub(crate) fn validator(document: &Value) -> jsonschema::Validator {
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(document)
            .expect("a valid schema")
    }

    pub(crate) fn data_document(family: &EventFamily, type_name: &str) -> Value {
        let file = data_file(&family.cloud_type(type_name));
        documents()
            .into_iter()
            .find_map(|(name, document)| (name == file).then_some(document))
            .unwrap_or_else(|| panic!("no document {file}"))
    }

    /// Every stored payload (`(type name, {"<type name>": data})`) validates
    /// against its `data` schema, which declares each of its members; every
    /// event type of `family` has a sample.
    pub(crate) fn assert_samples_match_schemas(
        family: &EventFamily,
        stored: impl Iterator<Item = (&'static str, Value)>,
    ) {
        let mut seen = BTreeSet::new();
        for (type_name, payload) in stored {
            let document = data_document(family, type_name);
            assert_eq!(document["title"], type_name);
            let data = &payload[type_name];
            let problems: Vec<String> = validator(&document)
                .iter_errors(data)
                .map(|error| format!("{error} at {}", error.instance_path()))
                .collect();
            assert!(problems.is_empty(), "{type_name}: {data:#}\n{problems:#?}");
            for member in data.as_object().expect("data is an object").keys() {
                let declared = document["properties"].get(member).is_some();
                assert!(declared, "{type_name} does not declare `{member}`");
            }
            seen.insert(type_name);
        }
        for type_name in family.event_types {
            assert!(seen.contains(type_name), "no sample of {type_name}");
        }
    }

    #[test]
    fn no_two_event_types_share_a_cloud_type() {
        let mut all: Vec<String> = FAMILIES
            .iter()
            .flat_map(|family| {
                family
                    .event_types
                    .iter()
                    .map(|name| family.cloud_type(name))
            })
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(
            all.len(),
            count,
            "no two event types share a CloudEvents type"
        );
    }
}
