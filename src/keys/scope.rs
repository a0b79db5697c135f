//! Scope names and sets, as a key holds them and the dashboard shows them.
//! Which names exist and what each implies is the operator's catalogue
//! (`catalogue.rs`, on the server); this is the part the browser shares.

use crate::error::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest scope name; longer input names nothing.
pub const MAX_NAME_CHARS: usize = 64;
/// The most scopes one request may name (a key, or what verify requires).
pub const MAX_PER_REQUEST: usize = 100;

/// A permission's name: a lowercase word (`fetch`, `admin`) or
/// `resource:action` (`read:assets`, `keys:write`), of letters, digits,
/// `_`, `-` and `.`, each part starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Scope(String);

impl Scope {
    /// `None` unless `raw` (trimmed) is a well-formed name.
    pub fn parse(raw: &str) -> Option<Scope> {
        let raw = raw.trim();
        let well_formed = raw.len() <= MAX_NAME_CHARS
            && !raw.is_empty()
            && raw.split(':').count() <= 2
            && raw.split(':').all(is_word);
        well_formed.then(|| Scope(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What an API key must hold (directly or by implication) to read its
    /// account's audit log: `admin`, whatever else the catalogue offers.
    pub fn audit_log() -> Scope {
        Scope("admin".to_owned())
    }
}

fn is_word(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

/// What a malformed name is told, wherever it was given.
pub const NAME_RULE: &str =
    "a scope is a lowercase word or resource:action (letters, digits, _ . -), e.g. read:assets";

impl TryFrom<String> for Scope {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Scope::parse(&raw)
            .ok_or_else(|| format!("{:?} is not a scope name: {NAME_RULE}", clip(&raw)))
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.0
    }
}

/// A scope is found in a catalogue's index by its name, without a copy.
impl std::borrow::Borrow<str> for Scope {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scope names, sorted and without repeats. Whether each is
/// offered, and what it grants, is the catalogue's to say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses names as a request gave them (`field` names the request's
    /// field in the error): each well formed, at most [`MAX_PER_REQUEST`].
    pub fn parse_field<S: AsRef<str>>(raw: &[S], field: &str) -> Result<Self, AppError> {
        if raw.len() > MAX_PER_REQUEST {
            return Err(AppError::field(
                field,
                format!("Name at most {MAX_PER_REQUEST} scopes."),
            ));
        }
        let mut scopes = Vec::with_capacity(raw.len());
        for name in raw {
            let name = name.as_ref();
            let scope = Scope::parse(name).ok_or_else(|| {
                AppError::field(
                    field,
                    format!("{:?} is not a scope name: {NAME_RULE}.", clip(name)),
                )
            })?;
            scopes.push(scope);
        }
        scopes.sort();
        scopes.dedup();
        Ok(Scopes(scopes))
    }

    /// The stored form: names separated by single spaces.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form; names that are not well formed (only a
    /// hand-edited row holds any) are left out.
    pub fn from_text(text: &str) -> Self {
        let mut scopes: Vec<Scope> = text.split_whitespace().filter_map(Scope::parse).collect();
        scopes.sort();
        scopes.dedup();
        Scopes(scopes)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> + '_ {
        self.0.iter()
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.binary_search(scope).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.0.clone()).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut scopes: Vec<Scope> = iter.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Scopes(scopes)
    }
}

/// A name as an error message quotes it: short enough to read.
pub fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One permission of a catalogue, as the dialogs and the API page show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PermissionView {
    pub name: Scope,
    pub description: String,
    /// Where the dialogs list it; `None` lists it with the ungrouped.
    pub group: Option<String>,
    /// Every permission holding this one grants besides itself, directly
    /// or through others, in catalogue order.
    pub implies: Vec<Scope>,
}

impl PermissionView {
    /// `search, read`: what it grants besides itself, if anything.
    pub fn implies_text(&self) -> Option<String> {
        (!self.implies.is_empty()).then(|| {
            self.implies
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

/// A catalogue as the browser sees it: its permissions in the order the
/// operator declared them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogueView {
    pub permissions: Vec<PermissionView>,
}

impl CatalogueView {
    /// The permissions by group, groups in the order they first appear;
    /// ungrouped permissions form a group named `None`.
    pub fn groups(&self) -> Vec<(Option<&str>, Vec<&PermissionView>)> {
        let mut groups: Vec<(Option<&str>, Vec<&PermissionView>)> = Vec::new();
        for permission in &self.permissions {
            let group = permission.group.as_deref();
            match groups.iter_mut().find(|(name, _)| *name == group) {
                Some((_, members)) => members.push(permission),
                None => groups.push((group, vec![permission])),
            }
        }
        groups
    }

    pub fn offers(&self, scope: &Scope) -> bool {
        self.permissions.iter().any(|p| &p.name == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_a_word_or_resource_colon_action() {
        for good in [
            "read",
            "fetch",
            "read:assets",
            "keys:write",
            "v2.files:read-all",
            "a_b",
        ] {
            assert_eq!(Scope::parse(good).unwrap().as_str(), good, "{good}");
        }
        assert_eq!(Scope::parse("  read ").unwrap().as_str(), "read");
        for bad in [
            "",
            "Read",
            "read assets",
            "a:b:c",
            ":read",
            "read:",
            "1read",
            "read:*",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sets_are_sorted_deduplicated_and_round_trip_through_text() {
        let scopes = Scopes::parse_field(&["write", " read", "read"], "scopes").unwrap();
        assert_eq!(scopes.to_text(), "read write");
        assert_eq!(Scopes::from_text(&scopes.to_text()), scopes);
        assert!(scopes.contains(&Scope::parse("read").unwrap()));
        assert!(!scopes.contains(&Scope::parse("admin").unwrap()));
    }

    #[test]
    fn a_malformed_name_or_too_many_are_refused_naming_the_field() {
        let error = Scopes::parse_field(&["read", "Super User"], "scopes").unwrap_err();
        let message = error.field_message("scopes").unwrap();
        assert!(message.contains("\"Super User\""), "{message}");
        let many: Vec<String> = (0..=MAX_PER_REQUEST).map(|i| format!("s{i}")).collect();
        let error = Scopes::parse_field(&many, "required_scopes").unwrap_err();
        assert!(error.field_message("required_scopes").is_some());
    }

    #[test]
    fn a_scope_travels_as_its_name_and_a_bad_name_does_not_deserialise() {
        let scope: Scope = serde_json::from_str("\"read:assets\"").unwrap();
        assert_eq!(serde_json::to_string(&scope).unwrap(), "\"read:assets\"");
        assert!(serde_json::from_str::<Scope>("\"READ\"").is_err());
    }

    #[test]
    fn groups_keep_the_order_they_first_appear_in() {
        let permission = |name: &str, group: Option<&str>| PermissionView {
            name: Scope::parse(name).unwrap(),
            description: String::new(),
            group: group.map(str::to_owned),
            implies: vec![],
        };
        let catalogue = CatalogueView {
            permissions: vec![
                permission("read:assets", Some("Assets")),
                permission("read:analytics", Some("Analytics")),
                permission("write:assets", Some("Assets")),
                permission("admin", None),
            ],
        };
        let groups: Vec<_> = catalogue
            .groups()
            .into_iter()
            .map(|(group, members)| (group, members.len()))
            .collect();
        assert_eq!(
            groups,
            [(Some("Assets"), 2), (Some("Analytics"), 1), (None, 1)]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_list_of_names_parses_or_fails_without_panicking(names in proptest::collection::vec("\\PC{0,12}", 0..6)) {
            if let Ok(scopes) = Scopes::parse_field(&names, "scopes") {
                proptest::prop_assert_eq!(Scopes::from_text(&scopes.to_text()), scopes);
            }
        }
    }
}
