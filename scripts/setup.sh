#!/usr/bin/env bash
# Installs what building (and, with `test`, testing) Keysmith needs, skipping
# whatever is already in place, so a second run takes seconds.
#   scripts/setup.sh          tools to build and run
#   scripts/setup.sh release  the same, and meanwhile compiles the release
#                             build (scripts/run.sh): it needs the tools only
#                             for its last steps, so on a fresh machine both
#                             cores stay busy while the tools compile
#   scripts/setup.sh test     also Chromium and Playwright for the browser
#                             tests, schemathesis for the generated API tests
#                             and nginx for the several-replicas crash test
#                             (PostgreSQL: scripts/postgres.sh installs it
#                             when first used)
# Nothing is downloaded from outside the package registries: cargo-leptos
# finds each tool on PATH and never fetches its own.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
# The wasm-bindgen CLI must match the library version in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Compilations run side by side, each logged to tools/logs/NAME.log: one
# alone leaves a core idle while it links or runs a long single-threaded
# step. `finish_background` waits for all and fails with the log of any
# that failed.
mkdir -p tools/logs
background_pids=()
background_names=()
background() {
  local name=$1 what=$2
  shift 2
  say "$what (in the background: tools/logs/$name.log)"
  "$@" > "tools/logs/$name.log" 2>&1 &
  background_pids+=($!)
  background_names+=("$name")
}
# Should a step fail, the compilations stop with it.
trap 'if [ $? -ne 0 ] && [ ${#background_pids[@]} -gt 0 ]; then kill "${background_pids[@]}" 2>/dev/null || true; fi' EXIT
finish_background() {
  local failed=0 i
  for i in "${!background_pids[@]}"; do
    if ! wait "${background_pids[$i]}"; then
      echo "${background_names[$i]} failed; the end of tools/logs/${background_names[$i]}.log:" >&2
      tail -n 30 "tools/logs/${background_names[$i]}.log" >&2
      failed=1
    fi
  done
  return "$failed"
}

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

if [ "${1:-}" = "release" ]; then
  # The commands cargo-leptos runs for `--release --split`, to the letter
  # (its front build adds the relocations wasm splitting reads), so that
  # it finds both built and only binds, splits and optimises the wasm.
  background release-server "Compiling the release server" \
    cargo build --package=keysmith --bin=keysmith --no-default-features --features=ssr --release
  background release-front "Compiling the release front (wasm)" \
    env RUSTFLAGS="--cfg erase_components -Clink-args=--emit-relocs" \
    cargo build --package=keysmith --lib --target-dir=target/front --target=wasm32-unknown-unknown \
    --no-default-features --features=hydrate --profile=wasm-release
fi

if ! cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $CARGO_LEPTOS_VERSION"; then
  # --debug builds in a third of the time and runs as fast (the work is
  # rustc's), without debug info in less again; --ignore-rust-version: a
  # locked dependency asks for a newer rustc than it needs.
  background cargo-leptos "Installing cargo-leptos $CARGO_LEPTOS_VERSION (about 5 minutes, once)" \
    env CARGO_PROFILE_DEV_DEBUG=0 \
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --ignore-rust-version --debug
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  # Not --locked: the locked set asks for a crate version the registry
  # lacks. No TLS: only its test runner downloads anything.
  background wasm-bindgen "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)" \
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
  if ! tools/venv/bin/schemathesis --version 2>/dev/null | grep -q "$(cut -d= -f3 tools/requirements-test.txt)"; then
    say "Installing schemathesis (PyPI) for the generated API tests"
    python3 -m venv tools/venv
    tools/venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-test.txt
  fi
  # Again whenever the lock file changed since (a new test library).
  if [ ! -f end2end/node_modules/.package-lock.json ] ||
    [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "Installing Playwright (the library only: it uses the Chromium above) and axe-core"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund
  fi
fi

# Apt, pip and npm above ran while these compiled.
finish_background
