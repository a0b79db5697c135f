//! The floors of the house, read from the imports: every `crate::…` path in
//! `src/`, grouped `use crate::{…}` lists included. A module may reach the
//! floors below it, never one above; see "Layout" in README.md.
//!
//! ```text
//! server/                      the composition root: builds everything
//! app/   rest/                 the doors (pages, the REST API)
//! teams/ keys/ auth/ audit/     the services, each with its `/rpc` door (rpc.rs),
//! idempotency/ mail/           the REST API's idempotent answers, and email
//! storage/  shared/  error.rs  the ground floor
//! ```

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// What each top-level module may name: everything else is above it or
/// beside it on a floor it must not lean on.
const RULES: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("shared", &["error"]),
    ("storage", &["error", "shared"]),
    ("audit", &["error", "shared", "storage", "auth"]),
    ("auth", &["error", "shared", "storage", "mail", "audit"]),
    (
        "keys",
        &["error", "shared", "storage", "mail", "audit", "auth"],
    ),
    (
        "teams",
        &["error", "shared", "storage", "mail", "audit", "auth"],
    ),
    ("idempotency", &["error", "shared", "storage"]),
    ("mail", &["error", "shared", "storage"]),
    (
        "rest",
        &[
            "error",
            "shared",
            "storage",
            "audit",
            "auth",
            "keys",
            "teams",
            "idempotency",
        ],
    ),
    (
        "app",
        &["error", "shared", "audit", "auth", "keys", "teams"],
    ),
];

/// The only files of a service that may reach another service's door
/// helpers: its own `/rpc` door. Everything else in `audit/` stays below
/// `auth/`.
const DOOR_FILE: &str = "rpc.rs";

#[test]
fn no_module_imports_a_floor_above_it() {
    let mut broken = Vec::new();
    for file in rust_files(Path::new("src")) {
        let module = top_module(&file);
        let Some((_, allowed)) = RULES.iter().find(|(name, _)| *name == module) else {
            continue;
        };
        let text = fs::read_to_string(&file).unwrap();
        for named in crate_modules(&text) {
            let door_only = module == "audit" && named == "auth";
            let permitted = named == module
                || (allowed.contains(&named.as_str()) && (!door_only || file.ends_with(DOOR_FILE)));
            if !permitted {
                broken.push(format!("{} imports crate::{named}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that run up a floor:\n{}",
        broken.join("\n")
    );
}

/// The storage seam: SQL and SQLite's types stay below `src/storage/`, so a
/// second backend touches nothing else.
#[test]
fn sql_and_sqlite_types_stay_in_storage() {
    const FORBIDDEN: &[&str] = &[
        "sqlx::query",
        "sqlx::sqlite",
        "Sqlite",
        "tower_sessions_sqlx_store",
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
    ];
    let mut found = Vec::new();
    for file in rust_files(Path::new("src")) {
        if file.starts_with("src/storage") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for token in FORBIDDEN.iter().filter(|token| text.contains(*token)) {
            found.push(format!("{} holds {token:?}", file.display()));
        }
    }
    assert!(found.is_empty(), "outside storage:\n{}", found.join("\n"));
}

/// The services are built once, by the composition root (`server/`), and
/// handed to both doors: no door file declares a type that holds a service
/// or the database.
#[test]
fn no_door_defines_services() {
    const HELD: &[&str] = &[
        "Db",
        "Keys",
        "Accounts",
        "AuditLog",
        "Teams",
        "IdempotentAnswers",
        "Services",
    ];
    let mut found = Vec::new();
    for file in rust_files(Path::new("src"))
        .into_iter()
        .filter(|f| is_door(f))
    {
        let text = fs::read_to_string(&file).unwrap();
        for body in struct_bodies(&text) {
            for held in HELD.iter().filter(|held| names(body, held)) {
                found.push(format!("{} declares a type holding {held}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "services outside the root:\n{}",
        found.join("\n")
    );
}

/// A service is called with what the door parsed from the request: none
/// reads a request, its headers or the server function's context itself.
#[test]
fn no_service_reads_the_request() {
    const REQUEST: &[&str] = &[
        "leptos_axum",
        "axum::extract",
        "FromRequestParts",
        "HeaderMap",
        "of_this_request",
        "use_context",
    ];
    let mut found = Vec::new();
    for file in rust_files(Path::new("src"))
        .into_iter()
        .filter(|f| is_service(f))
    {
        let text = fs::read_to_string(&file).unwrap();
        for token in REQUEST.iter().filter(|token| text.contains(*token)) {
            found.push(format!("{} reads the request: {token}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "services reading requests:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reader_sees_struct_bodies_and_whole_names() {
    let text = "pub struct A(Arc<Services>);\nstruct B {\n    db: Db,\n}\nfn f(db: Db) {}";
    assert_eq!(
        struct_bodies(text),
        ["(Arc<Services>)", " {\n    db: Db,\n}"]
    );
    assert!(names("db: Db,", "Db"));
    assert!(!names("db: DbPool,", "Db"));
}

#[test]
fn the_reader_sees_grouped_and_inline_imports() {
    let text =
        "use crate::{\n    audit::{service::AuditLog, AuditAction},\n    error::AppError,\n};\n\
                fn f() { crate::server::rpc::x(); }\nuse super::{x, y};";
    assert_eq!(
        crate_modules(text),
        BTreeSet::from(["audit".into(), "error".into(), "server".into()])
    );
}

/// The doors: the pages, the REST API, and each service's `/rpc` door.
fn is_door(file: &Path) -> bool {
    file.starts_with("src/app") || file.starts_with("src/rest") || file.ends_with(DOOR_FILE)
}

/// The services' own files: each `service.rs`, and the idempotent answers.
fn is_service(file: &Path) -> bool {
    file.ends_with("service.rs") || file.starts_with("src/idempotency")
}

/// What follows each `struct Name`: its `{…}` or `(…);` body.
fn struct_bodies(text: &str) -> Vec<&str> {
    let mut bodies = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("struct ") {
        rest = &rest[at + "struct ".len()..];
        let after_name = rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
        let end = match after_name.find(['}', ';']) {
            Some(end) => end + 1,
            None => after_name.len(),
        };
        let body = &after_name[..end];
        bodies.push(body.trim_end_matches(';'));
        rest = &after_name[end..];
    }
    bodies
}

/// Whether `text` names `name` as a whole word.
fn names(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `src/keys/service.rs` → `keys`; `src/error.rs` → `error`.
fn top_module(file: &Path) -> String {
    let inside = file.strip_prefix("src").unwrap();
    let first = inside.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The top-level modules a file names through `crate::`.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            named.extend(group_heads(group));
        } else {
            named.insert(identifier(rest));
        }
    }
    named.remove("");
    named
}

/// The first segment of each item of a `{…}` list, nested lists skipped.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![identifier(group.trim_start())];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(identifier(group[i + 1..].trim_start())),
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}
