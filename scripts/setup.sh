#!/usr/bin/env bash
# Installs what building (and, with `test`, testing) Keysmith needs, skipping
# whatever is already in place, so a second run takes seconds.
#   scripts/setup.sh        tools to build and run
#   scripts/setup.sh test   also Chromium and Playwright for the browser tests,
#                           schemathesis for the generated API tests, aiosmtpd
#                           for the mail tests and nginx
#                           for the several-replicas crash test (PostgreSQL:
#                           scripts/postgres.sh installs it when first used)
# Nothing is downloaded from outside the package registries: cargo-leptos
# finds each tool on PATH and never fetches its own.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
# The wasm-bindgen CLI must match the library version in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"

# rust-toolchain.toml pins the Rust the project is tested with. rustup would
# download a toolchain of that name; the machine's own stable one is used
# instead when it is that version (before anything here runs cargo).
PINNED_RUST=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$PINNED_RUST-"; then
  stable=$(rustc +stable --version | cut -d' ' -f2)
  if [ "$stable" != "$PINNED_RUST" ]; then
    echo "Keysmith is tested with Rust $PINNED_RUST (rust-toolchain.toml); this machine's stable Rust is $stable." >&2
    echo "Install $PINNED_RUST with rustup, or change rust-toolchain.toml and test." >&2
    exit 1
  fi
  say "Using the machine's stable Rust $stable as the pinned $PINNED_RUST"
  host=$(rustc +stable -vV | sed -n 's/^host: //p')
  ln -s "$(rustc +stable --print sysroot)" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$PINNED_RUST-$host"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $CARGO_LEPTOS_VERSION"; then
  # --debug builds in a third of the time and runs as fast (the work is
  # rustc's), and without debug info in less again; --ignore-rust-version:
  # a locked dependency asks for a newer rustc than it needs.
  say "Installing cargo-leptos $CARGO_LEPTOS_VERSION (about 4 minutes, once)"
  CARGO_PROFILE_DEV_DEBUG=0 \
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --ignore-rust-version --debug
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  # Not --locked: the locked set asks for a crate version the registry
  # lacks. No TLS: only its test runner downloads anything.
  say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --no-default-features
fi

if [ ! -x tools/node_modules/.bin/wasm-opt ]; then
  say "Installing wasm-opt (binaryen) from npm"
  npm ci --prefix tools --no-audit --no-fund
fi

if [ "${1:-}" = "test" ]; then
  missing=()
  if ! command -v chromium >/dev/null && [ -z "${CHROMIUM_PATH:-}" ]; then
    missing+=(chromium)
  fi
  # nginx: the load balancer of the several-replicas crash test.
  [ -x /usr/sbin/nginx ] || missing+=(nginx)
  if [ ${#missing[@]} -gt 0 ]; then
    say "Installing ${missing[*]} (Debian) for the browser and replica tests"
    sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
  # Again whenever the requirements changed since (a new test tool).
  if [ ! -f tools/venv/.installed ] || [ tools/requirements-test.txt -nt tools/venv/.installed ]; then
    say "Installing schemathesis (generated API tests) and aiosmtpd (the mail tests' SMTP server) from PyPI"
    python3 -m venv tools/venv
    tools/venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-test.txt
    touch tools/venv/.installed
  fi
  # Again whenever the lock file changed since (a new test library).
  if [ ! -f end2end/node_modules/.package-lock.json ] ||
    [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "Installing Playwright (the library only: it uses the Chromium above) and axe-core"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund
  fi
fi
