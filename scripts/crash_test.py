#!/usr/bin/env python3
"""Kills Keysmith with SIGKILL under write traffic, again and again, and
checks that no acknowledged write was lost.

Each round runs creates, rotations and revocations from several threads,
kills a server at a random moment, restarts it and verifies every key whose
write was acknowledged:

- a create that answered 201 exists and its secret verifies;
- a rotation that answered 200 made the new secret valid and the old one not;
- a revocation that answered 200 stays revoked.

A write still in flight when the server died may have landed or not; that
key is checked only for what both outcomes share. Any other 5xx answer
(such as SQLite's "database is locked" reaching a client) fails the run.

Three set-ups:
- SQLite (the default): one server on one file; `PRAGMA integrity_check`
  after every kill.
- `--postgres`: one server on a throwaway PostgreSQL cluster.
- `--replicas N`: N servers on one PostgreSQL database behind nginx,
  configured as the README's "Several replicas" section says; the traffic
  goes through nginx and each round kills one replica. The others must
  keep answering: after the kill, nginx may answer 502 only for requests
  sent before it, and writes must still be acknowledged. After the restart
  every key is checked on every replica, so each replica's verification
  cache is checked against the writes the others acknowledged.

Usage: scripts/crash_test.py [--rounds 20] [--binary target/release/keysmith]
                             [--postgres | --replicas 3]
Standard library only.
"""

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time

from harness import Nginx, PostgresCluster, Server, call_json

PASSWORD = "crash-test-password-1"
# How long the others are watched answering after a replica is killed.
AFTER_KILL_SECONDS = 1.0


class Ledger:
    """What the servers acknowledged, key by key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = {}  # id -> {"secret", "old", "revoked", "uncertain"}
        self.acknowledged = 0
        self.acknowledged_after_kill = 0
        self.killed_at = None  # time.monotonic() of this round's kill
        self.dropped = 0  # requests the kill cut off (no answer, or nginx's 502)
        self.gateway_errors = []  # (sent at, operation, status) of nginx's 502s and 504s
        self.failures = []

    def claim(self, rng):
        """A usable key no other writer is changing, now marked as changing."""
        with self.lock:
            ids = [i for i, k in self.keys.items() if not k["revoked"] and not k["uncertain"]]
            if not ids:
                return None
            key_id = rng.choice(ids)
            self.keys[key_id]["uncertain"] = True  # until a server answers
            return key_id

    def judge_gateway_errors(self):
        """nginx answers 502 for a request the killed replica held, which may
        or may not have landed; for one sent after the kill it must have
        found another replica."""
        for sent_at, operation, status in self.gateway_errors:
            if sent_at < self.killed_at:
                self.dropped += 1
            else:
                late = (sent_at - self.killed_at) * 1000
                self.failures.append(f"nginx answered {status} for {operation} sent {late:.0f} ms after the kill")
        self.gateway_errors = []

    def record(self, operation, key_id, sent_at, status, answer):
        with self.lock:
            if status in (502, 504):
                # Judged once this round's kill is over (`judge_gateway_errors`).
                self.gateway_errors.append((sent_at, operation, status))
                return
            if status >= 500:
                self.failures.append(f"a client got {status} for {operation}: {answer}")
            acknowledged = True
            if operation == "create" and status == 201:
                data = answer["data"]
                self.keys[data["id"]] = {"secret": data["key"], "old": None, "revoked": False, "uncertain": False}
            elif operation == "rotate" and status == 200:
                key = self.keys[key_id]
                key["old"], key["secret"], key["uncertain"] = key["secret"], answer["data"]["key"], False
            elif operation == "revoke" and status == 200:
                self.keys[key_id].update(revoked=True, uncertain=False)
            else:
                acknowledged = False
                if key_id:
                    self.keys[key_id]["uncertain"] = False  # refused: nothing changed
            if acknowledged:
                self.acknowledged += 1
                if self.killed_at and sent_at >= self.killed_at:
                    self.acknowledged_after_kill += 1


def traffic(port, token, ledger, stop, seed, survive_kills):
    rng = random.Random(seed)
    while not stop.is_set():
        choice = rng.random()
        key_id = None if choice < 0.5 else ledger.claim(rng)
        if key_id is None:
            operation, path = "create", "/api/v2/api-keys"
            body = {"name": f"crash {rng.randrange(10**6)}", "scopes": ["read"]}
        else:
            operation = "rotate" if choice < 0.8 else "revoke"
            path, body = f"/api/v2/api-keys/{key_id}/{operation}", None
        sent_at = time.monotonic()
        try:
            status, answer = call_json(port, "POST", path, body, token, timeout=10)
        except OSError as error:
            with ledger.lock:
                if survive_kills:  # nginx itself must always answer
                    ledger.failures.append(f"nginx did not answer {operation}: {error}")
                    continue
                ledger.dropped += 1
            return  # the server died with this request in flight
        ledger.record(operation, key_id, sent_at, status, answer)


def verify(port, secret):
    status, answer = call_json(port, "POST", "/api/v2/keys/verify", {"key": secret})
    assert status == 200, (status, answer)
    return answer["data"]["code"]


def check(port, ledger):
    """Every acknowledged write, as the server on `port` sees it."""
    problems = []
    for key_id, key in ledger.keys.items():
        if key["uncertain"]:
            continue
        code = verify(port, key["secret"])
        expected = "REVOKED" if key["revoked"] else "VALID"
        if code != expected:
            problems.append(f"{key_id}: its secret is {code} on :{port}, expected {expected}")
        if key["old"] and verify(port, key["old"]) == "VALID":
            problems.append(f"{key_id}: the secret it was rotated from still verifies on :{port}")
    return problems


def sqlite_integrity(folder):
    connection = sqlite3.connect(os.path.join(folder, "keysmith.db"))
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def sign_up(port, email):
    status, _ = call_json(port, "POST", "/api/v2/auth/signup", {"email": email, "password": PASSWORD})
    assert status == 201, status


def token_for(port, email):
    status, answer = call_json(port, "POST", "/api/v2/auth/token", {"email": email, "password": PASSWORD})
    assert status == 200, (status, answer)
    return answer["access_token"]


def run_round(args, rng, ledger, servers, entry_port, email):
    """One kill under traffic; returns (the killed server, what was said)."""
    token = token_for(entry_port, email)
    stop = threading.Event()
    survive = args.replicas > 1
    workers = [
        threading.Thread(target=traffic, args=(entry_port, token, ledger, stop, rng.random(), survive))
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    time.sleep(rng.uniform(0.2, 1.5))
    victim = rng.choice(servers)
    victim.kill()
    with ledger.lock:  # from now on nothing can reach the victim
        ledger.killed_at, after_before = time.monotonic(), ledger.acknowledged_after_kill
    if survive:
        time.sleep(AFTER_KILL_SECONDS)
    stop.set()
    for worker in workers:
        worker.join()
    ledger.judge_gateway_errors()
    said = []
    if survive:
        after = ledger.acknowledged_after_kill - after_before
        said.append(f"{after} writes acknowledged by the others in the {AFTER_KILL_SECONDS:.0f} s after")
        if after == 0:
            ledger.failures.append(f"no write was acknowledged after replica :{victim.port} was killed")
    return victim, said


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="times a server is killed")
    parser.add_argument("--binary", default="target/release/keysmith")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", action="store_true", help="one server on PostgreSQL")
    where.add_argument("--replicas", type=int, default=1, help="servers on PostgreSQL behind nginx")
    args = parser.parse_args()
    postgres = args.postgres or args.replicas > 1
    rng = random.Random(args.seed)
    backend = f"{args.replicas} replicas on PostgreSQL behind nginx" if args.replicas > 1 else (
        "PostgreSQL" if postgres else "SQLite")
    print(f"crash test ({backend}): {args.rounds} kills, {args.workers} writers, seed {args.seed}, {args.binary}")

    folder = tempfile.mkdtemp(prefix="keysmith-crash-")
    ledger = Ledger()
    if postgres:
        with PostgresCluster() as cluster:
            url = cluster.create_database("keysmith")
            run(args, rng, ledger, folder, url)
    else:
        run(args, rng, ledger, folder, None)
    if ledger.failures:
        print("\n".join(ledger.failures))
        sys.exit(f"crash test FAILED ({len(ledger.failures)} problems); data in {folder}")
    print(
        f"crash test passed ({backend}): {args.rounds} kills, {ledger.acknowledged} acknowledged writes, "
        f"none lost, no 5xx answers but for the {ledger.dropped} requests the kills cut off"
    )


def run(args, rng, ledger, folder, database_url):
    servers = []
    for n in range(args.replicas):
        replica_folder = os.path.join(folder, f"replica-{n}")
        os.makedirs(replica_folder)
        settings = {"KEYSMITH_TRUSTED_PROXIES": "127.0.0.1"} if args.replicas > 1 else {}
        servers.append(Server(args.binary, replica_folder, database_url, **settings).start())
    try:
        if args.replicas > 1:
            with Nginx(folder, [s.port for s in servers]) as nginx:
                rounds(args, rng, ledger, servers, nginx.port)
        else:
            rounds(args, rng, ledger, servers, servers[0].port)
    finally:
        for server in servers:
            server.stop()


def rounds(args, rng, ledger, servers, entry_port):
    email = f"crash-{args.seed}@example.com"
    sign_up(entry_port, email)
    for round_number in range(1, args.rounds + 1):
        victim, said = run_round(args, rng, ledger, servers, entry_port, email)
        if not victim.env["DATABASE_URL"].startswith("postgres"):
            result = sqlite_integrity(victim.folder)
            said.append(f"integrity {result}")
            if result != "ok":
                ledger.failures.append(f"round {round_number}: integrity_check says {result}")
        victim.start()
        problems = [p for server in servers for p in check(server.port, ledger)]
        ledger.failures += [f"round {round_number}: {p}" for p in problems]
        print(
            f"round {round_number:2}: killed :{victim.port}; {'; '.join(said + [''])}"
            f"{ledger.acknowledged} acknowledged writes so far, {len(ledger.keys)} keys checked"
            f"{' on each replica' if len(servers) > 1 else ''}, {len(problems)} lost"
        )
    for server in servers:
        server.kill()


if __name__ == "__main__":
    main()
