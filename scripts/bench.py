#!/usr/bin/env python3
"""Keysmith's HTTP benchmarks, against the release server on a fresh database:

1. requests/s and p50/p99 latency, at 64 and 256 connections (wrk), in the
   same run, of the floor (examples/floor.rs, a minimal axum server: its
   GET / and a POST carrying verify's body) and of Keysmith's
   POST /api/v2/keys/verify (a key with meta and an external id), GET
   /healthz and GET /readyz, each as a ratio of the floor's GET (with
   --against BIN, verify and the probes of a second build in the same rounds:
   an A/B of two builds);
   and (--only cpu) the CPU each of those requests costs the server (user,
   system, context switches) and wrk, at 64 connections;
2. listing 10,000 keys of one account: the API keys page (SSR), the page's
   next-page call deep in the list, and GET /api/v2/api-keys first and deep;
3. peak RSS after verifying 100,000 distinct keys;
4. the release wasm bundle, raw, gzip and brotli: the shell alone and with
   each page's chunks (the first visit to that page).

Run by scripts/bench.sh, which builds the release server and installs wrk.
Standard library only.
"""

import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import resource
import secrets
import sqlite3
import statistics
import subprocess
import tempfile
import time
import zlib

from harness import Server, call, free_port

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


def start_floor(binary, folder):
    """The floor server (examples/floor.rs) on a free port."""
    port = free_port()
    log = open(os.path.join(folder, "floor.log"), "ab")
    process = subprocess.Popen([binary, f"127.0.0.1:{port}"], stdout=log, stderr=log)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if call(port, "GET", "/")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the floor server did not start; see {log.name}")


def post_script(folder, name, path, body):
    """A static POST for wrk (no Lua per request)."""
    script = os.path.join(folder, name)
    with open(script, "w") as out:
        out.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        out.write(f"wrk.path = '{path}'\nwrk.body = '{body}'\n")
    return script


# A limit verify never reaches in a benchmark: what is measured is its cost.
UNREACHED_LIMIT = {"name": "requests", "limit": 1_000_000_000, "window_seconds": 86_400}


def verify_target(server, folder, name, token, **more):
    """A key with meta and an external id (and `more` of the draft's fields)
    on `server`, and a wrk script verifying it (a cached key after the first
    call)."""
    draft = {"name": "load", "scopes": ["read"], "external_id": "cust_42",
             "meta": {"plan": "pro", "seats": 25, "region": "eu-west-1"}, **more}
    status, created = server.json("POST", "/api/v2/api-keys", draft, token)
    assert status == 201, (status, created)
    body = json.dumps({"key": created["data"]["key"], "required_scope": "read"}, separators=(",", ":"))
    status, answer, _ = server.call("POST", "/api/v2/keys/verify", json.loads(body))
    assert status == 200 and json.loads(answer)["data"]["meta"]["plan"] == "pro", answer
    return body, post_script(folder, name, "/api/v2/keys/verify", body)


def targets_of(server, folder, floor_port, against=None):
    """What the load and CPU parts measure: the floor's GET and POST, and
    verify and the probes on Keysmith (and verify and the probes on a second
    build, `against`, when comparing two)."""
    token = sign_up(server, "load@example.com")
    body, verify_script = verify_target(server, folder, "verify.lua", token)
    _, limited_script = verify_target(server, folder, "limited.lua", token, ratelimits=[UNREACHED_LIMIT])
    _, metered_script = verify_target(server, folder, "metered.lua", token, ratelimits=[UNREACHED_LIMIT],
                                      credits={"remaining": 10**12})
    keysmith = f"http://127.0.0.1:{server.port}"
    floor_base = f"http://127.0.0.1:{floor_port}"
    targets = {
        "floor GET /": (f"{floor_base}/", None),
        "floor POST (verify's body)": (floor_base, post_script(folder, "floor-post.lua", "/verify", body)),
        "verify (meta, external id)": (keysmith, verify_script),
        "verify, one rate limit": (keysmith, limited_script),
        "verify, one rate limit and credits": (keysmith, metered_script),
        "/healthz": (f"{keysmith}/healthz", None),
        "/readyz": (f"{keysmith}/readyz", None),
    }
    if against:
        _, against_script = verify_target(against, folder, "against.lua", sign_up(against, "load@example.com"))
        other = f"http://127.0.0.1:{against.port}"
        targets["against: verify"] = (other, against_script)
        targets["against: /healthz"] = (f"{other}/healthz", None)
        targets["against: /readyz"] = (f"{other}/readyz", None)
    return targets


def load(server, folder, seconds, floor_binary, runs, against=None):
    """Each endpoint at 64 and 256 connections, `runs` times in turn (the
    machine's speed drifts: alternating spreads the drift over all), with
    the floor server idle while Keysmith is measured and the other way
    round (both are started for the whole run)."""
    floor, floor_port = start_floor(floor_binary, folder)
    try:
        targets = targets_of(server, folder, floor_port, against)
        for url, script in targets.values():  # warm-up
            wrk(url, 64, 2, script)
        results = {connections: {name: [] for name in targets} for connections in (64, 256)}
        for _ in range(runs):
            for connections in (64, 256):
                for name, (url, script) in targets.items():
                    results[connections][name].append(wrk(url, connections, seconds, script))
        return results
    finally:
        floor.kill()
        floor.wait()


def cpu(server, folder, seconds, floor_binary):
    """CPU per request at 64 connections, on each side: the server's user
    and system time and context switches (all its threads, from /proc), and
    wrk's own time (its rusage). Client and server share the cores, so a
    microsecond either side spends is a microsecond the other does not get."""
    floor, floor_port = start_floor(floor_binary, folder)
    try:
        targets = targets_of(server, folder, floor_port)
        results = {}
        for name, (url, script) in targets.items():
            pid = floor.pid if name.startswith("floor") else server.process.pid
            wrk(url, 64, 2, script)
            client_before, server_before = resource.getrusage(resource.RUSAGE_CHILDREN), process_cpu(pid)
            run = wrk(url, 64, seconds, script)
            client_after, server_after = resource.getrusage(resource.RUSAGE_CHILDREN), process_cpu(pid)
            requests = run["rps"] * seconds
            per_request = lambda after, before: (after - before) / requests
            results[name] = {
                "rps": run["rps"],
                "server user µs": per_request(server_after["user"], server_before["user"]) * 1e6,
                "server system µs": per_request(server_after["system"], server_before["system"]) * 1e6,
                "server switches": per_request(server_after["switches"], server_before["switches"]),
                "wrk µs": per_request(client_after.ru_utime + client_after.ru_stime,
                                      client_before.ru_utime + client_before.ru_stime) * 1e6,
            }
        return results
    finally:
        floor.kill()
        floor.wait()


def process_cpu(pid):
    """Seconds of user and system time, and context switches, of every
    thread of `pid` so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    switches = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        text = open(status).read()
        switches += sum(int(n) for n in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", text, re.M))
    return {"user": int(fields[11]) / ticks, "system": int(fields[12]) / ticks, "switches": switches}


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
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--runs", type=int, default=2, help="rounds of the load benchmark")
    parser.add_argument("--floor", default="target/release/examples/floor",
                        help="the floor server (cargo build --release --features ssr --example floor)")
    parser.add_argument("--memory-keys", type=int, default=100_000)
    parser.add_argument("--against", help="a second Keysmith build whose verify and probes the load part measures in the same rounds (an A/B)")
    parser.add_argument("--only", choices=["load", "cpu", "listing", "memory", "wasm"])
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="keysmith-bench-")
    folder = tempfile.mkdtemp(dir=root)
    server = start_server(args.binary, folder)
    against = start_server(args.against, tempfile.mkdtemp(dir=root)) if args.against else None
    wanted = lambda part: args.only in (None, part)
    results = {}
    try:
        if wanted("load"):
            results["load"] = load(server, folder, args.seconds, args.floor, args.runs, against)
        if wanted("cpu"):
            results["cpu"] = cpu(server, tempfile.mkdtemp(dir=root), args.seconds, args.floor)
        if wanted("listing"):
            results["listing"] = listing(server, folder)
    finally:
        server.stop()
        if against:
            against.stop()
    if wanted("memory"):
        results["memory"] = memory(args.binary, root, args.memory_keys)
    if wanted("wasm"):
        results["wasm"] = wasm_size()
    print(json.dumps(results, indent=2))
    print_load(results.get("load", {}))
    print_cpu(results.get("cpu", {}))


def print_cpu(cpu_results):
    if not cpu_results:
        return
    print("\n| 64 connections | req/s | server user µs | server system µs | server switches | wrk µs |")
    print("|---|---|---|---|---|---|")
    for name, r in cpu_results.items():
        print(f"| {name} | {r['rps']:,.0f} | {r['server user µs']:.2f} | {r['server system µs']:.2f} "
              f"| {r['server switches']:.3f} | {r['wrk µs']:.2f} |")


def print_load(load_results):
    """The load table as BENCHMARKS.md shows it: req/s of each run, and the
    ratio of each run to the floor's GET of the same round."""
    for connections, by_name in load_results.items():
        floor = [run["rps"] for run in by_name["floor GET /"]]
        print(f"\n{connections} connections")
        print("| Endpoint | req/s, each run | p99 ms, each run | × floor GET, each run |")
        print("|---|---|---|---|")
        for name, runs in by_name.items():
            rps = ", ".join(f"{run['rps']:,.0f}" for run in runs)
            p99 = ", ".join(f"{run['p99_ms']:.2f}" for run in runs)
            ratio = ", ".join(f"{run['rps'] / base:.2f}" for run, base in zip(runs, floor))
            errors = [run for run in runs if run["non_2xx"] or run["socket_errors"] != "none"]
            flag = f" ({len(errors)} runs with errors)" if errors else ""
            print(f"| {name}{flag} | {rps} | {p99} | {ratio} |")


if __name__ == "__main__":
    main()
