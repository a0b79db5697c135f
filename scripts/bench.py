#!/usr/bin/env python3
"""Keysmith's HTTP benchmarks, against the release server on a fresh database:

1. requests/s and p50/p99 latency of POST /api/v2/keys/verify and of
   GET /healthz, in the same run, at 64 and 256 connections (wrk);
2. listing 10,000 keys of one account: the API keys page (SSR), the page's
   next-page call deep in the list, and GET /api/v2/api-keys first and deep;
3. peak RSS after verifying 100,000 distinct keys;
4. the release wasm bundle, raw, gzip and brotli: the shell alone and with
   each page's chunks (the first visit to that page).

Run by scripts/bench.sh, which builds the release server and installs wrk.
Standard library only.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import secrets
import sqlite3
import statistics
import subprocess
import tempfile
import time
import zlib

from harness import Server

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "ks_live_"
PASSWORD = "benchmark-password-1"


def new_secret():
    """A key in Keysmith's format: prefix, 32 base62, base62 CRC32 of both."""
    body = PREFIX + "".join(secrets.choice(BASE62) for _ in range(32))
    n, checksum = zlib.crc32(body.encode()), ""
    for _ in range(6):
        checksum = BASE62[n % 62] + checksum
        n //= 62
    return body + checksum


def peak_rss_mb(server):
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024


def start_server(binary, folder, database_url=None, **settings):
    """The release server as deployed: built site, production mode."""
    return Server(binary, folder, database_url, site_root="target/site", **settings).start()


def wrk(url, connections, seconds, script=None, threads=2):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label):
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


def verify_script(folder, keys, name):
    """A wrk script posting each key in turn (one wrk thread walks them in order)."""
    path = os.path.join(folder, name)
    with open(path, "w") as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        script.write("local bodies = {\n")
        for key in keys:
            script.write(f'  \'{{"key":"{key}","required_scope":"read"}}\',\n')
        script.write("}\nlocal i = 0\n")
        script.write("request = function()\n  i = i % #bodies + 1\n")
        script.write('  return wrk.format(nil, "/api/v2/keys/verify", nil, bodies[i])\nend\n')
    return path


def static_verify_script(folder, key):
    """A wrk script posting one key: a static request, so wrk spends no Lua
    per request and loads the server as lightly as a plain GET does."""
    path = os.path.join(folder, "verify-one.lua")
    with open(path, "w") as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        script.write(f'wrk.body = \'{{"key":"{key}","required_scope":"read"}}\'\n')
    return path


def timed(action, runs):
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95) - 1]}


def seed_keys(folder, account_id, user_id, count, verifiable):
    """Inserts keys straight into the database (the API would take minutes
    for 100,000); returns the secrets when they must verify."""
    connection = sqlite3.connect(os.path.join(folder, "keysmith.db"), timeout=30)
    now = int(time.time() * 1000)
    created, rows = [], []
    for i in range(count):
        secret = new_secret() if verifiable else PREFIX + secrets.token_hex(16)
        created.append(secret)
        rows.append((
            f"key_{now:012x}{i:020x}", account_id, f"seeded {i}",
            hashlib.sha256(secret.encode()).hexdigest(), secret[:14], secret[-4:],
            "read", "", now, user_id, now, user_id,
        ))
    connection.executemany(
        """INSERT INTO api_keys (id, account_id, name, secret_digest, key_prefix, last_four,
             scopes, ip_allowlist, created_at, created_by, updated_at, updated_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
    connection.commit()
    connection.close()
    return created if verifiable else None


def account_of(folder, email):
    connection = sqlite3.connect(os.path.join(folder, "keysmith.db"))
    row = connection.execute("SELECT account_id, id FROM users WHERE email = ?", (email,)).fetchone()
    connection.close()
    return row


def sign_up(server, email):
    status, _ = server.json("POST", "/api/v2/auth/signup", {"email": email, "password": PASSWORD})
    assert status == 201, status
    status, token = server.json("POST", "/api/v2/auth/token", {"email": email, "password": PASSWORD})
    assert status == 200, status
    return token["access_token"]


def load(server, folder, seconds):
    token = sign_up(server, "load@example.com")
    status, created = server.json("POST", "/api/v2/api-keys", {"name": "load", "scopes": ["read"]}, token)
    assert status == 201, (status, created)
    key = created["data"]["key"]
    script = static_verify_script(folder, key)
    base = f"http://127.0.0.1:{server.port}"
    verify_url = f"{base}/api/v2/keys/verify"
    wrk(f"{base}/healthz", 64, 2)  # warm-up
    wrk(verify_url, 64, 2, script)
    results = {}
    for connections in (64, 256):
        healthz = wrk(f"{base}/healthz", connections, seconds)
        before = server_buckets(server)
        verify = wrk(verify_url, connections, seconds, script)
        verify["server_side_p50_ms_at_most"], verify["server_side_p99_ms_at_most"] = quantiles(
            before, server_buckets(server), (0.5, 0.99))
        results[connections] = {"healthz": healthz, "verify": verify}
    return results


VERIFY_BUCKET = re.compile(
    r'^keysmith_http_request_duration_seconds_bucket\{method="POST",route="/api/v2/keys/verify",le="([^"]+)"\} (\S+)$',
    re.M)


def server_buckets(server):
    """The server's own latency histogram of verify requests (from /metrics):
    time from the request being read to the answer being written, without
    the time spent waiting for a CPU or in the socket queues."""
    text = server.call("GET", "/metrics")[1].decode()
    return [(float(le), float(count)) for le, count in VERIFY_BUCKET.findall(text)]


def quantiles(before, after, wanted):
    counts = [(le, n - dict(before).get(le, 0)) for le, n in after]
    total = counts[-1][1]
    return tuple(next(le * 1000 for le, n in counts if n >= q * total) for q in wanted)


def listing(server, folder):
    email = "lists@example.com"
    token = sign_up(server, email)
    account_id, user_id = account_of(folder, email)
    seed_keys(folder, account_id, user_id, 10_000, verifiable=False)
    cursor, pages = None, 0
    while pages < 399:  # 25 a page: the last page of 10,000 keys
        path = "/api/v2/api-keys" + (f"?cursor={cursor}" if cursor else "")
        status, page = server.json("GET", path, token=token)
        assert status == 200, status
        cursor, pages = page["next_cursor"], pages + 1
    deep_cursor = cursor
    status, _, headers = server.call(
        "POST", "/rpc/sign_in", f"email={email}&password={PASSWORD}&next=",
        {"Origin": f"http://127.0.0.1:{server.port}"}, form=True,
    )
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie" and "keysmith_session" in v)
    browser = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{server.port}"}

    def page(path, body=None):
        method = "POST" if body is not None else "GET"
        status, data, _ = server.call(method, path, body, browser if body is not None else {"Cookie": cookie})
        assert status == 200, (path, status, data[:200])
        return data

    assert b"seeded 9999" in page("/dashboard/api-keys"), "the SSR page lists the newest keys"
    deep = page("/rpc/list_api_keys", {"query": {"cursor": deep_cursor}})
    assert b"seeded 24" in deep, "the deep page holds the oldest keys"
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "SSR page /dashboard/api-keys, first page": timed(lambda: page("/dashboard/api-keys"), 50),
        "its next-page call, page 400 (/rpc/list_api_keys)": timed(
            lambda: page("/rpc/list_api_keys", {"query": {"cursor": deep_cursor}}), 50),
        "GET /api/v2/api-keys, first page": timed(lambda: server.call("GET", "/api/v2/api-keys", None, auth), 50),
        "GET /api/v2/api-keys, page 400": timed(
            lambda: server.call("GET", f"/api/v2/api-keys?cursor={deep_cursor}", None, auth), 50),
    }


def memory(binary, folder_root, count):
    folder = tempfile.mkdtemp(dir=folder_root)
    server = start_server(binary, folder)
    try:
        sign_up(server, "memory@example.com")
        account_id, user_id = account_of(folder, "memory@example.com")
        keys = seed_keys(folder, account_id, user_id, count, verifiable=True)
        started_mb = peak_rss_mb(server)
        script = verify_script(folder, keys, "distinct.lua")
        # One wrk thread walks the list in order, so every key is verified.
        seconds = 0
        while True:
            seconds += 10
            wrk(f"http://127.0.0.1:{server.port}", 32, 10, script, threads=1)
            _, text, _ = server.call("GET", "/metrics")
            entries = float(re.search(rb"^keysmith_verify_cache_entries (\S+)", text, re.M).group(1))
            misses = float(re.search(rb"^keysmith_verify_cache_misses_total (\S+)", text, re.M).group(1))
            if misses >= count or seconds >= 120:
                break
        first_pass_mb = peak_rss_mb(server)
        # Then the same keys again, now answered from the cache at full
        # speed: the usage batches are at their largest.
        for _ in range(3):
            wrk(f"http://127.0.0.1:{server.port}", 32, 10, script, threads=1)
        return {
            "keys verified (distinct, cache misses)": int(misses),
            "cache entries": int(entries),
            "peak RSS at start, MB": round(started_mb, 1),
            "peak RSS after, MB": round(first_pass_mb, 1),
            "peak RSS after 30 s more of cached verifications, MB": round(peak_rss_mb(server), 1),
        }
    finally:
        server.stop()


def wasm_size():
    """The shell's wasm alone, then what each page needs on a first visit:
    the shell plus the page's chunks, as listed in the split manifest."""
    folder = "target/site/pkg"
    files = os.listdir(folder)

    def sizes(names):
        total = {"raw bytes": 0, "gzip -9 bytes": 0, "brotli bytes (as served)": 0}
        for name in names:
            raw = open(os.path.join(folder, name), "rb").read()
            total["raw bytes"] += len(raw)
            total["gzip -9 bytes"] += len(gzip.compress(raw, 9))
            brotli = os.path.join(folder, name + ".br")  # only in --precompress builds
            total["brotli bytes (as served)"] += os.path.getsize(brotli) if os.path.exists(brotli) else 0
        return total

    shell = next(f for f in files if f.startswith("keysmith.") and f.endswith(".wasm"))
    results = {"shell " + shell: sizes([shell])}
    manifest = next((f for f in files if f.startswith("__wasm_split_manifest.") and f.endswith(".json")), None)
    if manifest:
        for split, chunks in sorted(json.load(open(os.path.join(folder, manifest))).items()):
            page = re.sub(r"^__|_view_\d+$", "", split)
            results["first visit to " + page] = sizes([shell] + [c + ".wasm" for c in chunks])
        results["every file"] = sizes([f for f in files if f.endswith(".wasm")])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/keysmith")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--memory-keys", type=int, default=100_000)
    parser.add_argument("--only", choices=["load", "listing", "memory", "wasm"])
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="keysmith-bench-")
    folder = tempfile.mkdtemp(dir=root)
    server = start_server(args.binary, folder)
    wanted = lambda part: args.only in (None, part)
    results = {}
    try:
        if wanted("load"):
            results["load"] = load(server, folder, args.seconds)
        if wanted("listing"):
            results["listing"] = listing(server, folder)
    finally:
        server.stop()
    if wanted("memory"):
        results["memory"] = memory(args.binary, root, args.memory_keys)
    if wanted("wasm"):
        results["wasm"] = wasm_size()
    print(json.dumps(results, indent=2))
    for connections, pair in results.get("load", {}).items():
        ratio = pair["verify"]["rps"] / pair["healthz"]["rps"]
        print(f"{connections}: verify {pair['verify']['rps']:.0f} req/s "
              f"(p50 {pair['verify']['p50_ms']:.2f} ms, p99 {pair['verify']['p99_ms']:.2f} ms; "
              f"server side p99 <= {pair['verify']['server_side_p99_ms_at_most']} ms), "
              f"healthz {pair['healthz']['rps']:.0f} req/s: ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
