#!/usr/bin/env bash
# Sets up whatever is missing, checks formatting and lints (warnings are
# errors), then runs every test: unit and integration tests (cargo test: the
# real server on a free port, a fresh SQLite file per test), the integration
# suite again on a throwaway PostgreSQL cluster (a database per server),
# generated API tests (schemathesis) on both, short crash tests (kill -9
# under write traffic; the full ones are 20 kills) on SQLite, PostgreSQL and
# three replicas behind nginx, a rolling restart of those replicas under
# traffic, and the end-to-end tests
# (Playwright in real Chromium) on a split build, then the key flow on
# release builds made with and without --split.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"
# One build, one pass: incremental caches only fill the disk here (3 GB of a
# clean run, and CI once ran out of space).
export CARGO_INCREMENTAL=0
# The tests compile with the --cfg cargo-leptos gives the server build
# (always-erase-components), so the two share one build of the dependencies
# and the tests run the views that ship.
erased="--cfg erase_components"

echo "==> Formatting and lints"
cargo fmt --check
RUSTFLAGS=$erased cargo clippy --features ssr --tests --benches -- -D warnings
RUSTFLAGS=$erased cargo clippy --features hydrate --target wasm32-unknown-unknown --lib -- -D warnings

echo "==> A throwaway PostgreSQL cluster for the PostgreSQL pass"
pg_dir=$(mktemp -d /tmp/keysmith-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
postgres_url=$(scripts/postgres.sh start "$pg_dir" "$pg_port")

echo "==> Unit and integration tests (SQLite)"
RUSTFLAGS=$erased cargo test --features ssr -- --skip on_postgres_

echo "==> Integration tests on PostgreSQL (the same suite; SQLite's own files aside)"
RUSTFLAGS=$erased KEYSMITH_TEST_POSTGRES=$postgres_url cargo test --features ssr --test server -- \
  --skip the_database_and_secret_files_are_readable_by_their_owner_only \
  --skip a_secret_file_other_users_can_read_stops_start_up

echo "==> Building the site for the browser tests"
# --split as in the release build: each page's wasm is a chunk of its own.
cargo leptos build --split

echo "==> Generated API tests (schemathesis, from the OpenAPI document)"
scripts/api-fuzz.sh
echo "==> Generated API tests on PostgreSQL"
psql "$postgres_url/postgres" -qc "CREATE DATABASE fuzz"
scripts/api-fuzz.sh 30 "$postgres_url/fuzz"

echo "==> Crash tests, short form (see BENCHMARKS.md for the 20-kill runs)"
python3 scripts/crash_test.py --rounds 5 --binary target/debug/keysmith
python3 scripts/crash_test.py --postgres --rounds 3 --binary target/debug/keysmith
echo "==> Three replicas behind nginx: one killed at a time under writes, then a rolling restart"
python3 scripts/crash_test.py --replicas 3 --rounds 3 --binary target/debug/keysmith
python3 scripts/rolling_restart.py --binary target/debug/keysmith

echo "==> Browser tests"
(cd end2end && npx playwright test)

echo "==> The key flow on release builds made with and without --split"
# `cargo leptos build --release` without --split is what anyone who knows
# Leptos types first: its pages must hydrate too.
scripts/e2e-builds.sh
