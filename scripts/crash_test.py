#!/usr/bin/env python3
"""Kills Keysmith with SIGKILL under write traffic, again and again, and
checks that no acknowledged write was lost.

Each round starts the real server on one SQLite file, runs creates,
rotations and revocations from several threads, kills the server at a
random moment, checks `PRAGMA integrity_check`, restarts it and verifies
every key whose write was acknowledged:

- a create that answered 201 exists and its secret verifies;
- a rotation that answered 200 made the new secret valid and the old one not;
- a revocation that answered 200 stays revoked.

A write still in flight when the server died may have landed or not; that
key is checked only for what both outcomes share. Any 5xx answer (such as
SQLite's "database is locked" reaching a client) fails the run too.

Usage: scripts/crash_test.py [--rounds 20] [--binary target/release/keysmith]
Standard library only.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "crash-test-password-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, folder, port):
        self.binary, self.folder, self.port = binary, folder, port
        self.process = None

    def start(self):
        env = dict(
            os.environ,
            DATABASE_URL=f"sqlite://{self.folder}/keysmith.db",
            LEPTOS_SITE_ADDR=f"127.0.0.1:{self.port}",
            LEPTOS_OUTPUT_NAME="keysmith",
            LEPTOS_SITE_ROOT=os.path.join(self.folder, "site"),
            RUST_LOG="warn",
        )
        log = open(os.path.join(self.folder, "server.log"), "ab")
        self.process = subprocess.Popen([self.binary], env=env, stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if call(self.port, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                sys.exit(f"the server exited with {self.process.returncode}; see {log.name}")
            time.sleep(0.05)
        sys.exit("the server did not become ready in 30 s")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def call(port, method, path, body=None, token=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        text = response.read()
        return response.status, (json.loads(text) if text else None)
    finally:
        connection.close()


class Ledger:
    """What the server acknowledged, key by key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = {}  # id -> {"secret", "old", "revoked", "uncertain"}
        self.acknowledged = 0
        self.server_errors = []

    def claim(self, rng):
        """A usable key no other writer is changing, now marked as changing."""
        with self.lock:
            ids = [i for i, k in self.keys.items() if not k["revoked"] and not k["uncertain"]]
            if not ids:
                return None
            key_id = rng.choice(ids)
            self.keys[key_id]["uncertain"] = True  # until the server answers
            return key_id


def traffic(port, token, ledger, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        choice = rng.random()
        key_id = None if choice < 0.5 else ledger.claim(rng)
        if key_id is None:
            operation = "create"
        else:
            operation = "rotate" if choice < 0.8 else "revoke"
        try:
            if operation == "create":
                body = {"name": f"crash {rng.randrange(10**6)}", "scopes": ["read"]}
                status, answer = call(port, "POST", "/api/v2/api-keys", body, token)
            else:
                status, answer = call(port, "POST", f"/api/v2/api-keys/{key_id}/{operation}", None, token)
        except OSError:
            return  # the server died with this request in flight
        with ledger.lock:
            if status >= 500:
                ledger.server_errors.append((operation, status, answer))
            if operation == "create" and status == 201:
                data = answer["data"]
                ledger.keys[data["id"]] = {"secret": data["key"], "old": None, "revoked": False, "uncertain": False}
                ledger.acknowledged += 1
            elif operation == "rotate" and status == 200:
                key = ledger.keys[key_id]
                key["old"], key["secret"], key["uncertain"] = key["secret"], answer["data"]["key"], False
                ledger.acknowledged += 1
            elif operation == "revoke" and status == 200:
                ledger.keys[key_id].update(revoked=True, uncertain=False)
                ledger.acknowledged += 1
            elif key_id:
                ledger.keys[key_id]["uncertain"] = False  # refused: nothing changed


def verify(port, secret):
    status, answer = call(port, "POST", "/api/v2/keys/verify", {"key": secret})
    assert status == 200, (status, answer)
    return answer["data"]["code"]


def check(port, ledger):
    """Every acknowledged write, as the restarted server sees it."""
    problems = []
    for key_id, key in ledger.keys.items():
        if key["uncertain"]:
            continue
        code = verify(port, key["secret"])
        expected = "REVOKED" if key["revoked"] else "VALID"
        if code != expected:
            problems.append(f"{key_id}: its secret is {code}, expected {expected}")
        if key["old"] and verify(port, key["old"]) == "VALID":
            problems.append(f"{key_id}: the secret it was rotated from still verifies")
    return problems


def integrity(folder):
    connection = sqlite3.connect(os.path.join(folder, "keysmith.db"))
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="times the server is killed")
    parser.add_argument("--binary", default="target/release/keysmith")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"crash test: {args.rounds} kills, {args.workers} writers, seed {args.seed}, {args.binary}")

    folder = tempfile.mkdtemp(prefix="keysmith-crash-")
    server = Server(os.path.abspath(args.binary), folder, free_port())
    server.start()
    email = f"crash-{args.seed}@example.com"
    status, _ = call(server.port, "POST", "/api/v2/auth/signup", {"email": email, "password": PASSWORD})
    assert status == 201, status
    ledger = Ledger()
    failures = []
    for round_number in range(1, args.rounds + 1):
        status, answer = call(server.port, "POST", "/api/v2/auth/token", {"email": email, "password": PASSWORD})
        assert status == 200, (status, answer)
        token = answer["access_token"]
        stop = threading.Event()
        workers = [
            threading.Thread(target=traffic, args=(server.port, token, ledger, stop, rng.random()))
            for _ in range(args.workers)
        ]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        stop.set()
        for worker in workers:
            worker.join()
        result = integrity(folder)
        if result != "ok":
            failures.append(f"round {round_number}: integrity_check says {result}")
        server.start()
        problems = check(server.port, ledger)
        failures += [f"round {round_number}: {p}" for p in problems]
        print(
            f"round {round_number:2}: killed; integrity {result}; "
            f"{ledger.acknowledged} acknowledged writes so far, {len(ledger.keys)} keys checked, "
            f"{len(problems)} lost"
        )
    server.kill()
    failures += [f"a client got {status} for {operation}: {answer}" for operation, status, answer in ledger.server_errors]
    if failures:
        print("\n".join(failures))
        sys.exit(f"crash test FAILED ({len(failures)} problems); data in {folder}")
    print(
        f"crash test passed: {args.rounds} kills, {ledger.acknowledged} acknowledged writes, "
        f"none lost, no 5xx answers, integrity ok every time"
    )


if __name__ == "__main__":
    main()
