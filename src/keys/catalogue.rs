//! The permission catalogue: the names a key's scopes may take, what each
//! means and what it implies. The operator declares it in a TOML file
//! (`KEYSMITH_PERMISSIONS_FILE`); without one it is Keysmith's standard
//! four, `search < read < write < admin`. Read once at start-up and
//! refused, with the file's line and the fix, when anything in it is off.
//!
//! A key may hold a name the catalogue no longer offers (it was offered
//! when the key was made): it is kept and shown, and grants nothing.

use super::scope::{
    clip, CatalogueView, PermissionView, Scope, Scopes, MAX_PER_REQUEST, NAME_RULE,
};
use crate::{auth::manager::ManagementScope, error::AppError, shared::key_type::KeyType};
use serde::Deserialize;
use std::collections::HashMap;

/// The most permissions one catalogue may declare.
pub const MAX_PERMISSIONS: usize = 1_000;
/// What `implies` holds to mean every other permission.
const EVERYTHING: &str = "*";

/// A catalogue, checked: every name well formed and declared once, every
/// implication to a declared name, none circular.
#[derive(Debug)]
pub struct Catalogue {
    permissions: Vec<PermissionView>,
    index: HashMap<Scope, usize>,
    /// What each permission grants: itself and all it implies.
    grants: Vec<Grants>,
}

/// A set of a catalogue's permissions, by position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(Vec<u64>);

impl Grants {
    fn with(mut self, position: usize) -> Self {
        let word = position / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (position % 64);
        self
    }

    fn union(mut self, other: &Grants) -> Self {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine |= theirs;
        }
        self
    }

    fn holds(&self, position: usize) -> bool {
        self.0
            .get(position / 64)
            .is_some_and(|word| word & (1 << (position % 64)) != 0)
    }
}

/// Scopes a verification requires, each known to the catalogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement(Vec<(usize, Scope)>);

impl Requirement {
    /// The required scopes `grants` lacks, by name.
    pub fn missing(&self, grants: &Grants) -> Vec<Scope> {
        self.0
            .iter()
            .filter(|(position, _)| !grants.holds(*position))
            .map(|(_, scope)| scope.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every scope required, by name.
    pub fn scopes(&self) -> Vec<Scope> {
        self.0.iter().map(|(_, scope)| scope.clone()).collect()
    }
}

/// The catalogue of each kind of key: the operator's for API keys,
/// Keysmith's own for management keys.
#[derive(Debug)]
pub struct Catalogues {
    pub platform: std::sync::Arc<Catalogue>,
    pub management: Catalogue,
}

impl Catalogues {
    pub fn new(platform: std::sync::Arc<Catalogue>) -> Self {
        Catalogues {
            platform,
            management: Catalogue::management(),
        }
    }

    pub fn of(&self, kind: KeyType) -> &Catalogue {
        match kind {
            KeyType::Api => &self.platform,
            KeyType::Management => &self.management,
        }
    }
}

/// One permission as the file declares it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declared {
    name: toml::Spanned<String>,
    description: toml::Spanned<String>,
    group: Option<toml::Spanned<String>>,
    #[serde(default)]
    implies: Vec<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    permission: Vec<Declared>,
}

/// What went wrong where: a line of the file, what is off and the fix.
struct Flaw {
    at: usize,
    message: String,
}

/// Permissions as declared, before their implications are followed.
struct Draft {
    permissions: Vec<PermissionView>,
    /// Each permission's direct implications: the position implied, and
    /// where in the file it was said.
    implies: Vec<Vec<(usize, usize)>>,
    /// Whether each implies every other permission (`*`).
    implies_everything: Vec<bool>,
}

impl Catalogue {
    /// Keysmith's own four, each implying the one below it.
    pub fn standard() -> Self {
        let permission = |name: &str, description: &str| PermissionView {
            name: Scope::parse(name).expect("a built-in scope name is well formed"),
            description: description.to_owned(),
            group: None,
            implies: Vec::new(),
        };
        Catalogue::checked(Draft {
            permissions: vec![
                permission("search", "Search and retrieval."),
                permission("read", "List and inspect resources, and search."),
                permission(
                    "write",
                    "Create and update resources, and everything read allows.",
                ),
                permission(
                    "admin",
                    "Destructive and higher-privilege operations, reading the audit log, and everything else.",
                ),
            ],
            implies: vec![vec![], vec![(0, 0)], vec![(1, 0)], vec![(2, 0)]],
            implies_everything: vec![false; 4],
        })
    }

    /// Keysmith's own management permissions, which management keys hold.
    pub fn management() -> Self {
        let permissions: Vec<PermissionView> = ManagementScope::ALL
            .iter()
            .map(|scope| PermissionView {
                name: Scope::parse(scope.as_str()).expect("a management scope is well formed"),
                description: scope.description().to_owned(),
                group: Some(scope.group().to_owned()),
                implies: Vec::new(),
            })
            .collect();
        let position = |implied: &ManagementScope| {
            ManagementScope::ALL
                .iter()
                .position(|scope| scope == implied)
                .expect("every implied scope is in the catalogue")
        };
        Catalogue::checked(Draft {
            implies: ManagementScope::ALL
                .iter()
                .map(|scope| scope.implies().iter().map(|i| (position(i), 0)).collect())
                .collect(),
            implies_everything: vec![false; permissions.len()],
            permissions,
        })
    }

    /// Reads a catalogue file; the error is one line: `file:line: what is
    /// off. The fix.`
    pub fn from_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the permission catalogue {path}: {error}"))?;
        Catalogue::from_toml(&text)
            .map_err(|flaw| format!("{path}:{}: {}", line_of(&text, flaw.at), flaw.message))
    }

    fn from_toml(text: &str) -> Result<Self, Flaw> {
        let file: CatalogueFile = toml::from_str(text).map_err(|error| Flaw {
            at: error.span().map_or(0, |span| span.start),
            message: format!(
                "{}. Declare each permission as [[permission]] with a name and a description, and optionally a group and what it implies.",
                error.message().trim().trim_end_matches('.').replace('\n', " ")
            ),
        })?;
        if file.permission.is_empty() {
            return Err(Flaw {
                at: 0,
                message: "the file declares no permission. Add at least one [[permission]] with a name and a description.".into(),
            });
        }
        if file.permission.len() > MAX_PERMISSIONS {
            return Err(Flaw {
                at: file.permission[MAX_PERMISSIONS].name.span().start,
                message: format!(
                    "more than {MAX_PERMISSIONS} permissions. Declare at most {MAX_PERMISSIONS}."
                ),
            });
        }
        let permissions = parse_permissions(&file.permission, text)?;
        let draft = resolve_implications(&file.permission, permissions)?;
        refuse_circles(&draft)?;
        Ok(Catalogue::checked(draft))
    }

    /// Follows the implications of a checked draft, once for all.
    fn checked(draft: Draft) -> Self {
        let count = draft.permissions.len();
        let everything = (0..count).fold(Grants::default(), Grants::with);
        let mut grants: Vec<Option<Grants>> = vec![None; count];
        for position in 0..count {
            follow(position, &draft, &everything, &mut grants);
        }
        let grants: Vec<Grants> = grants.into_iter().map(Option::unwrap_or_default).collect();
        let names: Vec<Scope> = draft.permissions.iter().map(|p| p.name.clone()).collect();
        let permissions = draft
            .permissions
            .into_iter()
            .enumerate()
            .map(|(position, p)| PermissionView {
                implies: (0..count)
                    .filter(|&other| other != position && grants[position].holds(other))
                    .map(|other| names[other].clone())
                    .collect(),
                ..p
            })
            .collect();
        let index = names
            .into_iter()
            .enumerate()
            .map(|(position, name)| (name, position))
            .collect();
        Catalogue {
            permissions,
            index,
            grants,
        }
    }

    pub fn view(&self) -> CatalogueView {
        CatalogueView {
            permissions: self.permissions.clone(),
        }
    }

    pub fn offers(&self, scope: &Scope) -> bool {
        self.index.contains_key(scope)
    }

    /// Checks the scopes asked for a key: at least one offered, and each
    /// offered or already held by the key (kept though the catalogue
    /// dropped it).
    pub fn check_for_key(&self, asked: &Scopes, already_held: &Scopes) -> Result<(), AppError> {
        if let Some(unknown) = asked
            .iter()
            .find(|s| !self.offers(s) && !already_held.contains(s))
        {
            return Err(AppError::field(
                "scopes",
                format!(
                    "Unknown scope {:?}. Choose from {}.",
                    clip(unknown.as_str()),
                    self.names_for_humans()
                ),
            ));
        }
        if !asked.iter().any(|s| self.offers(s)) {
            return Err(AppError::field("scopes", "Choose at least one scope."));
        }
        Ok(())
    }

    /// What holding `held` grants: each offered scope and all it implies.
    /// Scopes the catalogue no longer offers grant nothing.
    pub fn grants(&self, held: &Scopes) -> Grants {
        held.iter()
            .filter_map(|s| self.index.get(s))
            .fold(Grants::default(), |all, &position| {
                all.union(&self.grants[position])
            })
    }

    /// The held scopes the catalogue no longer offers.
    pub fn retired(&self, held: &Scopes) -> Vec<Scope> {
        held.iter().filter(|s| !self.offers(s)).cloned().collect()
    }

    /// The held scopes the catalogue still offers.
    pub fn offered(&self, held: &Scopes) -> Vec<Scope> {
        held.iter().filter(|s| self.offers(s)).cloned().collect()
    }

    /// Resolves the scope names a verification requires, as the request
    /// gave them (trimmed; each must be offered); `field` names the
    /// request's field when one is malformed or unknown. Looked up without
    /// a copy of each name: verify does this on every call.
    pub fn requirement<S: AsRef<str>>(
        &self,
        names: &[S],
        field: &str,
    ) -> Result<Requirement, AppError> {
        if names.len() > MAX_PER_REQUEST {
            return Err(AppError::field(
                field,
                format!("Name at most {MAX_PER_REQUEST} scopes."),
            ));
        }
        let mut required = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref().trim();
            let Some(&position) = self.index.get(name) else {
                let why = match Scope::parse(name) {
                    None => format!("{:?} is not a scope name: {NAME_RULE}.", clip(name)),
                    Some(_) => format!(
                        "Unknown scope {:?}: use one of {}.",
                        clip(name),
                        self.names_for_humans()
                    ),
                };
                return Err(AppError::field(field, why));
            };
            required.push((position, self.permissions[position].name.clone()));
        }
        required.sort_by(|a, b| a.1.cmp(&b.1));
        required.dedup_by_key(|(position, _)| *position);
        Ok(Requirement(required))
    }

    /// `search, read, write and admin` (the first ten of a long one).
    fn names_for_humans(&self) -> String {
        let names: Vec<&str> = self
            .permissions
            .iter()
            .take(10)
            .map(|p| p.name.as_str())
            .collect();
        let listed = match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        match self.permissions.len() - names.len() {
            0 => listed,
            more => format!("{listed} (and {more} more)"),
        }
    }
}

/// The line of `text` that byte `at` is on, counted from 1.
fn line_of(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].matches('\n').count() + 1
}

/// What `position` grants, memoised: itself, and what it implies (the
/// draft has no circles, so this ends).
fn follow(
    position: usize,
    draft: &Draft,
    everything: &Grants,
    grants: &mut Vec<Option<Grants>>,
) -> Grants {
    if let Some(known) = &grants[position] {
        return known.clone();
    }
    let mine = if draft.implies_everything[position] {
        everything.clone()
    } else {
        let mut mine = Grants::default().with(position);
        for &(implied, _) in &draft.implies[position] {
            mine = mine.union(&follow(implied, draft, everything, grants));
        }
        mine
    };
    grants[position] = Some(mine.clone());
    mine
}

/// Each name well formed and declared once; each description and group
/// one short line.
fn parse_permissions(declared: &[Declared], text: &str) -> Result<Vec<PermissionView>, Flaw> {
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    let mut permissions = Vec::with_capacity(declared.len());
    for permission in declared {
        let raw = permission.name.get_ref();
        let at = permission.name.span().start;
        let name = Scope::parse(raw)
            .filter(|s| s.as_str() == raw)
            .ok_or_else(|| Flaw {
                at,
                message: format!(
                    "{:?} is not a permission name: {NAME_RULE}. Rename it.",
                    clip(raw)
                ),
            })?;
        if let Some(&first) = first_at.get(raw.as_str()) {
            return Err(Flaw {
                at,
                message: format!(
                    "{raw:?} is declared twice (first on line {}). Remove one of them.",
                    line_of(text, first)
                ),
            });
        }
        first_at.insert(raw, at);
        one_line(&permission.description, "description", 200)?;
        if let Some(group) = &permission.group {
            one_line(group, "group", 60)?;
        }
        permissions.push(PermissionView {
            name,
            description: permission.description.get_ref().trim().to_owned(),
            group: permission
                .group
                .as_ref()
                .map(|g| g.get_ref().trim().to_owned()),
            implies: Vec::new(),
        });
    }
    Ok(permissions)
}

fn one_line(text: &toml::Spanned<String>, what: &str, max: usize) -> Result<(), Flaw> {
    let value = text.get_ref().trim();
    let flaw = |message: String| Flaw {
        at: text.span().start,
        message,
    };
    if value.is_empty() {
        return Err(flaw(format!(
            "the {what} is empty. Write one line saying what it is."
        )));
    }
    if value.contains(['\n', '\r']) || value.chars().count() > max {
        return Err(flaw(format!(
            "the {what} is longer than one line of {max} characters. Shorten it."
        )));
    }
    Ok(())
}

/// Every implication names a declared permission, or `*` for all of them.
fn resolve_implications(
    declared: &[Declared],
    permissions: Vec<PermissionView>,
) -> Result<Draft, Flaw> {
    let positions: HashMap<&str, usize> = declared
        .iter()
        .enumerate()
        .map(|(position, p)| (p.name.get_ref().as_str(), position))
        .collect();
    let mut implies = Vec::with_capacity(declared.len());
    let mut implies_everything = Vec::with_capacity(declared.len());
    for permission in declared {
        let mut direct = Vec::new();
        let mut everything = false;
        for target in &permission.implies {
            if target.get_ref().trim() == EVERYTHING {
                everything = true;
                continue;
            }
            let Some(&to) = positions.get(target.get_ref().trim()) else {
                return Err(Flaw {
                    at: target.span().start,
                    message: format!(
                        "{:?} implies {:?}, which the file does not declare. Declare it, or correct the name.",
                        permission.name.get_ref(),
                        clip(target.get_ref())
                    ),
                });
            };
            direct.push((to, target.span().start));
        }
        implies.push(direct);
        implies_everything.push(everything);
    }
    Ok(Draft {
        permissions,
        implies,
        implies_everything,
    })
}

/// No permission implies itself, directly or through others: followed
/// depth first in declaration order, a permission met again while its own
/// implications are being followed closes a circle.
fn refuse_circles(draft: &Draft) -> Result<(), Flaw> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        Not,
        Following,
        Done,
    }
    fn visit(
        at: usize,
        draft: &Draft,
        seen: &mut [Seen],
        path: &mut Vec<usize>,
    ) -> Result<(), Flaw> {
        seen[at] = Seen::Following;
        path.push(at);
        for &(to, span) in &draft.implies[at] {
            match seen[to] {
                Seen::Following => {
                    let start = path.iter().position(|&p| p == to).unwrap_or(0);
                    let circle: Vec<String> = path[start..]
                        .iter()
                        .chain([&to])
                        .map(|&p| format!("{:?}", draft.permissions[p].name.as_str()))
                        .collect();
                    return Err(Flaw {
                        at: span,
                        message: format!(
                            "implications go round in a circle ({}). Remove one of them.",
                            circle.join(" implies ")
                        ),
                    });
                }
                Seen::Not => visit(to, draft, seen, path)?,
                Seen::Done => {}
            }
        }
        path.pop();
        seen[at] = Seen::Done;
        Ok(())
    }
    let mut seen = vec![Seen::Not; draft.permissions.len()];
    for start in 0..draft.permissions.len() {
        if seen[start] == Seen::Not {
            visit(start, draft, &mut seen, &mut Vec::new())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Scopes {
        Scopes::parse_field(names, "scopes").unwrap()
    }

    fn example(file: &str) -> Catalogue {
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        Catalogue::from_file(&path).unwrap()
    }

    /// The refusal of `text` as a catalogue: `line: message`.
    fn refusal(text: &str) -> String {
        let flaw = Catalogue::from_toml(text).unwrap_err();
        format!("{}: {}", line_of(text, flaw.at), flaw.message)
    }

    fn holds(catalogue: &Catalogue, held: &[&str], required: &[&str]) -> bool {
        let requirement = catalogue.requirement(required, "required_scopes").unwrap();
        requirement
            .missing(&catalogue.grants(&scopes(held)))
            .is_empty()
    }

    #[test]
    fn the_standard_four_each_grant_those_below_them() {
        let standard = Catalogue::standard();
        let ranked = ["search", "read", "write", "admin"];
        for (rank, held) in ranked.iter().enumerate() {
            for (other, required) in ranked.iter().enumerate() {
                assert_eq!(
                    holds(&standard, &[held], &[required]),
                    other <= rank,
                    "{held} → {required}"
                );
            }
        }
        let view = standard.view();
        let implied: Vec<&str> = view.permissions[3]
            .implies
            .iter()
            .map(Scope::as_str)
            .collect();
        assert_eq!(implied, ["search", "read", "write"], "in catalogue order");
    }

    #[test]
    fn mediakit_grants_through_implications_and_admin_grants_everything() {
        let mediakit = example("mediakit-permissions.toml");
        assert!(holds(&mediakit, &["write:assets"], &["read:assets"]));
        assert!(!holds(&mediakit, &["write:assets"], &["read:analytics"]));
        assert!(holds(
            &mediakit,
            &["read:assets", "read:analytics"],
            &["read:assets", "read:analytics"]
        ));
        assert!(holds(
            &mediakit,
            &["admin"],
            &["write:assets", "read:analytics"]
        ));
        let requirement = mediakit
            .requirement(&["write:assets", "read:analytics"], "required_scopes")
            .unwrap();
        let missing = requirement.missing(&mediakit.grants(&scopes(&["read:assets"])));
        let missing: Vec<&str> = missing.iter().map(Scope::as_str).collect();
        assert_eq!(missing, ["read:analytics", "write:assets"]);
        let view = mediakit.view();
        let groups: Vec<Option<&str>> = view.groups().into_iter().map(|(g, _)| g).collect();
        assert_eq!(groups, [Some("Assets"), Some("Analytics"), None]);
    }

    #[test]
    fn vidbeo_read_only_keys_fetch_and_nothing_more() {
        let vidbeo = example("vidbeo-permissions.toml");
        assert!(holds(&vidbeo, &["fetch"], &["fetch"]));
        assert!(!holds(&vidbeo, &["fetch"], &["write"]));
        assert!(holds(&vidbeo, &["write"], &["fetch"]));
    }

    #[test]
    fn a_scope_the_catalogue_dropped_is_kept_and_grants_nothing() {
        let vidbeo = example("vidbeo-permissions.toml");
        let held = scopes(&["fetch", "read"]);
        assert_eq!(vidbeo.retired(&held), [Scope::parse("read").unwrap()]);
        assert_eq!(vidbeo.offered(&held), [Scope::parse("fetch").unwrap()]);
        assert_eq!(vidbeo.grants(&scopes(&["read"])), Grants::default());
        // Kept on an edit that keeps it; never given anew.
        vidbeo.check_for_key(&held, &held).unwrap();
        let error = vidbeo.check_for_key(&held, &Scopes::default()).unwrap_err();
        assert!(error.field_message("scopes").unwrap().contains("\"read\""));
        let error = vidbeo.check_for_key(&scopes(&["read"]), &held).unwrap_err();
        assert_eq!(
            error.field_message("scopes").unwrap(),
            "Choose at least one scope."
        );
    }

    #[test]
    fn an_unknown_required_scope_is_named_with_what_the_catalogue_offers() {
        let error = Catalogue::standard()
            .requirement(&["read", "delete"], "required_scope")
            .unwrap_err();
        assert_eq!(
            error.field_message("required_scope").unwrap(),
            "Unknown scope \"delete\": use one of search, read, write and admin."
        );
    }

    #[test]
    fn every_flaw_of_a_file_is_refused_with_its_line_and_the_fix() {
        let declare = |name: &str, implies: &str| {
            format!(
                "[[permission]]\nname = \"{name}\"\ndescription = \"d\"\nimplies = [{implies}]\n\n"
            )
        };
        let unknown = declare("a", "") + &declare("b", "\"c\"");
        assert_eq!(
            refusal(&unknown),
            "9: \"b\" implies \"c\", which the file does not declare. Declare it, or correct the name."
        );
        let circle = declare("a", "\"b\"") + &declare("b", "\"c\"") + &declare("c", "\"a\"");
        assert_eq!(
            refusal(&circle),
            "14: implications go round in a circle (\"a\" implies \"b\" implies \"c\" implies \"a\"). Remove one of them."
        );
        assert!(refusal(&declare("a", "\"a\""))
            .starts_with("4: implications go round in a circle (\"a\" implies \"a\")"));
        let twice = declare("a", "") + &declare("a", "");
        assert_eq!(
            refusal(&twice),
            "7: \"a\" is declared twice (first on line 2). Remove one of them."
        );
        let malformed = declare("Read Assets", "");
        assert!(refusal(&malformed).starts_with("2: \"Read Assets\" is not a permission name: a scope is a lowercase word or resource:action"), "{}", refusal(&malformed));
        let unknown_field = "[[permission]]\nname = \"a\"\ndescription = \"d\"\nimplied = []\n";
        let refused = refusal(unknown_field);
        assert!(
            refused.starts_with("4: unknown field `implied`"),
            "{refused}"
        );
        assert!(
            refused.ends_with("and optionally a group and what it implies."),
            "{refused}"
        );
        assert!(refusal("").starts_with("1: the file declares no permission."));
        let no_description = "[[permission]]\nname = \"a\"\ndescription = \" \"\n";
        assert_eq!(
            refusal(no_description),
            "3: the description is empty. Write one line saying what it is."
        );
        assert!(refusal("[[permission]\n").starts_with("1: "));
    }

    #[test]
    fn the_file_error_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("permissions.toml");
        std::fs::write(
            &path,
            "[[permission]]\nname = \"a\"\ndescription = \"d\"\nimplies = [\"b\"]\n",
        )
        .unwrap();
        let path = path.display().to_string();
        let error = Catalogue::from_file(&path).unwrap_err();
        assert!(
            error.starts_with(&format!("{path}:4: \"a\" implies \"b\"")),
            "{error}"
        );
        let missing = Catalogue::from_file("/nonexistent/permissions.toml").unwrap_err();
        assert!(
            missing
                .starts_with("cannot read the permission catalogue /nonexistent/permissions.toml"),
            "{missing}"
        );
    }
}
