#!/usr/bin/env bash
# Sets up whatever is missing, then runs every test: unit and integration
# tests (cargo test: the real server on a free port, a fresh SQLite file per
# test), generated API tests (schemathesis) and the end-to-end tests
# (Playwright in real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"

echo "==> Unit and integration tests"
cargo test --features ssr

echo "==> Building the site for the browser tests"
cargo leptos build

echo "==> Generated API tests (schemathesis, from the OpenAPI document)"
scripts/api-fuzz.sh

echo "==> Browser tests"
cd end2end
npx playwright test
