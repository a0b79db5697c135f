#!/usr/bin/env bash
# The create-key browser flow against release builds made both ways:
# `cargo leptos build --release --split` (a wasm chunk per page) and plain
# `cargo leptos build --release` (one wasm file), since either is what
# someone who knows Leptos may type. Run by scripts/test.sh. Needs
# `scripts/setup.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"
for variant in "--split" ""; do
  echo "==> cargo leptos build --release $variant"
  # shellcheck disable=SC2086 # an empty variant is no argument at all
  cargo leptos build --release $variant
  echo "==> Creating a key in the browser (release ${variant:-without --split})"
  (cd end2end && KEYSMITH_BIN="$PWD/../target/release/keysmith" npx playwright test tests/api-keys.spec.ts)
done
