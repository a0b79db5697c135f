#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a folder
# of its own, on loopback, no system service.
#   scripts/postgres.sh start DIR PORT   prints the URL of its superuser
#   scripts/postgres.sh stop DIR
# Installs Debian's postgresql when missing. initdb refuses to run as root,
# so as root the cluster runs as the `postgres` user the package creates.
set -euo pipefail
command_name=${1:?start or stop}
dir=${2:?the cluster folder}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
  echo "==> Installing PostgreSQL (Debian)" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command_name" in
  start)
    port=${3:?the port}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --locale=C.UTF-8 \
      --encoding=UTF8 >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=on" \
      start >&2
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
