"""What the crash test and the benchmarks run Keysmith with: the real
server on a free port, a throwaway PostgreSQL cluster (scripts/postgres.sh),
and nginx in front of several servers, configured from the README's own
example. Standard library only."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every process sharing a PostgreSQL database signs with the same secret.
SHARED_SECRET = "harness-master-secret-of-at-least-32-characters"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, headers=None, form=False, timeout=30):
    """One request on a fresh connection: (status, body bytes, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = dict(headers or {})
    if body is not None:
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, response.read(), response.getheaders()
    finally:
        connection.close()


def call_json(port, method, path, body=None, token=None, timeout=30):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, data, _ = call(port, method, path, body, headers, timeout=timeout)
    try:
        return status, json.loads(data) if data else None
    except ValueError:  # a proxy's own error page, say
        return status, data.decode(errors="replace")


class Server:
    """One Keysmith process. `start` waits for /readyz (so, on PostgreSQL,
    for its listener too)."""

    def __init__(self, binary, folder, database_url=None, site_root=None, **settings):
        self.binary, self.folder = os.path.abspath(binary), folder
        self.port = free_port()
        database_url = database_url or f"sqlite://{folder}/keysmith.db"
        if database_url.startswith("postgres"):
            settings.setdefault("KEYSMITH_SECRET", SHARED_SECRET)
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            LEPTOS_SITE_ADDR=f"127.0.0.1:{self.port}",
            LEPTOS_SITE_ROOT=site_root or os.path.join(folder, "site"),
            LEPTOS_OUTPUT_NAME="keysmith",
            LEPTOS_ENV="PROD",
            RUST_LOG="warn",
            **settings,
        )
        self.process = None

    def start(self):
        log = open(os.path.join(self.folder, "server.log"), "ab")
        self.process = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if call(self.port, "GET", "/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None:
                sys.exit(f"the server exited with {self.process.returncode}; see {log.name}")
            time.sleep(0.05)
        sys.exit(f"the server did not become ready in 30 s; see {log.name}")

    def call(self, method, path, body=None, headers=None, form=False):
        return call(self.port, method, path, body, headers, form)

    def json(self, method, path, body=None, token=None):
        return call_json(self.port, method, path, body, token)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


class PostgresCluster:
    """A throwaway cluster on a free port, for as long as the `with` lasts
    (in a folder of its own: as root, it runs as the `postgres` user)."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="keysmith-pg-")

    def __enter__(self):
        script = os.path.join(ROOT, "scripts", "postgres.sh")
        self.admin_url = subprocess.check_output(
            [script, "start", self.folder, str(free_port())], text=True).strip()
        return self

    def __exit__(self, *_):
        subprocess.call([os.path.join(ROOT, "scripts", "postgres.sh"), "stop", self.folder])

    def create_database(self, name):
        self.sql("postgres", f"CREATE DATABASE {name}")
        return f"{self.admin_url}/{name}"

    def sql(self, database, statement):
        """Runs SQL through psql; returns its unaligned output."""
        return subprocess.check_output(
            ["psql", f"{self.admin_url}/{database}", "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", statement],
            text=True).strip()


def readme_nginx_site():
    """The nginx site the README's "Several replicas" section documents."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("### Several replicas", 1)[1]
    return re.search(r"```nginx\n(.*?)```", section, re.S).group(1)


class Nginx:
    """Debian's nginx in front of `ports`, as a child process with every
    file in a folder of its own, running the README's site with the
    replicas' ports and its own listening port put in."""

    def __init__(self, folder, ports):
        self.folder = os.path.join(folder, "nginx")
        self.ports = ports
        self.port = free_port()
        self.process = None

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        site = readme_nginx_site()
        # The README's replica lines, one per port given, options kept.
        lines = re.findall(r"^( *server 127\.0\.0\.1:)\d+(.*)$", site, re.M)
        ours = "\n".join(f"{lines[0][0]}{port}{lines[0][1]}" for port in self.ports)
        site = re.sub(r"(^ *server 127\.0\.0\.1:\d+.*\n)+", ours + "\n", site, flags=re.M)
        site = re.sub(r"listen \d+;", f"listen 127.0.0.1:{self.port};", site)
        temp = os.path.join(self.folder, "temp")
        as_root = "user root;\n" if os.geteuid() == 0 else ""
        config = os.path.join(self.folder, "nginx.conf")
        with open(config, "w") as out:
            out.write(
                f"{as_root}worker_processes 1;\ndaemon off;\npid {self.folder}/nginx.pid;\n"
                f"error_log {self.folder}/error.log warn;\nevents {{ worker_connections 4096; }}\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
                f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
                f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
                f"{site}}}\n")
        os.makedirs(temp, exist_ok=True)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-p", self.folder, "-c", config, "-e", f"{self.folder}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                call(self.port, "GET", "/healthz")
                return self
            except OSError:
                if self.process.poll() is not None:
                    sys.exit(f"nginx exited; see {self.folder}/error.log")
                time.sleep(0.05)
        sys.exit("nginx did not start in 10 s")

    def __exit__(self, *_):
        self.process.terminate()
        self.process.wait()
