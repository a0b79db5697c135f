#!/usr/bin/env python3
"""Keysmith on PostgreSQL, against the release build (results: BENCHMARKS.md
§7-§9), each part on a throwaway cluster (scripts/postgres.sh):

1. propagation: two servers on one database; for each of N keys, verify it
   on B (so B caches it VALID), revoke it on A, then ask B until it answers
   REVOKED: p50, p99 and the worst of the time from A's answer to B's
   first REVOKED;
2. backends: the same measurements on SQLite and on PostgreSQL: creating
   10,000 keys from 8 clients (creates/s, p50/p99), listing them (API, first
   page and page 400), verifying one key (cached) and 1,000 keys in turn
   with a one-entry cache (uncached), with wrk at 64 connections;
3. replicas: verify throughput through nginx (the README's site) in front
   of 1 and of 3 replicas, and straight to one.

Run by scripts/bench.sh. Standard library only.

    python3 scripts/bench_postgres.py [--only propagation|backends|replicas]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

from bench import sign_up, start_server, static_verify_script, timed, verify_script, wrk
from harness import Nginx, PostgresCluster

CREATE_CLIENTS = 8
KEYS = 10_000
UNCACHED_KEYS = 1_000


def percentile(samples, fraction):
    samples = sorted(samples)
    return samples[max(0, int(len(samples) * fraction) - 1)]


def verdict(server, key):
    status, answer = server.json("POST", "/api/v2/keys/verify", {"key": key})
    assert status == 200, answer
    return answer["data"]["code"]


def propagation(binary, root, count):
    with PostgresCluster() as cluster:
        url = cluster.create_database("keysmith")
        a = start_server(binary, folder(root, "a"), url)
        b = start_server(binary, folder(root, "b"), url)
        try:
            token = sign_up(a, "replicas@example.com")
            samples = []
            for n in range(count):
                status, created = a.json("POST", "/api/v2/api-keys", {"name": f"k{n}", "scopes": ["read"]}, token)
                assert status == 201, created
                key_id, secret = created["data"]["id"], created["data"]["key"]
                assert verdict(b, secret) == "VALID"
                status, _ = a.json("POST", f"/api/v2/api-keys/{key_id}/revoke", None, token)
                assert status == 200
                revoked_at = time.perf_counter()
                while verdict(b, secret) != "REVOKED":
                    if time.perf_counter() - revoked_at > 5:
                        sys.exit(f"key {n} still valid on b 5 s after its revocation on a")
                samples.append((time.perf_counter() - revoked_at) * 1000)
            round_trip = timed(lambda: verdict(b, secret), 200)["median_ms"]
            return {
                "revocations": count,
                "p50_ms": round(statistics.median(samples), 2),
                "p99_ms": round(percentile(samples, 0.99), 2),
                "worst_ms": round(max(samples), 2),
                "one verify round trip to b alone, median ms": round(round_trip, 2),
            }
        finally:
            a.stop()
            b.stop()


def create_keys(server, token, count):
    """`count` keys from CREATE_CLIENTS clients at once: (secrets, rate, latencies)."""
    secrets, latencies, lock = [], [], threading.Lock()

    def client(share):
        for n in range(share):
            started = time.perf_counter()
            status, created = server.json("POST", "/api/v2/api-keys", {"name": f"key {n}", "scopes": ["read"]}, token)
            took = (time.perf_counter() - started) * 1000
            assert status == 201, created
            with lock:
                secrets.append(created["data"]["key"])
                latencies.append(took)

    clients = [threading.Thread(target=client, args=(count // CREATE_CLIENTS,)) for _ in range(CREATE_CLIENTS)]
    started = time.perf_counter()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    return secrets, len(secrets) / (time.perf_counter() - started), latencies


def backend(binary, root, name, url, seconds):
    server = start_server(binary, folder(root, name), url)
    try:
        token = sign_up(server, "backends@example.com")
        secrets, rate, latencies = create_keys(server, token, KEYS)
        cursor = None
        for _ in range(KEYS // 25 - 1):
            status, page = server.json("GET", "/api/v2/api-keys" + (f"?cursor={cursor}" if cursor else ""), token=token)
            assert status == 200
            cursor = page["next_cursor"]
        auth = {"Authorization": f"Bearer {token}"}
        results = {
            f"create, {CREATE_CLIENTS} clients": {
                "keys/s": round(rate), "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2)},
            "GET /api/v2/api-keys, first page": timed(lambda: server.call("GET", "/api/v2/api-keys", None, auth), 50),
            f"GET /api/v2/api-keys, page {KEYS // 25}": timed(
                lambda: server.call("GET", f"/api/v2/api-keys?cursor={cursor}", None, auth), 50),
        }
        base = f"http://127.0.0.1:{server.port}/api/v2/keys/verify"
        script = static_verify_script(server.folder, secrets[0])
        wrk(base, 64, 2, script)  # warm-up
        results["verify, cached (wrk, 64 connections)"] = wrk(base, 64, seconds, script)
    finally:
        server.stop()
    # The same database, a server whose cache holds one key: every
    # verification of 1,000 keys in turn reads the database.
    server = start_server(binary, folder(root, name + "-uncached"), url, KEYSMITH_VERIFY_CACHE_ENTRIES="1")
    try:
        script = verify_script(server.folder, secrets[:UNCACHED_KEYS], "uncached.lua")
        base = f"http://127.0.0.1:{server.port}/api/v2/keys/verify"
        results["verify, uncached (wrk, 64 connections)"] = wrk(base, 64, seconds, script, threads=1)
    finally:
        server.stop()
    return results


def backends(binary, root, seconds):
    results = {"SQLite": backend(binary, root, "sqlite", None, seconds)}
    with PostgresCluster() as cluster:
        results["PostgreSQL"] = backend(binary, root, "postgres", cluster.create_database("keysmith"), seconds)
    return results


def replicas(binary, root, seconds):
    with PostgresCluster() as cluster:
        url = cluster.create_database("keysmith")
        servers = [start_server(binary, folder(root, f"replica-{n}"), url,
                                KEYSMITH_TRUSTED_PROXIES="127.0.0.1") for n in range(3)]
        try:
            token = sign_up(servers[0], "nginx@example.com")
            status, created = servers[0].json("POST", "/api/v2/api-keys", {"name": "load", "scopes": ["read"]}, token)
            assert status == 201
            script = static_verify_script(root, created["data"]["key"])
            results = {}
            for label, ports in (("nginx, 1 replica", servers[:1]), ("nginx, 3 replicas", servers)):
                with Nginx(folder(root, label.replace(", ", "-").replace(" ", "")), [s.port for s in ports]) as nginx:
                    url_ = f"http://127.0.0.1:{nginx.port}/api/v2/keys/verify"
                    wrk(url_, 64, 2, script)  # warm-up
                    results[label] = wrk(url_, 64, seconds, script)
            direct = f"http://127.0.0.1:{servers[0].port}/api/v2/keys/verify"
            results["1 replica, no nginx"] = wrk(direct, 64, seconds, script)
            return results
        finally:
            for server in servers:
                server.stop()


def folder(root, name):
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/keysmith")
    parser.add_argument("--revocations", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--only", choices=["propagation", "backends", "replicas"])
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="keysmith-bench-pg-")
    wanted = lambda part: args.only in (None, part)
    results = {}
    if wanted("propagation"):
        results["propagation"] = propagation(args.binary, root, args.revocations)
    if wanted("backends"):
        results["backends"] = backends(args.binary, root, args.seconds)
    if wanted("replicas"):
        results["replicas"] = replicas(args.binary, root, args.seconds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
