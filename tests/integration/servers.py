"""Real time-series servers for the writer tests: carbon-cache (Graphite), InfluxDB 1.x and
Prometheus, each installed from Debian when missing and started in a temporary directory,
listening on 127.0.0.1 only, with bounded waits. Processes are started and stopped with the
harness's helpers (own process group, PR_SET_PDEATHSIG, clean-up at exit).

Environment:
  FCGX_NO_INSTALL  when set, missing packages are not installed: their tests are skipped.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import harness

# What each writer test needs from Debian.
PACKAGES = {
    "graphite": ["graphite-carbon", "python3-whisper"],
    "influxdb": ["influxdb"],
    "prometheus": ["prometheus", "libmicrohttpd12", "libprotobuf-c1"],
}
INSTALL_TIMEOUT = 200  # all apt-get runs together
START_TIMEOUT = 30

def _installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                       text=True, timeout=30)
    return r.returncode == 0 and "install ok installed" in r.stdout


def _apt(args, deadline):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    remaining = deadline - time.monotonic()
    if remaining <= 1:
        return False, "no time left for apt-get %s" % args[0]
    try:
        r = subprocess.run(["apt-get"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=remaining, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return r.returncode == 0, (r.stdout + r.stderr)[-1500:]


def _install(pkgs, deadline):
    """apt-get install pkgs (after apt-get update when that fails), keeping Debian from
    starting the packages' own services: carbon, influxdb and prometheus would otherwise start
    system-wide on their default ports."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False, "not root, or no apt-get"
    policy = "/usr/sbin/policy-rc.d"
    added = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        added = True
    try:
        args = ["install", "-y", "-q", "--no-install-recommends"] + pkgs
        ok, out = _apt(args, deadline)
        if not ok:
            _apt(["update", "-q"], deadline)
            ok, out = _apt(args, deadline)
        return ok, out
    finally:
        if added:
            os.remove(policy)


def missing_reasons(kinds):
    """{kind: None when its packages are installed (installing the missing ones when allowed),
    else why not: the reason to skip its test}. kinds: keys of PACKAGES."""
    missing = {k: [p for p in PACKAGES[k] if not _installed(p)] for k in kinds}
    wanted = sorted({p for pkgs in missing.values() for p in pkgs})
    out = ""
    if wanted and not os.environ.get("FCGX_NO_INSTALL"):
        deadline = time.monotonic() + INSTALL_TIMEOUT
        ok, out = _install(wanted, deadline)
        if not ok:  # one unavailable package must not cost the others their test
            for k in kinds:
                if missing[k] and not all(_installed(p) for p in missing[k]):
                    _, out_k = _install(missing[k], deadline)
                    out += "\n" + out_k
    reasons = {}
    for k in kinds:
        still = [p for p in PACKAGES[k] if not _installed(p)]
        if not still:
            reasons[k] = None
        elif os.environ.get("FCGX_NO_INSTALL"):
            reasons[k] = "Debian packages %s are not installed (FCGX_NO_INSTALL is set)" % (
                " ".join(still))
        else:
            reasons[k] = "Debian packages %s cannot be installed: %s" % (
                " ".join(still), out.strip()[-600:])
    return reasons


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_json(url, timeout=5):
    status, body = http_get(url, timeout)
    return json.loads(body.decode())


class Server:
    """One server process in its own temporary directory."""

    name = "server"

    def __init__(self):
        self.dir = harness.make_tmpdir("fcgx-%s-" % self.name)
        self.log = os.path.join(self.dir, self.name + ".out")
        self.proc = None

    def argv(self):
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    def spawn(self):
        """Starts the process without waiting (so that several servers start together)."""
        self.proc = harness._spawn(self.argv(), self.name, self.log)  # noqa: SLF001
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def up():
            self.check_alive()
            return self.ready()
        harness.wait_for(up, timeout, interval=0.1, what="%s to answer" % self.name)
        return self

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise harness.FixtureDied("%s exited with %s:\n%s" % (
                self.name, self.proc.returncode, harness.log_tail(self.log_text(), 30)))

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, grace=10):
        if self.proc is None:
            return None
        return harness._stop(self.proc, signal.SIGTERM, grace)  # noqa: SLF001

    def cleanup(self):
        self.stop()
        harness.remove_tmpdir(self.dir)


class Carbon(Server):
    """carbon-cache in the foreground: line receiver on 127.0.0.1, whisper files in the temp dir,
    one retention of 1 s for an hour."""

    name = "carbon"

    def __init__(self):
        super().__init__()
        self.port = harness.free_port()
        self.whisper_dir = os.path.join(self.dir, "whisper")
        os.makedirs(self.whisper_dir)
        os.makedirs(os.path.join(self.dir, "log"))
        self.conf = os.path.join(self.dir, "carbon.conf")
        d = self.dir + "/"
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "[cache]",
                "STORAGE_DIR = " + d,
                "LOCAL_DATA_DIR = %s/" % self.whisper_dir,
                "WHISPER_DIR = %s/" % self.whisper_dir,
                "CONF_DIR = " + d,
                "LOG_DIR = %slog/" % d,
                "PID_DIR = " + d,
                "DATABASE = whisper",
                "ENABLE_LOGROTATION = False",
                "USER =",
                "MAX_CACHE_SIZE = inf",
                "MAX_UPDATES_PER_SECOND = 100000",
                "MAX_CREATES_PER_MINUTE = inf",
                "MIN_TIMESTAMP_RESOLUTION = 1",
                "LINE_RECEIVER_INTERFACE = 127.0.0.1",
                "LINE_RECEIVER_PORT = %d" % self.port,
                "ENABLE_UDP_LISTENER = False",
                "PICKLE_RECEIVER_INTERFACE = 127.0.0.1",
                "PICKLE_RECEIVER_PORT = %d" % harness.free_port(),
                "CACHE_QUERY_INTERFACE = 127.0.0.1",
                "CACHE_QUERY_PORT = %d" % harness.free_port(),
                "USE_FLOW_CONTROL = True",
                "CACHE_WRITE_STRATEGY = sorted",
                "WHISPER_AUTOFLUSH = True",
                "WHISPER_FALLOCATE_CREATE = False",
                "LOG_CREATES = True",
                "",
            ]))
        with open(os.path.join(self.dir, "storage-schemas.conf"), "w") as f:
            f.write("[all]\npattern = .*\nretentions = 1s:1h\n")

    def argv(self):
        return ["carbon-cache", "--config=" + self.conf,
                "--pidfile=" + os.path.join(self.dir, "carbon.pid"),
                "--logdir=" + os.path.join(self.dir, "log"), "--nodaemon", "start"]

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def path(self, metric):
        """The whisper file of a dotted metric path."""
        return os.path.join(self.whisper_dir, *metric.split(".")) + ".wsp"

    def metrics_under(self, prefix):
        """Dotted paths (relative to prefix) of every whisper file under the dotted prefix."""
        base = os.path.join(self.whisper_dir, *prefix.split("."))
        out = set()
        for root, _, files in os.walk(base):
            for name in files:
                if name.endswith(".wsp"):
                    rel = os.path.relpath(os.path.join(root, name[:-4]), base)
                    out.add(rel.replace(os.sep, "."))
        return out

    def fetch(self, metric, seconds=600):
        """[(epoch, value)] of a metric, nulls left out, read with whisper-fetch (whose own
        --drop=nulls numbers the remaining points wrongly: it drops before timestamping)."""
        path = self.path(metric)
        if not os.path.exists(path):
            return []
        r = subprocess.run(["whisper-fetch",
                            "--from=%d" % (int(time.time()) - seconds), path],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("whisper-fetch %s: %s" % (path, r.stderr))
        rows = []
        for line in r.stdout.splitlines():
            ts, value = line.split()
            if value != "None":
                rows.append((int(ts), float(value)))
        return rows


class InfluxDB(Server):
    """influxd 1.x with its collectd listener (UDP on 127.0.0.1) writing to database "collectd",
    with collectd's types.db and the given extra types files."""

    name = "influxdb"

    def __init__(self, types_files):
        super().__init__()
        self.http_port = harness.free_port()
        self.udp_port = free_udp_port()
        self.types_dir = os.path.join(self.dir, "typesdb")
        os.makedirs(self.types_dir)
        # typesdb may name a directory: every file in it is loaded.
        for path in types_files:
            shutil.copy(path, self.types_dir)
        self.conf = os.path.join(self.dir, "influxdb.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "reporting-enabled = false",
                'bind-address = "127.0.0.1:%d"' % harness.free_port(),
                "[meta]",
                '  dir = "%s/meta"' % self.dir,
                "[data]",
                '  dir = "%s/data"' % self.dir,
                '  wal-dir = "%s/wal"' % self.dir,
                "  query-log-enabled = false",
                "[monitor]",
                "  store-enabled = false",
                "[http]",
                '  bind-address = "127.0.0.1:%d"' % self.http_port,
                "  log-enabled = false",
                "[logging]",
                "  suppress-logo = true",
                "[[collectd]]",
                "  enabled = true",
                '  bind-address = "127.0.0.1:%d"' % self.udp_port,
                '  database = "collectd"',
                "  batch-size = 100",
                '  batch-timeout = "200ms"',
                '  typesdb = "%s"' % self.types_dir,
                "",
            ]))

    def argv(self):
        return ["influxd", "run", "-config", self.conf]

    def ready(self):
        try:
            status, _ = http_get("http://127.0.0.1:%d/ping" % self.http_port, timeout=1)
            return status == 204 and "Listening on UDP" in self.log_text()
        except OSError:
            return False

    def query(self, q, db="collectd", epoch="ms"):
        """Results of one InfluxQL statement: [series dict] (empty when nothing matched)."""
        url = "http://127.0.0.1:%d/query?%s" % (self.http_port, urllib.parse.urlencode(
            {"db": db, "q": q, "epoch": epoch}))
        doc = http_json(url)
        result = doc["results"][0]
        if "error" in result:
            raise RuntimeError("InfluxQL %r: %s" % (q, result["error"]))
        return result.get("series", [])


class Prometheus(Server):
    """A Prometheus server scraping one target every second, honouring the target's labels."""

    name = "prometheus"

    def __init__(self, target_port):
        super().__init__()
        self.port = harness.free_port()
        self.target_port = target_port
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "global:",
                "  scrape_interval: 1s",
                "  scrape_timeout: 1s",
                "  evaluation_interval: 1s",
                "scrape_configs:",
                "  - job_name: collectd",
                "    honor_labels: true",
                "    static_configs:",
                "      - targets: ['127.0.0.1:%d']" % target_port,
                "",
            ]))

    def argv(self):
        return ["prometheus", "--config.file=" + self.conf,
                "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--log.level=info"]

    def ready(self):
        try:
            status, _ = http_get("http://127.0.0.1:%d/-/ready" % self.port, timeout=1)
            return status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path,
                                                    urllib.parse.urlencode(params))
        doc = http_json(url)
        if doc.get("status") != "success":
            raise RuntimeError("Prometheus %s %r: %s" % (path, params, doc))
        return doc["data"]

    def query(self, promql, at=None):
        params = {"query": promql}
        if at is not None:
            params["time"] = "%.3f" % at
        return self.api("query", **params)["result"]

    def targets_up(self):
        active = self.api("targets")["activeTargets"]
        return active and all(t["health"] == "up" for t in active)
