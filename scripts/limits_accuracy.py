#!/usr/bin/env python3
"""How exact Keysmith's rate limits and credits are, against the release
server:

1. one node (SQLite): 10,000 verifications, 200 in flight at a time, of a
   fresh key with a limit of 1,000 per 10 minutes: exactly 1,000 must be
   admitted;
2. three replicas on PostgreSQL behind the README's nginx: a key with a
   limit of 600 per 10 s, verified at about 5x the limit for 60 s, evenly
   over the replicas: every window must admit at most 600, and on average
   at least 90 % of it (each VALID answer names its window by `reset_at`);
3. credits on three replicas behind nginx under load, one replica killed
   with SIGKILL (and restarted) ten times: the credits admitted plus those
   left must never exceed those granted, and what was lost (leases of
   killed replicas) is printed beside its bound, one lease per kill.

Run by scripts/bench.sh after the HTTP benchmarks. Standard library only.
"""

import argparse
import collections
import http.client
import json
import os
import tempfile
import threading
import time

from bench import sign_up
from harness import Nginx, PostgresCluster, Server

def limited_key(server, limit, window_seconds):
    token = sign_up(server, "limits@example.com")
    draft = {"name": "limited", "scopes": ["read"],
             "ratelimits": [{"name": "requests", "limit": limit, "window_seconds": window_seconds}]}
    status, created = server.json("POST", "/api/v2/api-keys", draft, token)
    assert status == 201, created
    return created["data"]["key"]


class Verifier(threading.Thread):
    """Verifies `key` on its own keep-alive connection to `port`, `count`
    times or until `stop`, at most `per_second` a second; notes each answer's
    code and, for a valid one, its window (`reset_at`)."""

    def __init__(self, port, key, count=None, stop=None, per_second=None, tolerant=False):
        super().__init__(daemon=True)
        # Tolerant: a replica killed under it (a 502 from nginx, a dropped
        # connection) is counted and the run goes on.
        self.tolerant = tolerant
        self.port, self.count, self.stop, self.per_second = port, count, stop, per_second
        self.body = json.dumps({"key": key})
        self.codes = collections.Counter()
        self.windows = collections.Counter()

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        done, started = 0, time.time()
        while (self.count is None or done < self.count) and not (self.stop and self.stop.is_set()):
            if self.per_second and done >= (time.time() - started) * self.per_second:
                time.sleep(0.001)
                continue
            try:
                connection.request("POST", "/api/v2/keys/verify", self.body,
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                if not self.tolerant:
                    raise
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.codes["no answer"] += 1
                continue
            if response.status != 200 and self.tolerant:
                self.codes[f"HTTP {response.status}"] += 1
                continue
            answer = json.loads(body)["data"]
            self.codes[answer["code"]] += 1
            if answer["code"] == "VALID" and "ratelimits" in answer:
                self.windows[answer["ratelimits"][0]["reset_at"]] += 1
            done += 1
        connection.close()


def one_node(binary, root):
    folder = tempfile.mkdtemp(dir=root)
    server = Server(binary, folder).start()
    try:
        key = limited_key(server, 1_000, 600)
        threads = [Verifier(server.port, key, count=50) for _ in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sum((t.codes for t in threads), collections.Counter())
        return {"verifications": sum(codes.values()), "limit": 1_000, "admitted": codes["VALID"],
                "rate limited": codes["RATE_LIMITED"]}
    finally:
        server.stop()


def replicas(binary, root, seconds):
    limit, window = 600, 10
    with PostgresCluster() as cluster:
        url = cluster.create_database("limits")
        servers = [Server(binary, tempfile.mkdtemp(dir=root), url).start() for _ in range(3)]
        try:
            key = limited_key(servers[0], limit, window)
            with Nginx(tempfile.mkdtemp(dir=root), [s.port for s in servers]) as nginx:
                stop = threading.Event()
                # 5x the limit: 300 a second, over 30 connections.
                threads = [Verifier(nginx.port, key, stop=stop, per_second=5 * limit / window / 30)
                           for _ in range(30)]
                for thread in threads:
                    thread.start()
                time.sleep(seconds)
                stop.set()
                for thread in threads:
                    thread.join()
        finally:
            for server in servers:
                server.stop()
    windows = sum((t.windows for t in threads), collections.Counter())
    codes = sum((t.codes for t in threads), collections.Counter())
    # The last window was cut short by the end of the run.
    whole = [count for _, count in sorted(windows.items())][:-1]
    return {"limit": limit, "window_seconds": window, "replicas": 3,
            "verifications": sum(codes.values()), "codes": dict(codes),
            "admitted per whole window": whole,
            "most in a window": max(whole), "least in a window": min(whole),
            "mean share of the limit": sum(whole) / len(whole) / limit}


def credits_under_kills(binary, root, kills):
    granted = 20_000
    with PostgresCluster() as cluster:
        url = cluster.create_database("credits")
        servers = [Server(binary, tempfile.mkdtemp(dir=root), url).start() for _ in range(3)]
        try:
            token = sign_up(servers[0], "credits@example.com")
            draft = {"name": "metered", "scopes": ["read"], "credits": {"remaining": granted}}
            status, created = servers[0].json("POST", "/api/v2/api-keys", draft, token)
            assert status == 201, created
            key, key_id = created["data"]["key"], created["data"]["id"]
            with Nginx(tempfile.mkdtemp(dir=root), [s.port for s in servers]) as nginx:
                stop = threading.Event()
                threads = [Verifier(nginx.port, key, stop=stop, tolerant=True) for _ in range(20)]
                for thread in threads:
                    thread.start()
                for round_ in range(kills):
                    time.sleep(1.5)
                    victim = servers[round_ % 3]
                    victim.kill()
                    victim.start()
                stop.set()
                for thread in threads:
                    thread.join()
            admitted = sum(t.codes["VALID"] for t in threads)
            # Leases of killed replicas are counted lost once unreported for
            # 10 s, by the next lease; the live ones give back theirs when idle.
            time.sleep(13)
            for server in servers:
                status, answer = server.json("POST", "/api/v2/keys/verify", {"key": key})
                admitted += answer["data"]["code"] == "VALID"
            time.sleep(3)
            status, shown = servers[0].json("GET", f"/api/v2/api-keys/{key_id}", None, token)
            credits = shown["data"]["credits"]
        finally:
            for server in servers:
                server.stop()
    lease = -(-granted // 32)
    return {"granted": granted, "kills": kills, "admitted": admitted,
            "remaining": credits["remaining"], "lost": credits["lost"],
            "bound on lost (one lease of at most ⌈granted/32⌉ per kill)": kills * lease,
            "overspent": max(0, admitted + credits["remaining"] - granted)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/keysmith")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="keysmith-limits-")
    node = one_node(args.binary, root)
    print(json.dumps({"one node": node}, indent=2))
    assert node["admitted"] == node["limit"], node
    spread = replicas(args.binary, root, args.seconds)
    print(json.dumps({"three replicas": spread}, indent=2))
    assert spread["most in a window"] <= spread["limit"], spread
    assert spread["mean share of the limit"] >= 0.9, spread
    credits = credits_under_kills(args.binary, root, args.kills)
    print(json.dumps({"credits, three replicas, kill -9": credits}, indent=2))
    assert credits["overspent"] == 0, credits
    assert credits["admitted"] + credits["remaining"] + credits["lost"] >= credits["granted"], credits
    assert credits["lost"] <= credits["bound on lost (one lease of at most ⌈granted/32⌉ per kill)"], credits


if __name__ == "__main__":
    main()
