//! What a platform keeps on a key for itself: `meta`, a small JSON object
//! verify hands back, and `external_id`, its own id for whom the key
//! belongs to. Both are parsed here, once, by the doors and by the
//! dashboard's editor (which shows a JSON mistake at its line as it is
//! typed).

use super::name::is_invisible_format;
use crate::error::AppError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{value::RawValue, Value};

/// The most a key's `meta` may take, serialised.
pub const MAX_META_BYTES: usize = 4 * 1024;
/// How deep `meta` may nest: the top object is level 1.
pub const MAX_META_DEPTH: usize = 5;
/// The longest external id.
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;
/// Meta longer than this is named in the audit log by its digest.
pub const AUDITED_META_BYTES: usize = 256;

/// JSON as the wire carries it, kept as its text: a key's `meta` in the
/// views, the drafts and the verify answer. Read and written as it is,
/// never decoded into a tree on the way (the dashboard's list, which only
/// passes it along, carries no JSON-tree code for it).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetaJson(Box<RawValue>);

impl MetaJson {
    /// `None` for text that is not JSON.
    pub fn from_text(text: String) -> Option<Self> {
        RawValue::from_string(text).ok().map(MetaJson)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for MetaJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for MetaJson {}

/// A key's metadata, checked: a JSON object of at most [`MAX_META_BYTES`]
/// and [`MAX_META_DEPTH`] levels, kept as its compact text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMeta(String);

impl KeyMeta {
    /// Checks the `meta` a request gave.
    pub fn parse(json: &MetaJson) -> Result<KeyMeta, AppError> {
        let value: Value = serde_json::from_str(json.as_str())
            .map_err(|_| meta_error("meta must be a JSON object, like {\"plan\": \"pro\"}."))?;
        KeyMeta::check(value)
    }

    fn check(value: Value) -> Result<KeyMeta, AppError> {
        if !value.is_object() {
            return Err(meta_error(
                "meta must be a JSON object, like {\"plan\": \"pro\"}.",
            ));
        }
        if depth_of(&value) > MAX_META_DEPTH {
            return Err(meta_error(format!(
                "meta may nest at most {MAX_META_DEPTH} levels deep."
            )));
        }
        let text = value.to_string();
        if text.len() > MAX_META_BYTES {
            return Err(meta_error(format!(
                "meta takes {} bytes as JSON; at most {MAX_META_BYTES} are kept.",
                text.len()
            )));
        }
        Ok(KeyMeta(text))
    }

    /// Parses what a person typed: empty text is no metadata; a mistake is
    /// told with its line and column.
    pub fn parse_text(text: &str) -> Result<Option<KeyMeta>, AppError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let value: Value = serde_json::from_str(text).map_err(|error| {
            meta_error(format!(
                "Line {}, column {}: {}.",
                error.line(),
                error.column(),
                reason(&error)
            ))
        })?;
        KeyMeta::check(value).map(Some)
    }

    /// Reads what was stored (written by [`KeyMeta::as_str`]).
    pub fn from_stored(text: &str) -> KeyMeta {
        KeyMeta(text.to_owned())
    }

    /// The compact JSON text, as stored and as verify answers it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_json(&self) -> MetaJson {
        MetaJson::from_text(self.0.clone()).expect("checked meta is JSON")
    }

    /// Indented, for a person to read and edit.
    pub fn pretty(&self) -> String {
        serde_json::from_str::<Value>(&self.0)
            .and_then(|value| serde_json::to_string_pretty(&value))
            .unwrap_or_else(|_| self.0.clone())
    }
}

/// serde_json's message without its own "at line L column C".
fn reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

fn meta_error(message: impl Into<String>) -> AppError {
    AppError::field("meta", message.into())
}

/// The levels of arrays and objects in `value`: a scalar is 0, `{}` is 1.
fn depth_of(value: &Value) -> usize {
    match value {
        Value::Object(fields) => 1 + fields.values().map(depth_of).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// The platform's own id for whom a key belongs to: 1 to 256 printable
/// characters, compared exactly (so no spaces at either end).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(raw: &str) -> Result<ExternalId, AppError> {
        let refuse = |message: String| Err(AppError::field("external_id", message));
        if raw.is_empty() {
            return refuse("Give an external id, or leave it out.".into());
        }
        if raw.chars().count() > MAX_EXTERNAL_ID_CHARS {
            return refuse(format!(
                "An external id can be at most {MAX_EXTERNAL_ID_CHARS} characters."
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c) || is_private_use(c))
        {
            return refuse(
                "An external id takes printable characters only (no line breaks, control or invisible characters).".into(),
            );
        }
        if raw.trim() != raw {
            return refuse("An external id cannot start or end with a space.".into());
        }
        Ok(ExternalId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters with no meaning but one agreed privately (they print as a
/// box), and the code points that are not characters at all.
fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{FDD0}'..='\u{FDEF}' | '\u{F0000}'..='\u{10FFFF}')
        || (c as u32 & 0xFFFE) == 0xFFFE
}

/// For a field of a change that may be left out (unchanged), `null`
/// (cleared) or given: `None`, `Some(None)`, `Some(Some(_))`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(value: Value) -> MetaJson {
        MetaJson::from_text(value.to_string()).unwrap()
    }

    fn refusal(value: Value) -> String {
        KeyMeta::parse(&wire(value))
            .unwrap_err()
            .field_message("meta")
            .unwrap()
            .to_owned()
    }

    #[test]
    fn meta_is_an_object_of_at_most_4_kb_and_5_levels() {
        let meta =
            KeyMeta::parse(&wire(json!({ "plan": "pro", "limits": { "seats": 5 } }))).unwrap();
        assert_eq!(meta.as_str(), r#"{"limits":{"seats":5},"plan":"pro"}"#);
        assert_eq!(KeyMeta::from_stored(meta.as_str()), meta);
        for not_an_object in [json!([1]), json!("pro"), json!(3), json!(null)] {
            assert!(refusal(not_an_object).contains("must be a JSON object"));
        }
        let five = json!({ "a": { "b": { "c": { "d": [1] } } } });
        assert!(KeyMeta::parse(&wire(five)).is_ok());
        let six = json!({ "a": { "b": { "c": { "d": [[1]] } } } });
        assert!(refusal(six).contains("at most 5 levels"));
        let just_fits = json!({ "k": "x".repeat(MAX_META_BYTES - 8) });
        assert_eq!(
            KeyMeta::parse(&wire(just_fits)).unwrap().as_str().len(),
            MAX_META_BYTES
        );
        let too_big = json!({ "k": "x".repeat(MAX_META_BYTES - 7) });
        assert!(refusal(too_big).contains("4097 bytes"));
    }

    #[test]
    fn typed_meta_is_told_its_mistake_at_its_line() {
        assert_eq!(KeyMeta::parse_text("  \n").unwrap(), None);
        let typed = KeyMeta::parse_text("{\n  \"plan\": \"pro\"\n}")
            .unwrap()
            .unwrap();
        assert_eq!(typed.as_str(), r#"{"plan":"pro"}"#);
        assert_eq!(typed.pretty(), "{\n  \"plan\": \"pro\"\n}");
        let error = KeyMeta::parse_text("{\n  \"plan\": \"pro\",\n  seats: 5\n}").unwrap_err();
        assert_eq!(
            error.field_message("meta").unwrap(),
            "Line 3, column 3: key must be a string."
        );
        let error = KeyMeta::parse_text("[1, 2]").unwrap_err();
        assert!(error
            .field_message("meta")
            .unwrap()
            .contains("must be a JSON object"));
    }

    #[test]
    fn an_external_id_is_1_to_256_printable_characters_taken_exactly() {
        assert_eq!(ExternalId::parse("cust_42").unwrap().as_str(), "cust_42");
        assert!(ExternalId::parse("Zürich AG / 42").is_ok());
        assert!(ExternalId::parse(&"x".repeat(256)).is_ok());
        assert!(ExternalId::parse("客户-42 ✓").is_ok());
        let unprintable = [
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{00AD}b",
            "a\u{2060}b",
            "a\u{E0041}b",
            "a\u{E000}b",
            "a\u{FFFF}b",
            "a\u{10FFFD}b",
        ];
        for bad in ["", " cust", "cust ", "a\nb", "a\u{200B}b", &"x".repeat(257)]
            .into_iter()
            .chain(unprintable)
        {
            let error = ExternalId::parse(bad).unwrap_err();
            assert!(error.field_message("external_id").is_some(), "{bad:?}");
        }
    }

    #[test]
    fn a_change_tells_a_field_left_out_from_one_cleared() {
        #[derive(Deserialize)]
        struct Change {
            #[serde(default, deserialize_with = "present")]
            external_id: Option<Option<String>>,
        }
        let left_out: Change = serde_json::from_str("{}").unwrap();
        assert_eq!(left_out.external_id, None);
        let cleared: Change = serde_json::from_str(r#"{"external_id": null}"#).unwrap();
        assert_eq!(cleared.external_id, Some(None));
        let given: Change = serde_json::from_str(r#"{"external_id": "c"}"#).unwrap();
        assert_eq!(given.external_id, Some(Some("c".into())));
    }
}
