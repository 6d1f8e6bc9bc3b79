#!/usr/bin/env python3
"""fcgx demo: a real php-fpm with two pools, a real collectd loading fcgx.so, some PHP traffic,
and the metrics as collectd holds them (read back over its unixsock), refreshed every interval.

Run it through ./scripts/demo, which installs what is missing and builds the plugin first.
Python 3 standard library only. Everything lives in one temporary directory, removed at the end.
With --graphs, collectd's rrdtool plugin also records every value, and at the end scripts/graphs
draws them as PNG files into a directory that outlives the demo.
"""
import argparse
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import fcgi_client  # noqa: E402  (the project's own minimal FastCGI client)

PLUGIN = os.path.join(REPO, "build", "fcgx.so")
TYPES_DB = os.path.join(REPO, "types.db.fcgx")
STATUS_PHP = os.path.join(REPO, "src", "fcgx-status.php")  # in-pool OPcache script, if present
GRAPHS = os.path.join(REPO, "scripts", "graphs")
RRDTOOL_PLUGIN = "/usr/lib/collectd/rrdtool.so"
HOST = "demo"
POOLS = ("www", "api")
PHASES = ("calm", "www saturated", "api busy + slow www", "rush")
PHASE_SECONDS = 6

SCRIPTS = {
    "hello.php": "<?php echo 'hello from ', getmypid();\n",
    "sleep.php": "<?php usleep((int)(1e6 * (float)($_GET['s'] ?? 0.5))); echo 'slept';\n",
    "mem.php": "<?php $a = str_repeat('x', (int)($_GET['m'] ?? 8) << 20); echo strlen($a);\n",
    "cpu.php": "<?php for ($i = 0; $i < (int)($_GET['n'] ?? 1e5); $i++) md5($i); echo $i;\n",
}


class Failure(Exception):
    """php-fpm or collectd did not start, or died: (message, log files to show)."""


def log_tail(path, n=15, match=None):
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip("\n") for l in f if match is None or match in l]
    except OSError:
        return []
    return lines[-n:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout, what, proc, log):
    """Polls check() every 20 ms, at most timeout s; fails at once when proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("%s exited with code %s" % (what, proc.returncode), log)
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise Failure("%s not ready within %d s" % (what, timeout), log)


def spawn(argv, env, log):
    """Starts argv in its own process group (Ctrl-C on the terminal is ours to handle)."""
    try:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    except OSError as exc:
        raise Failure("cannot start %s: %s" % (argv[0], exc), log.name) from None


def stop_group(proc, sig, grace):
    """Signals proc's process group, waits up to grace s, then SIGKILLs the whole group.
    The group is only signalled while its leader is unreaped, so its id cannot be reused."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print("fcgx demo: %s did not stop within %g s, killing it" % (proc.args[0], grace))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def graphs_missing():
    """Why --graphs cannot work here (None when it can): the rrdtool CLI, collectd's rrdtool
    plugin and the librrd it links."""
    if shutil.which("rrdtool") is None:
        return "the rrdtool command is missing (apt-get install rrdtool)"
    if not os.path.exists(RRDTOOL_PLUGIN):
        return "%s is missing (apt-get install collectd-core)" % RRDTOOL_PLUGIN
    try:
        ldd = subprocess.run(["ldd", RRDTOOL_PLUGIN], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None  # let collectd say it
    if "not found" in ldd:
        return "%s cannot load: %s (apt-get install librrd8)" % (
            RRDTOOL_PLUGIN, ", ".join(l.split()[0] for l in ldd.splitlines() if "not found" in l))
    return None


class Demo:
    def __init__(self, tmp, interval, rrd=False):
        self.tmp, self.interval, self.rrd = tmp, interval, rrd
        self.rrd_dir = self.path("rrd")
        self.started = None  # time collectd started: where the graphs begin
        self.www = self.path("www.sock")
        self.www_status = self.path("www-status.sock")
        self.api = ("127.0.0.1", free_port())
        self.docroot = self.path("docroot")
        self.fpm_log, self.cd_log = self.path("php-fpm.log"), self.path("collectd.log")
        self.cd_sock, self.cd_conf = self.path("collectd.sock"), self.path("collectd.conf")
        self.fpm = self.cd = None

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- php-fpm
    def start_fpm(self):
        os.makedirs(self.docroot)
        for name, text in SCRIPTS.items():
            with open(os.path.join(self.docroot, name), "w") as f:
                f.write(text)
        with open(self.path("php.ini"), "w") as f:
            f.write("zend_extension=opcache.so\nopcache.enable=1\n"
                    "opcache.file_update_protection=0\nmemory_limit=128M\n")
        common = ("user = nobody\ngroup = nogroup\nlisten.mode = 0666\n"
                  "pm.status_path = /status\nping.path = /ping\n"
                  "request_slowlog_timeout = 1s\nslowlog = %s/slow.log\n" % self.tmp)
        with open(self.path("php-fpm.conf"), "w") as f:
            f.write("[global]\npid = %s/php-fpm.pid\nerror_log = /proc/self/fd/2\n\n" % self.tmp)
            f.write("[www]\nlisten = %s\npm.status_listen = %s\npm = dynamic\n"
                    "pm.max_children = 5\npm.start_servers = 2\npm.min_spare_servers = 1\n"
                    "pm.max_spare_servers = 3\n%s\n" % (self.www, self.www_status, common))
            f.write("[api]\nlisten = %s:%d\npm = static\npm.max_children = 3\n%s"
                    % (self.api + (common,)))
        with open(self.fpm_log, "wb") as log:
            self.fpm = spawn(["php-fpm8.2", "-F", "-O", "-y", self.path("php-fpm.conf"),
                              "-c", self.path("php.ini")], dict(os.environ, PHP_INI_SCAN_DIR=""),
                             log)
        for addr in (self.www, self.www_status, self.api):
            wait_for(lambda: self.get(addr, "/ping") == b"pong", 10, "php-fpm", self.fpm,
                     self.fpm_log)

    def get(self, addr, script, query="", timeout=5.0):
        """Body of one request (one connection, as php-fpm wants); raises on an error status."""
        out, _ = fcgi_client.get(addr, script, query, timeout=timeout,
                                 script_filename=self.docroot + script)
        status, _, body = fcgi_client.split_response(out)
        if status != 200:
            raise OSError("%s answered %d" % (script, status))
        return body

    # -- collectd
    def start_collectd(self):
        plugins = self.path("plugins")
        os.makedirs(plugins)
        for so in ("/usr/lib/collectd/logfile.so", "/usr/lib/collectd/unixsock.so",
                   "/usr/lib/collectd/csv.so", PLUGIN) + ((RRDTOOL_PLUGIN,) if self.rrd else ()):
            shutil.copy(os.path.realpath(so), plugins)  # copies: collectd refuses symlinks
        rrdtool = ""
        if self.rrd:  # one RRD step per interval, kept 1 h, then 1 day at 72 steps per row
            rrdtool = f"""LoadPlugin rrdtool
<Plugin rrdtool>
  DataDir "{self.rrd_dir}"
  StepSize {self.interval}
  HeartBeat {3 * self.interval}
  RRARows 1200
  RRATimespan 3600
  RRATimespan 86400
</Plugin>
"""
        opcache = ""
        if os.path.exists(STATUS_PHP):  # a copy the pools (user nobody) can surely read
            shutil.copy(STATUS_PHP, self.docroot)
            opcache = '\n    OPcacheScript "%s/fcgx-status.php"' % self.docroot
        with open(self.cd_conf, "w") as f:
            f.write(f"""Hostname "{HOST}"
FQDNLookup false
BaseDir "{self.tmp}"
PIDFile "{self.tmp}/collectd.pid"
PluginDir "{plugins}"
TypesDB "/usr/share/collectd/types.db" "{TYPES_DB}"
Interval {self.interval}
LoadPlugin logfile
<Plugin logfile>
  File "{self.cd_log}"
  LogLevel "info"
  Timestamp true
</Plugin>
LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "{self.cd_sock}"
  SocketGroup "root"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{self.tmp}/csv"
  StoreRates false
</Plugin>
{rrdtool}LoadPlugin fcgx
<Plugin fcgx>
  Timeout 1000
  <Pool "www">
    Socket "{self.www}"
    StatusSocket "{self.www_status}"{opcache}
  </Pool>
  <Pool "api">
    Host "{self.api[0]}"
    Port "{self.api[1]}"{opcache}
  </Pool>
</Plugin>
""")
        self.started = int(time.time())
        with open(self.path("collectd.out"), "wb") as out:
            self.cd = spawn(["collectd", "-f", "-C", self.cd_conf], None, out)
        wait_for(lambda: any("fcgx-" in l for l in self.unixsock("LISTVAL")), 15, "collectd",
                 self.cd, (self.cd_log, self.path("collectd.out")))

    def unixsock(self, command):
        """Reply lines of one unixsock command (first line: count, negative on error)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(self.cd_sock)
            s.sendall(command.encode() + b"\n")
            f = s.makefile("r", errors="replace")
            count = int(f.readline().split(" ", 1)[0])
            if count < 0:
                return []
            return [f.readline().rstrip("\n") for _ in range(count)]

    def metrics(self):
        """{pool: {"type-instance": value}} of everything collectd holds for fcgx.
        For DERIVE types (accepted, slow) collectd's GETVAL answers the rate per second."""
        out = {p: {} for p in POOLS}
        for line in self.unixsock("LISTVAL"):
            ident = line.split(" ", 1)[1]
            _, plugin, name = ident.split("/", 2)
            pool = plugin[len("fcgx-"):]
            if plugin.startswith("fcgx-") and pool in out:
                for kv in self.unixsock('GETVAL "%s"' % ident):
                    out[pool][name] = float(kv.split("=", 1)[1])
        return out

    def counter(self, pool, name):
        """Raw value of a DERIVE counter: the last row collectd's csv plugin wrote for it."""
        files = sorted(glob.glob(self.path("csv", HOST, "fcgx-" + pool, name + "-2*")))
        for line in reversed(log_tail(files[-1], 2) if files else []):
            try:
                return float(line.split(",")[1])
            except (IndexError, ValueError):  # the header, or a row being written
                continue
        return None

    def stop(self):
        stop_group(self.cd, signal.SIGTERM, 5)
        stop_group(self.fpm, signal.SIGQUIT, 5)

    def draw_graphs(self, out):
        """Runs scripts/graphs on what collectd's rrdtool plugin wrote (collectd has stopped,
        so every value is on disk); returns its exit code."""
        host_dir = os.path.join(self.rrd_dir, HOST)
        if self.started is None or not os.path.isdir(host_dir):
            print("fcgx demo: no graphs: collectd wrote no RRD files (%s)" % host_dir)
            return 1
        print("fcgx demo: drawing graphs of %s into %s" % (host_dir, out))
        try:
            return subprocess.run([sys.executable, GRAPHS, "--rrd-dir", host_dir, "--out", out,
                                   "--start", str(self.started), "--end", str(int(time.time()))],
                                  stdin=subprocess.DEVNULL, timeout=120).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            print("fcgx demo: scripts/graphs failed: %s" % exc, file=sys.stderr)
            return 1


class Traffic:
    """Client threads whose behaviour follows a 4-phase cycle, so every figure moves."""

    def __init__(self, demo, stop):
        self.demo, self.stop = demo, stop
        self.t0 = time.monotonic()
        self.done = self.errors = 0
        self.threads = [threading.Thread(target=self.client, args=(pool, i), daemon=True)
                        for pool, n in (("www", 5), ("api", 4)) for i in range(n)]
        for t in self.threads:
            t.start()

    def phase(self):
        return int((time.monotonic() - self.t0) // PHASE_SECONDS) % len(PHASES)

    def plan(self, pool, i, phase):
        """(script, query, pause after) for client i of pool, or None to stay idle a moment."""
        if pool == "www" and phase == 1:                  # all 5 workers busy: status and
            # ping still answer through pm.status_listen (StatusSocket)
            return "/sleep.php", "s=%.2f" % random.uniform(0.5, 1.5), 0
        if pool == "www" and phase == 2 and i == 0:       # past request_slowlog_timeout
            return "/sleep.php", "s=2.5", 0.5
        if pool == "api" and phase == 2 and i < 3:        # every static child busy
            return "/sleep.php", "s=%.2f" % random.uniform(0.2, 0.6), 0
        if i == 3 and random.random() < 0.5:
            return "/mem.php", "m=%d" % random.choice((2, 8, 16, 32)), 0.5
        if i == 3:
            return "/cpu.php", "n=%d" % random.choice((1e4, 1e5, 3e5)), 0.5
        if i > 1:
            return None
        return "/hello.php", "", random.uniform(0, 0.05 if phase == 3 else 0.6)

    def client(self, pool, i):
        addr = self.demo.www if pool == "www" else self.demo.api
        while not self.stop.is_set():
            plan = self.plan(pool, i, self.phase())
            if plan is None:
                self.stop.wait(0.2)
                continue
            try:
                self.demo.get(addr, plan[0], plan[1], timeout=5)
                self.done += 1
            except OSError:
                self.errors += 1
                self.stop.wait(0.5)
            self.stop.wait(plan[2])

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))


def fmt(v, scale=1.0, digits=0):
    return "-" if v is None or v != v else "%.*f" % (digits, v * scale)


def render(demo, traffic, started, duration):
    try:
        data = demo.metrics()
    except (OSError, ValueError, IndexError) as exc:
        return "collectd's unixsock did not answer: %s" % exc
    rows = [("up", lambda m, p: {1.0: "UP", 0.0: "DOWN"}.get(m.get("fpm_up"), "-"))]

    def row(label, *names, scale=1.0, digits=0):
        rows.append((label, lambda m, p: " / ".join(fmt(m.get(n), scale, digits) for n in names)))

    def counter(label, name, digits):
        rows.append((label, lambda m, p: "%s  (%s/s)" % (
            fmt(demo.counter(p, name)), fmt(m.get(name), digits=digits))))
    rows.append(("processes act/idle/total (max act)", lambda m, p: "%s / %s / %s  (%s)" % tuple(
        fmt(m.get("fpm_processes-" + n)) for n in ("active", "idle", "total", "max_active"))))
    counter("accepted requests", "fpm_requests-accepted", 1)
    counter("slow requests", "fpm_requests-slow", 1)
    counter("max children reached", "fpm_events-max_children_reached", 1)
    row("listen queue cur/max/len", "fpm_queue-current", "fpm_queue-max", "fpm_queue-length")
    # php-fpm says 0 on unix sockets; the kernel counts who waits for a worker
    row("waiting (kernel) / backlog", "fpm_queue-kernel", "fpm_queue-kernel_max")
    row("req duration avg/max/run (ms)", "fpm_request_duration-avg",
        "fpm_request_duration-max", "fpm_request_duration-running_max", scale=1e3, digits=1)
    row("last req cpu avg/max (%)", "fpm_request_cpu-avg", "fpm_request_cpu-max", digits=1)
    row("last req memory avg/max (MiB)", "fpm_request_memory-avg", "fpm_request_memory-max",
        scale=1 / 1048576, digits=1)
    row("response status/ping (ms)", "fpm_response_time-status", "fpm_response_time-ping",
        scale=1e3, digits=2)
    if any(n.startswith("opcache_") for m in data.values() for n in m):
        rows.append(("opcache hit rate (%), scripts", lambda m, p: "%s, %s" % (
            fmt(m.get("opcache_percent-hit_rate"), digits=1),
            fmt(m.get("opcache_scripts-cached")))))
        row("opcache memory used/free (MiB)", "opcache_memory-used", "opcache_memory-free",
            scale=1 / 1048576, digits=1)
    row("uptime (s)", "uptime")
    lines = ["fcgx demo  %s  running %.0f s%s  (Ctrl-C stops; files in %s)" % (
        time.strftime("%H:%M:%S"), time.monotonic() - started,
        " of %g" % duration if duration else "", demo.tmp),
        "traffic: %s, %d requests sent, %d errors" % (
        PHASES[traffic.phase()], traffic.done, traffic.errors), ""]
    lines.append("%-35s" % "collectd: fcgx-<pool>/" + "".join("%-24s" % p for p in POOLS))
    for label, get in rows:
        lines.append("%-35s" % label + "".join("%-24s" % get(data[p], p) for p in POOLS))
    lines += ["", "collectd log (fcgx lines):"]
    lines += ["  " + l for l in log_tail(demo.cd_log, 4, "fcgx")] or ["  (none yet)"]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C; "
                    "60 when stdout is not a terminal)")
    ap.add_argument("--interval", type=int, default=1, help="collectd's Interval (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--graphs", nargs="?", const="fcgx-graphs", metavar="DIR",
                    help="also record the values with collectd's rrdtool plugin and, at the end, "
                    "draw them as PNG files into DIR (default ./fcgx-graphs)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # keeps order with stderr when piped
    tty = sys.stdout.isatty()
    duration = args.duration if args.duration is not None else (None if tty else 60)
    for f in (PLUGIN, TYPES_DB):
        if not os.path.exists(f):
            sys.exit("fcgx demo: %s is missing: run ./scripts/demo (it builds the plugin)" % f)
    if args.graphs is not None:
        # scripts/demo runs from the repository: a relative DIR is the caller's
        args.graphs = os.path.abspath(os.path.join(
            os.environ.get("FCGX_DEMO_CWD", os.getcwd()), args.graphs))
        why = graphs_missing()
        if why:
            sys.exit("fcgx demo: --graphs: %s" % why)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    tmp = tempfile.mkdtemp(prefix="fcgx-demo-")
    os.chmod(tmp, 0o755)  # the pools run as nobody and read the docroot
    demo, traffic, code = Demo(tmp, args.interval, args.graphs is not None), None, 0
    try:
        print("fcgx demo: temporary directory %s%s" % (tmp, " (kept)" if args.keep else ""))
        demo.start_fpm()
        print("  php-fpm  pid %d: pool www on %s (status %s), pool api on %s:%d\n"
              "           log %s" % (demo.fpm.pid, demo.www, demo.www_status, *demo.api,
                                     demo.fpm_log))
        demo.start_collectd()
        print("  collectd pid %d: config %s\n           log %s, unixsock %s" % (
            demo.cd.pid, demo.cd_conf, demo.cd_log, demo.cd_sock))
        if args.graphs:
            print("           rrdtool plugin: %s; PNG graphs into %s at the end" % (
                demo.rrd_dir, args.graphs))
        print("  stop with Ctrl-C%s\n" % (" (or wait %g s)" % duration if duration else ""))
        traffic = Traffic(demo, stop)
        started = time.monotonic()
        while not stop.is_set():
            for proc, log in ((demo.fpm, demo.fpm_log), (demo.cd, demo.cd_log)):
                if proc.poll() is not None:
                    raise Failure("%s exited with code %d" % (proc.args[0], proc.returncode), log)
            screen = render(demo, traffic, started, duration)
            print(("\033[H\033[2J" if tty else "\n") + screen, flush=True)
            remaining = duration - (time.monotonic() - started) if duration else args.interval
            if remaining <= 0:
                break
            stop.wait(min(args.interval, remaining))
        print("\nfcgx demo: stopping")
    except Failure as exc:
        code = 1
        print("fcgx demo: %s" % exc.args[0], file=sys.stderr)
        for log in [exc.args[1]] if isinstance(exc.args[1], str) else exc.args[1]:
            print("-- last lines of %s:" % log, file=sys.stderr)
            for line in log_tail(log, 20):
                print("  " + line, file=sys.stderr)
    finally:
        stop.set()
        demo.stop()
        if traffic:
            traffic.join(6)  # their requests end when php-fpm stops; each has a 5 s timeout
        if args.graphs and demo.draw_graphs(args.graphs) != 0:
            code = code or 1
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        print("fcgx demo: stopped php-fpm and collectd; %s %s" % (
            "kept" if args.keep else "removed", tmp))
        if args.graphs:
            pngs = sorted(glob.glob(os.path.join(glob.escape(args.graphs), "*.png")))
            if pngs:
                print("fcgx demo: %d graphs in %s, e.g. %s" % (
                    len(pngs), args.graphs, next((p for p in pngs if p.endswith(
                        "www-processes.png")), pngs[0])))
    return code


if __name__ == "__main__":
    sys.exit(main())
