#!/usr/bin/env bash
# Sets up whatever is missing, then builds and runs Keysmith (release build)
# on the default SQLite database, data/keysmith.db, at http://localhost:3000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"
# --precompress writes .br and .gz beside the CSS, JS and wasm, served as they are;
# --split gives each page its own wasm chunk, fetched when the page is first shown.
exec cargo leptos serve --release --precompress --split
