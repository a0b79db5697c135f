//! The scope catalogue: the one place that names Keysmith's scopes, ranks
//! them and says what each allows.

use crate::error::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A permission a key can hold. Ordered by power: `Admin > Write > Read >
/// Search`, and a key satisfies any requirement at or below its highest scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Scope {
    Search,
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Search, Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Search => "search",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// One line for the create form and the API documentation.
    pub fn description(self) -> &'static str {
        match self {
            Scope::Search => "Search and retrieval.",
            Scope::Read => "List and inspect resources, and search.",
            Scope::Write => "Create and update resources, and everything read allows.",
            Scope::Admin => {
                "Destructive and higher-privilege operations, reading the audit log, and everything else."
            }
        }
    }

    /// Whether holding this scope allows what `required` allows.
    pub fn covers(self, required: Scope) -> bool {
        self >= required
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of scopes, sorted and without repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses scope names; the error names the first unknown one.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, AppError> {
        let mut scopes = Vec::with_capacity(raw.len());
        for name in raw {
            let name = name.as_ref();
            let scope = Scope::parse(name).ok_or_else(|| {
                AppError::field(
                    "scopes",
                    format!(
                        "Unknown scope {:?}. Choose from search, read, write and admin.",
                        truncate(name, 40)
                    ),
                )
            })?;
            scopes.push(scope);
        }
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AppError::field("scopes", "Choose at least one scope."));
        }
        Ok(Scopes(scopes))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether these scopes allow an operation that needs `required`.
    pub fn satisfies(&self, required: Scope) -> bool {
        self.0.iter().any(|held| held.covers(required))
    }

    /// The stored form: names separated by single spaces.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn from_text(text: &str) -> Result<Self, AppError> {
        Scopes::parse(&text.split_whitespace().collect::<Vec<_>>())
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_satisfies_itself_and_every_scope_below_it() {
        let write = Scopes::parse(&["write"]).unwrap();
        assert!(write.satisfies(Scope::Search));
        assert!(write.satisfies(Scope::Read));
        assert!(write.satisfies(Scope::Write));
        assert!(!write.satisfies(Scope::Admin));
        let admin = Scopes::parse(&["admin"]).unwrap();
        assert!(Scope::ALL.iter().all(|&s| admin.satisfies(s)));
        let search = Scopes::parse(&["search"]).unwrap();
        assert!(!search.satisfies(Scope::Read));
    }

    #[test]
    fn scopes_are_sorted_deduplicated_and_round_trip_through_text() {
        let scopes = Scopes::parse(&["write", " read", "read"]).unwrap();
        assert_eq!(scopes.to_text(), "read write");
        assert_eq!(Scopes::from_text(&scopes.to_text()).unwrap(), scopes);
    }

    #[test]
    fn an_unknown_scope_is_named_and_an_empty_set_is_refused() {
        let error = Scopes::parse(&["read", "superuser"]).unwrap_err();
        assert!(error
            .field_message("scopes")
            .unwrap()
            .contains("\"superuser\""));
        let error = Scopes::parse::<&str>(&[]).unwrap_err();
        assert_eq!(
            error.field_message("scopes").unwrap(),
            "Choose at least one scope."
        );
    }

    proptest::proptest! {
        #[test]
        fn any_scope_list_parses_or_fails_without_panicking(names in proptest::collection::vec("\\PC{0,12}", 0..6)) {
            if let Ok(scopes) = Scopes::parse(&names) {
                proptest::prop_assert_eq!(Scopes::from_text(&scopes.to_text()).unwrap(), scopes);
            }
        }
    }

    #[test]
    fn every_scope_has_a_description() {
        assert!(Scope::ALL.iter().all(|s| !s.description().is_empty()));
    }
}
