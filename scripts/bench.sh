#!/usr/bin/env bash
# Every benchmark in one command, on the release build (results: BENCHMARKS.md):
#   1. criterion, through the service layer: verify (cached, with a rate
#      limit, uncached, malformed), key generation, checksum;
#   2. HTTP load with wrk: verify, /healthz and /readyz at 64 and 256
#      connections, against the floor server (examples/floor.rs) in the
#      same run;
#   3. listing 10,000 keys, first and deep page, SSR and API;
#   4. peak RSS after verifying 100,000 distinct keys;
#   5. the release wasm bundle, raw and compressed;
#   6. the crash test with 20 kills, on SQLite, on PostgreSQL and on three
#      replicas behind nginx;
#   7-9. PostgreSQL: revocation propagation between two replicas, PostgreSQL
#      against SQLite, nginx in front of 1 and 3 replicas;
#   10. rate limits' accuracy: one node exact, three replicas never over.
# Installs what is missing first: wrk (Debian) here, nginx through
# `scripts/setup.sh test`, PostgreSQL through scripts/postgres.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/tools/node_modules/.bin:$PATH"

if ! command -v wrk >/dev/null; then
  echo "==> Installing wrk (Debian) for the HTTP load benchmark"
  sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi

echo "==> Release build (precompressed assets, one wasm chunk per page) and the floor server"
cargo leptos build --release --precompress --split
cargo build --release --features ssr --example floor

echo "==> criterion: the verification path through the service layer"
cargo bench --features ssr --bench verify

echo "==> HTTP load, listing, memory and bundle size"
python3 scripts/bench.py "$@"

echo "==> PostgreSQL: propagation, against SQLite, several replicas"
python3 scripts/bench_postgres.py

echo "==> Rate limits: exact on one node, never over on three replicas"
python3 scripts/limits_accuracy.py

echo "==> Crash tests, 20 kills each, release build"
python3 scripts/crash_test.py --rounds 20 --binary target/release/keysmith
python3 scripts/crash_test.py --rounds 20 --binary target/release/keysmith --postgres
python3 scripts/crash_test.py --rounds 20 --binary target/release/keysmith --replicas 3
