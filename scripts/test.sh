#!/usr/bin/env bash
# Every test, or the parts named: `scripts/test.sh` runs them all in this
# order; `scripts/test.sh unit sqlite` runs those two. Each part sets up
# what it needs (tools, a site build, a throwaway PostgreSQL cluster).
#
#   lint      formatting and lints, warnings are errors (ssr and hydrate)
#   unit      unit tests and the floors of the layout (no server)
#   sqlite    the integration suite: the real server on a free port, a
#             fresh SQLite file per test
#   postgres  the same suite on a throwaway PostgreSQL cluster (a database
#             per test server), the replica tests included
#   api       generated API tests (schemathesis, from the OpenAPI
#             document) on SQLite and on PostgreSQL
#   crash     short crash tests (kill -9 under writes; the full ones are 20
#             kills, see BENCHMARKS.md) on SQLite, PostgreSQL and three
#             replicas behind nginx, then a rolling restart of those
#   browser   Playwright in real Chromium on a split build
#   release   the key flow on release builds made with and without --split
set -euo pipefail
cd "$(dirname "$0")/.."
ALL_PARTS=(lint unit sqlite postgres api crash browser release)

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=("${ALL_PARTS[@]}")
for part in "${parts[@]}"; do
  [[ " ${ALL_PARTS[*]} " == *" $part "* ]] || usage
done

scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"
# One build, one pass: incremental caches only fill the disk here (3 GB of a
# clean run, and CI once ran out of space).
export CARGO_INCREMENTAL=0
# The cfg every build shares (erase_components) comes from
# .cargo/config.toml, which a RUSTFLAGS variable would override.
unset RUSTFLAGS

step() { echo "==> $*"; }

postgres_url=""
# A throwaway PostgreSQL cluster, started once for the parts that need it.
need_postgres() {
  [ -n "$postgres_url" ] && return
  pg_dir=$(mktemp -d /tmp/keysmith-pg.XXXXXX)
  trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  step "A throwaway PostgreSQL cluster on port $port"
  postgres_url=$(scripts/postgres.sh start "$pg_dir" "$port")
}

site_built=""
# The debug site (server binary, split wasm, styles) the later parts run.
need_site() {
  [ -n "$site_built" ] && return
  step "Building the site (debug, --split as in the release build: each page's wasm a chunk of its own)"
  cargo leptos build --split
  site_built=yes
}

part_lint() {
  step "Formatting and lints"
  cargo fmt --check
  cargo clippy --features ssr --tests --benches -- -D warnings
  cargo clippy --features hydrate --target wasm32-unknown-unknown --lib -- -D warnings
}

part_unit() {
  step "Unit tests and the floors of the layout"
  cargo test --features ssr --lib --test floors
}

part_sqlite() {
  step "Integration tests on SQLite"
  cargo test --features ssr --test server -- --skip on_postgres_
}

part_postgres() {
  need_postgres
  step "Integration tests on PostgreSQL (the same suite; SQLite's own files aside)"
  KEYSMITH_TEST_POSTGRES=$postgres_url cargo test --features ssr --test server -- \
    --skip the_database_and_secret_files_are_readable_by_their_owner_only \
    --skip a_secret_file_other_users_can_read_stops_start_up
}

part_api() {
  need_site
  need_postgres
  step "Generated API tests on SQLite"
  scripts/api-fuzz.sh
  step "Generated API tests on PostgreSQL"
  psql "$postgres_url/postgres" -qc "DROP DATABASE IF EXISTS fuzz" -c "CREATE DATABASE fuzz"
  scripts/api-fuzz.sh 30 "$postgres_url/fuzz"
}

part_crash() {
  need_site
  step "Crash tests, short form, on SQLite and PostgreSQL"
  python3 scripts/crash_test.py --rounds 5 --binary target/debug/keysmith
  python3 scripts/crash_test.py --postgres --rounds 3 --binary target/debug/keysmith
  step "Three replicas behind nginx: one killed at a time under writes, then a rolling restart"
  python3 scripts/crash_test.py --replicas 3 --rounds 3 --binary target/debug/keysmith
  python3 scripts/rolling_restart.py --binary target/debug/keysmith
}

part_browser() {
  need_site
  step "Browser tests (Playwright in Chromium)"
  (cd end2end && npx playwright test)
}

part_release() {
  # `cargo leptos build --release` without --split is what anyone who knows
  # Leptos types first: its pages must hydrate too.
  step "The key flow on release builds made with and without --split"
  scripts/e2e-builds.sh
}

started=$SECONDS
for part in "${parts[@]}"; do
  begun=$SECONDS
  "part_$part"
  step "$part passed in $((SECONDS - begun)) s"
done
step "All passed (${parts[*]}) in $((SECONDS - started)) s"
