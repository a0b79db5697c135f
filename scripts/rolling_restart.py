#!/usr/bin/env python3
"""A rolling restart under traffic loses no request: three replicas on one
PostgreSQL database behind nginx (the README's "Several replicas" site)
while clients verify keys and create keys through nginx; each replica in
turn gets SIGTERM, must exit 0, is started again on its port and must
answer /readyz; the next one stops once nginx trusts it again.

- Every verification is answered 200 VALID (nginx sends one a stopping
  replica cut off to the next, as the site configures).
- Every create is acknowledged, retrying on 502/503 with the same
  Idempotency-Key as the README tells clients to, and the account ends up
  with exactly one key per create: no retry made a second key.

Usage: scripts/rolling_restart.py [--rounds 1] [--binary target/release/keysmith]
Standard library only.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid

from harness import Nginx, PostgresCluster, Server, call

PASSWORD = "rolling-restart-password-1"
# nginx takes a replica that failed a request out for fail_timeout (5 s in
# the README's site) even once it is back: wait that long after a replica
# is ready before stopping the next, or all may be out at once.
PAUSE_SECONDS = 6


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.verified = 0
        self.created = set()
        self.retries = 0
        self.failures = []


def verifier(port, secret, tally, stop):
    while not stop.is_set():
        try:
            status, body, _ = call(port, "POST", "/api/v2/keys/verify", {"key": secret}, timeout=10)
            answer = json.loads(body).get("data", {}).get("code") if status == 200 else body[:200]
        except OSError as error:
            status, answer = None, error
        with tally.lock:
            if status == 200 and answer == "VALID":
                tally.verified += 1
            else:
                tally.failures.append(f"verify answered {status}: {answer}")


def creator(port, token, tally, stop):
    while not stop.is_set():
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        seen = []
        for attempt in range(20):
            try:
                status, body, _ = call(port, "POST", "/api/v2/api-keys",
                                       {"name": "rolling", "scopes": ["read"]}, headers, timeout=10)
            except OSError:
                status, body = None, b""
            seen.append(status)
            if status == 201:
                with tally.lock:
                    tally.created.add(json.loads(body)["data"]["id"])
                break
            in_use = status == 409 and b"idempotency_key_in_use" in body  # the first try still runs
            if status not in (None, 502, 503) and not in_use:
                with tally.lock:
                    tally.failures.append(f"create answered {status}: {body[:200]}")
                break
            with tally.lock:
                tally.retries += 1
            time.sleep(0.1)
        else:
            with tally.lock:
                tally.failures.append(f"a create was never acknowledged in 20 tries: {seen}")


def all_key_ids(port, token):
    ids, cursor = set(), None
    while True:
        path = "/api/v2/api-keys" + (f"?cursor={cursor}" if cursor else "")
        status, body, _ = call(port, "GET", path, None, {"Authorization": f"Bearer {token}"})
        assert status == 200, (status, body)
        page = json.loads(body)
        ids |= {key["id"] for key in page["data"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def restart(server, tally):
    started = time.monotonic()
    server.process.terminate()
    code = server.process.wait(timeout=30)
    if code != 0:
        tally.failures.append(f"replica :{server.port} exited {code} on SIGTERM")
    server.start()
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="restarts of every replica")
    parser.add_argument("--binary", default="target/release/keysmith")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="keysmith-rolling-")
    tally = Tally()
    with PostgresCluster() as cluster:
        url = cluster.create_database("keysmith")
        servers = []
        for n in range(3):
            folder = os.path.join(root, f"replica-{n}")
            os.makedirs(folder)
            # Every create here has an Idempotency-Key of its own: more than
            # an account may hold by default.
            servers.append(Server(args.binary, folder, url, KEYSMITH_TRUSTED_PROXIES="127.0.0.1",
                                  KEYSMITH_IDEMPOTENCY_MAX_KEYS="1000000").start())
        try:
            with Nginx(root, [s.port for s in servers]) as nginx:
                roll(args, nginx.port, servers, tally)
        finally:
            for server in servers:
                server.stop()
    tally.failures += database_lost_while_stopping(root)
    if tally.failures:
        print("\n".join(tally.failures[:20]))
        sys.exit(f"rolling restart FAILED ({len(tally.failures)} problems); data in {root}")


def database_lost_while_stopping(root):
    """Lines where a replica lost the database while it stopped gracefully.
    A restart must not: requests still in flight and the last usage write
    need it (an accept loop's runtime, gone too early, once took the pool's
    connections it drove with it)."""
    lost = []
    for n in range(3):
        with open(os.path.join(root, f"replica-{n}", "server.log"), errors="replace") as log:
            lost += [f"replica-{n}: {line.strip()}" for line in log
                     if "database unreachable" in line or "cannot write the last key usage" in line]
    return lost


def roll(args, port, servers, tally):
    account = {"email": "rolling@example.com", "password": PASSWORD}
    assert call(port, "POST", "/api/v2/auth/signup", account)[0] == 201
    status, body, _ = call(port, "POST", "/api/v2/auth/token", account)
    token = json.loads(body)["access_token"]
    status, body, _ = call(port, "POST", "/api/v2/api-keys", {"name": "checked", "scopes": ["read"]},
                           {"Authorization": f"Bearer {token}"})
    assert status == 201, body
    checked = json.loads(body)["data"]
    stop = threading.Event()
    clients = [threading.Thread(target=verifier, args=(port, checked["key"], tally, stop)) for _ in range(4)]
    clients += [threading.Thread(target=creator, args=(port, token, tally, stop)) for _ in range(4)]
    for client in clients:
        client.start()
    restarts = []
    for _ in range(args.rounds):
        for server in servers:
            time.sleep(PAUSE_SECONDS)
            restarts.append(restart(server, tally))
    time.sleep(1)
    stop.set()
    for client in clients:
        client.join()
    stored = all_key_ids(port, token) - {checked["id"]}
    if stored != tally.created:
        tally.failures.append(
            f"{len(tally.created)} creates acknowledged but the account holds {len(stored)} keys "
            f"({len(stored - tally.created)} not acknowledged, {len(tally.created - stored)} missing)")
    print(
        f"rolling restart: {len(restarts)} restarts (each {min(restarts):.1f}-{max(restarts):.1f} s "
        f"from SIGTERM to ready), {tally.verified} verifications all VALID, "
        f"{len(tally.created)} creates acknowledged ({tally.retries} retries with their "
        f"Idempotency-Key), {len(stored)} keys stored, {len(tally.failures)} problems"
    )


if __name__ == "__main__":
    main()
