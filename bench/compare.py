#!/usr/bin/env python3
"""fcgx side by side with the routes operators use today, on the same php-fpm pools in one run.

Routes, each polling the same real php-fpm pools (pm = static, 1 child each, unix sockets) at the
same Interval:
  fcgx    collectd 5.12 with fcgx;
  HTTP    collectd's stock curl_json reading each pool's /status?json through a real nginx
          (fastcgi_pass to the pool), the five keys of collectd's contrib/curl_json/php-fpm.conf;
  script  collectd's exec plugin running, per pool and interval, a /bin/sh script that calls
          cgi-fcgi (libfcgi-bin) and prints PUTVAL lines;
  floor   bench/floor.c: a minimal blocking C client sending the same requests one after another.
Every collectd writes with the network plugin to an unused UDP port (a cheap writer, the same for
every route). Prints one markdown table set: CPU per pool poll, wall time of a read, hung pools,
remote pools, memory, instructions per pool poll, and the issue's targets (hold/miss).

    bench/compare.py [--quick] [--markdown FILE]      (bench/run builds and calls this)
"""
import argparse
import glob
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("FCGX_BENCH_BUILD", os.path.join(ROOT, "build-bench"))
os.environ.setdefault("FCGX_PLUGIN", os.path.join(BUILD, "fcgx.so"))
os.environ.setdefault("FCGX_TYPES_DB", os.path.join(ROOT, "types.db.fcgx"))
os.environ.setdefault("FCGX_SOURCE_DIR", ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FLOOR = os.path.join(BUILD, "floor")
READ_TIME = os.path.join(BUILD, "read_time")
SCRIPT = os.path.realpath(os.path.join(ROOT, "src", "fcgx-status.php"))
INTERVAL = 0.2
TIMEOUT_MS = 1000
# collectd's contrib/curl_json/php-fpm.conf: key -> (type, type instance)
HTTP_KEYS = [("accepted conn", "total_requests", "accepted"),
             ("slow requests", "total_requests", "slow"),
             ("listen queue", "queue_length", "listen"),
             ("active processes", "vs_processes", "active"),
             ("total processes", "vs_processes", "total")]


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%T"), msg))
    sys.stderr.flush()


# ------------------------------------------------------------------------------------------
# CPU accounting from /proc (clock ticks)

def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def _ticks(pid, children=False):
    f = stat_fields(pid)
    ticks = int(f[11]) + int(f[12])
    if children:
        ticks += int(f[13]) + int(f[14])
    return ticks / TICK


def _sched(pid):
    """On-CPU seconds of the live threads of pid (schedstat, ns): precise, but the time of
    threads that have exited is gone."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


class Cpu:
    """A CPU reading of a set of processes: /proc/PID/stat (utime+stime, clock ticks: counts
    exited threads and, with children, reaped children) and schedstat (ns, live threads only).
    The difference of two readings uses schedstat unless threads or children that exited account
    for a visible part (the exec plugin's threads and scripts), then the clock ticks."""

    def __init__(self, pids, children=False):
        self.ticks = self.sched = 0.0
        self.user = self.system = 0.0
        for pid in pids:
            try:
                self.ticks += _ticks(pid, children)
                self.sched += _sched(pid)
                f = stat_fields(pid)
                self.user += int(f[11]) / TICK
                self.system += int(f[12]) / TICK
            except (OSError, IndexError):
                pass

    def __sub__(self, other):
        dt, ds = self.ticks - other.ticks, self.sched - other.sched
        return dt if dt - ds > 0.02 + 0.05 * dt else ds


def proc_cpu(pid, children=False):
    return Cpu([pid], children)


def tree_pids(root):
    """A master and its direct children (php-fpm's and nginx's workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            f = stat_fields(int(entry))
        except (OSError, IndexError):
            continue
        if int(entry) == root or int(f[1]) == root:
            pids.append(int(entry))
    return pids


def tree_cpu(root):
    return Cpu(tree_pids(root), children=False)


def rss_kib(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split(key + ":")[1].split()[0])


# ------------------------------------------------------------------------------------------
# fixtures

class BenchCollectd(harness.Collectd):
    """harness.Collectd without csv, writing with the network plugin to a UDP port nobody
    listens on (as bench/cpu_per_poll.py's QuietCollectd), plus the given plugins and config."""

    def __init__(self, fcgx_block, interval, plugins=(), config="", log_level="info"):
        net = '<Plugin network>\n  Server "127.0.0.1" "%d"\n</Plugin>' % harness.free_port()
        super().__init__(fcgx_block, interval=interval, extra_plugins=["network"] + list(plugins),
                         extra_config=net + ("\n" + config if config else ""),
                         log_level=log_level)

    def config_text(self, *args, **kwargs):
        text = super().config_text(*args, **kwargs)
        if "LoadPlugin csv" not in text:
            return text
        start = text.index("LoadPlugin csv")
        return text[:start] + text[text.index("</Plugin>", start) + len("</Plugin>\n"):]


class HiddenPhpFpm(harness.PhpFpm):
    """harness.PhpFpm whose configuration file is renamed as soon as the master has read it:
    fcgx's AutoDiscover (other sessions' tests on this host) finds masters by their title
    "php-fpm: master process (CONF)" and polls every pool it reads in CONF, which would add
    requests and CPU to the pools measured here."""

    def start(self, timeout=10):
        self._write_config()
        env = dict(os.environ, PHP_INI_SCAN_DIR="")
        self.proc = harness._spawn([harness.PHP_FPM, "-F", "-O", "-y", self.conf, "-c", self.ini],
                                   "php-fpm", self.log, env=env)

        def titled():
            if self.proc.poll() is not None:
                raise harness.FixtureDied("php-fpm exited:\n" + self.log_text()[-2000:])
            with open("/proc/%d/cmdline" % self.proc.pid, "rb") as f:
                return f.read().startswith(b"php-fpm: master process")
        harness.wait_for(titled, timeout, interval=0.002, what="php-fpm's master title")
        os.rename(self.conf, self.conf + ".started")
        self.wait_ready(timeout)
        return self


class Nginx:
    """A real nginx (Debian's), as root with its own config in a temporary directory: one location
    per pool, /NAME/status -> fastcgi_pass unix:SOCK with the usual fastcgi params."""

    def __init__(self, pools):
        self.dir = harness.make_tmpdir("fcgx-nginx-")
        self.port = harness.free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.log = os.path.join(self.dir, "nginx.out")
        params = ["QUERY_STRING $query_string", "REQUEST_METHOD $request_method",
                  "CONTENT_TYPE $content_type", "CONTENT_LENGTH $content_length",
                  "SCRIPT_NAME /status", "SCRIPT_FILENAME /status",
                  "REQUEST_URI $request_uri", "DOCUMENT_URI $document_uri",
                  "DOCUMENT_ROOT $document_root", "SERVER_PROTOCOL $server_protocol",
                  "REQUEST_SCHEME $scheme", "GATEWAY_INTERFACE CGI/1.1",
                  "SERVER_SOFTWARE nginx/$nginx_version", "REMOTE_ADDR $remote_addr",
                  "REMOTE_PORT $remote_port", "SERVER_ADDR $server_addr",
                  "SERVER_PORT $server_port", "SERVER_NAME $server_name",
                  "REDIRECT_STATUS 200"]
        locations = []
        for name, sock in pools:
            locations.append("    location = /%s/status {\n      access_log off;\n"
                             "      allow 127.0.0.1;\n      deny all;\n%s"
                             "      fastcgi_pass unix:%s;\n    }" % (
                                 name, "".join("      fastcgi_param %s;\n" % p for p in params),
                                 sock))
        d = self.dir
        text = """user nobody nogroup;
worker_processes auto;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %(d)s/body;
  fastcgi_temp_path %(d)s/fastcgi;
  proxy_temp_path %(d)s/proxy;
  uwsgi_temp_path %(d)s/uwsgi;
  scgi_temp_path %(d)s/scgi;
  keepalive_timeout 65;
  server {
    listen 127.0.0.1:%(port)d;
%(locations)s
  }
}
""" % {"d": d, "port": self.port, "locations": "\n".join(locations)}
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def url(self, name):
        return "http://127.0.0.1:%d/%s/status?json" % (self.port, name)

    def start(self):
        self.proc = harness._spawn(["nginx", "-p", self.dir, "-e", os.path.join(self.dir,
                                    "error.log"), "-c", self.conf, "-g", "daemon off;"],
                                   "nginx", self.log)
        import urllib.request

        def answers():
            if self.proc.poll() is not None:
                raise harness.FixtureDied("nginx exited: %s" % open(self.log).read()[-2000:])
            with urllib.request.urlopen(self.url("p0"), timeout=2) as r:
                return r.status == 200
        harness.wait_for(answers, 10, what="nginx")
        return self

    def stop(self):
        if self.proc is not None:
            harness._stop(self.proc, signal.SIGQUIT, 5)
        harness.remove_tmpdir(self.dir)


EXEC_SCRIPT = r"""#!/bin/sh
# One pool's status through cgi-fcgi, as the common shell checks do; prints PUTVAL lines.
# The cheapest such script: /bin/sh (dash) builtins parse the JSON, cgi-fcgi is the only fork.
SOCK=$1 NAME=$2
H=${COLLECTD_HOSTNAME:-test} I=${COLLECTD_INTERVAL:-0.2}
out=$(env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET QUERY_STRING=json \
  cgi-fcgi -bind -connect "$SOCK") || exit 0
v() { x=${out#*\"$1\":}; x=${x%%[,\}]*}; echo "PUTVAL \"$H/phpfpm-$NAME/$2\" interval=$I N:$x"; }
v "accepted conn" total_requests-accepted
v "slow requests" total_requests-slow
v "listen queue" queue_length-listen
v "active processes" vs_processes-active
v "total processes" vs_processes-total
"""


# ------------------------------------------------------------------------------------------
# routes: start(), cpu() -> {component: seconds}, check() -> pools with values, stop()

class CollectdRoute:
    children = False

    def __init__(self, names, fpm):
        self.names, self.fpm = names, fpm
        self.cd = None

    def start(self):
        self.cd = BenchCollectd(*self.collectd_args()).start(timeout=20)
        return self

    def cpu(self):
        return {"collectd": proc_cpu(self.cd.proc.pid, self.children)}

    def check(self):
        return sum(1 for n in self.names if self.cd.getval(self.ident(n)) is not None)

    def stop(self):
        if self.cd is not None:
            self.cd.stop()
            harness.remove_tmpdir(self.cd.dir)


class FcgxRoute(CollectdRoute):
    def __init__(self, names, fpm, minimal):
        super().__init__(names, fpm)
        self.minimal = minimal
        self.requests = 1 if minimal else 3

    def collectd_args(self):
        return (fcgx_block(self.names, self.fpm, self.minimal), INTERVAL)

    def ident(self, n):
        return "fcgx-%s/fpm_up" % n

    def check(self):
        ok = 0
        for n in self.names:
            if self.cd.getval(self.ident(n)) == 1 and (
                    self.minimal or self.cd.getval("fcgx-%s/opcache_state-enabled" % n) == 1):
                ok += 1
        return ok


class HttpRoute(CollectdRoute):
    requests = 1

    def __init__(self, names, fpm, nginx):
        super().__init__(names, fpm)
        self.nginx = nginx

    def collectd_args(self):
        urls = []
        for n in self.names:
            keys = "".join('    <Key "%s">\n      Type "%s"\n      Instance "%s"\n    </Key>\n'
                           % k for k in HTTP_KEYS)
            urls.append('  <URL "%s">\n    Plugin "phpfpm"\n    Instance "%s"\n%s  </URL>' % (
                self.nginx.url(n), n, keys))
        return (None, INTERVAL, ["curl_json"],
                "<Plugin curl_json>\n%s\n</Plugin>" % "\n".join(urls))

    def ident(self, n):
        return "phpfpm-%s/vs_processes-total" % n

    def cpu(self):
        c = super().cpu()
        c["nginx"] = tree_cpu(self.nginx.proc.pid)
        return c


class ScriptRoute(CollectdRoute):
    requests = 1
    children = True

    def collectd_args(self):
        d = harness.make_tmpdir("fcgx-exec-")
        self.script_dir = d
        path = os.path.join(d, "fpm-status.sh")
        with open(path, "w") as f:
            f.write(EXEC_SCRIPT)
        os.chmod(path, 0o755)
        lines = ['  Exec "nobody" "%s" "%s" "%s"' % (path, self.fpm.address(n), n)
                 for n in self.names]
        return (None, INTERVAL, ["exec"], "<Plugin exec>\n%s\n</Plugin>" % "\n".join(lines))

    def ident(self, n):
        return "phpfpm-%s/vs_processes-total" % n

    def stop(self):
        super().stop()
        harness.remove_tmpdir(self.script_dir)


class FloorRoute:
    """floor.c (or read_time: fcgx's poller without collectd) in a loop at the Interval for the
    window; its own getrusage is its CPU."""

    def __init__(self, names, fpm, full, tool="floor"):
        self.names, self.fpm, self.full, self.tool = names, fpm, full, tool
        self.requests = 3 if full else 1
        self.result = None

    def start(self):
        return self

    def begin(self, seconds):
        if self.tool == "floor":
            argv = [FLOOR] + (["--full", "--opcache", SCRIPT] if self.full else [])
        else:
            argv = [READ_TIME] + (["--opcache", SCRIPT] if self.full else ["--minimal"])
        argv += [
            "--loop", str(INTERVAL), str(seconds)] + [self.fpm.address(n) for n in self.names]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def end(self):
        out, _ = self.proc.communicate(timeout=60)
        u, s, polls, ok = out.split()
        self.result = (float(u) + float(s), int(polls), int(ok))

    def cpu(self):
        return {self.tool: self.result[0] if self.result else 0.0}

    def check(self):
        return round(self.result[2] / max(1, self.result[1]) * len(self.names))

    def stop(self):
        pass


def fcgx_block(names, fpm, minimal, address=None):
    blocks = []
    for i, n in enumerate(names):
        # the same work as curl_json's: one /status?json, none of what only fcgx adds
        opts = {"OPcache": False, "ProcessDetails": False, "PingPath": "", "KernelQueue": False,
                "Workers": False} if minimal else {
            "OPcacheScript": SCRIPT}
        blocks.append(harness.pool_block(n, address(i) if address else fpm.address(n), **opts))
    return harness.plugin_block(*blocks, timeout=TIMEOUT_MS)


def accepted(fpm, names):
    return sum(fpm.status(n)["accepted conn"] for n in names)


def measure(route, fpm, names, seconds, warmup, idle):
    """Runs route for warmup + seconds; returns a dict of its CPU per pool poll and php-fpm's."""
    route.start()
    try:
        time.sleep(warmup)
        acc0 = accepted(fpm, names)
        c0, f0, t0 = route.cpu(), tree_cpu(fpm.proc.pid), time.monotonic()
        if isinstance(route, FloorRoute):
            route.begin(seconds)
            route.end()
        else:
            time.sleep(seconds)
        c1, f1, t1 = route.cpu(), tree_cpu(fpm.proc.pid), time.monotonic()
        acc1 = accepted(fpm, names)
        ok = route.check()
    finally:
        route.stop()
    dt = t1 - t0
    served = acc1 - acc0 - len(names)  # minus our own status read of each pool
    polls = served / route.requests
    if isinstance(route, FloorRoute):
        polls = route.result[1]  # its own count
    comp = {}
    for k in c1:
        base = idle.get(k, 0.0) * dt if k in ("collectd", "nginx") else 0.0
        comp[k] = max(0.0, c1[k] - c0[k] - base)
    fpm_cpu = max(0.0, f1 - f0 - idle["php-fpm"] * dt)
    us = {}
    if "collectd" in c1:
        u, sy = c1["collectd"].user - c0["collectd"].user, c1["collectd"].system - c0[
            "collectd"].system
        us = {"user": u / (u + sy) if u + sy > 0 else 0}
    return {"us": sum(comp.values()) / polls * 1e6 if polls > 0 else float("nan"),
            "split": {k: v / polls * 1e6 for k, v in comp.items()} if polls > 0 else {},
            "fpm_us_req": fpm_cpu / served * 1e6 if served > 0 else float("nan"),
            "polls": polls, "scheduled": dt / INTERVAL * len(names), "ok": ok,
            "n": len(names), "requests": route.requests, "seconds": dt, "usersys": us}


def measure_idle(fpm, nginx, seconds):
    """CPU rates of an idle php-fpm, an idle nginx and a collectd with no read plugin (same
    Interval, same writer): subtracted from every route's figures."""
    cd = BenchCollectd(None, INTERVAL).start(timeout=20)
    try:
        time.sleep(1)
        a0, f0, n0, t0 = (proc_cpu(cd.proc.pid), tree_cpu(fpm.proc.pid),
                          tree_cpu(nginx.proc.pid), time.monotonic())
        time.sleep(seconds)
        a1, f1, n1, t1 = (proc_cpu(cd.proc.pid), tree_cpu(fpm.proc.pid),
                          tree_cpu(nginx.proc.pid), time.monotonic())
    finally:
        cd.stop()
        harness.remove_tmpdir(cd.dir)
    dt = t1 - t0
    return {"collectd": (a1 - a0) / dt, "php-fpm": (f1 - f0) / dt, "nginx": (n1 - n0) / dt}


# ------------------------------------------------------------------------------------------
# wall time

def run_lines(argv, timeout):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       start_new_session=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (argv[0], r.returncode, r.stderr[-2000:]))
    return [line.split() for line in r.stdout.splitlines() if line.strip()]


def wall_reads(tool, addrs, reads, gap_ms, full, timeout_ms=TIMEOUT_MS, timeout=600):
    """[(seconds, ok)] of `reads` reads of every address by read_time (fcgx) or floor."""
    if tool == "fcgx":
        argv = [READ_TIME] + ([] if full else ["--minimal"]) + (["--opcache", SCRIPT] if full
                                                               else [])
    else:
        argv = [FLOOR] + (["--full", "--opcache", SCRIPT] if full else [])
    argv += ["--timeout", str(timeout_ms), "--reads", str(reads), str(gap_ms)] + list(addrs)
    return [(float(a), int(b)) for a, b in run_lines(argv, timeout)]


def curl_reads(urls, reads, gap_ms):
    """A sequential read through nginx, as curl_json reads its URLs (one handle per URL, kept
    alive): one curl process per read, the sum of its transfers' time_total."""
    out = []
    for _ in range(reads):
        argv = ["curl", "-s", "--max-time", "10", "-w", "%{http_code} %{time_total}\n"]
        for u in urls:
            argv += ["-o", "/dev/null", u]
        rows = run_lines(argv, 60)
        out.append((sum(float(t) for _, t in rows), sum(1 for c, _ in rows if c == "200")))
        time.sleep(gap_ms / 1000)
    return out


def median(rows):
    return statistics.median(r[0] for r in rows)


# ------------------------------------------------------------------------------------------
# callgrind and strace

def callgrind(addrs, reads, full, tmp):
    out = os.path.join(tmp, "callgrind.%s.out" % ("full" if full else "min"))
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
            "--toggle-collect=fcgx_pools_poll", "--toggle-collect=fcgx_pool_poll_release",
            READ_TIME] + ([] if not full else ["--opcache", SCRIPT]) + (
                ["--minimal"] if not full else []) + [
            "--timeout", "5000", "--reads", str(reads), "20"] + list(addrs)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, start_new_session=True)
    oks = [int(line.split()[1]) for line in r.stdout.splitlines() if line.strip()]
    total, funcs = annotate(out)
    polls = reads * len(addrs)
    groups = {}
    for ir, _, obj in funcs:
        g = ("fcgx (ours)" if obj == "read_time" else "libc" if obj.startswith("libc.so")
             else "cJSON" if "cjson" in obj.lower() else "other (" + obj + ")")
        groups[g] = groups.get(g, 0) + ir
    return {"total": total, "per_poll": total / polls if polls else 0, "polls": polls,
            "ok": sum(oks), "funcs": funcs, "groups": groups}


def callgrind_collectd(names, fpm, seconds, tmp):
    """collectd with fcgx (minimal work) under callgrind: counters zeroed after warm-up, dumped
    after `seconds`; instructions by object and top functions, per pool poll."""
    cd = BenchCollectd(fcgx_block(names, fpm, True), INTERVAL, log_level="warning")
    out = os.path.join(tmp, "callgrind.collectd.out")
    cd.wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    cd.start(timeout=60)
    try:
        time.sleep(6)
        subprocess.run(["callgrind_control", "-z", str(cd.proc.pid)], capture_output=True,
                       timeout=60)
        acc0 = accepted(fpm, names)
        time.sleep(seconds)
        acc1 = accepted(fpm, names)
        subprocess.run(["callgrind_control", "-d", str(cd.proc.pid)], capture_output=True,
                       timeout=60)
    finally:
        cd.stop(grace=30)
        harness.remove_tmpdir(cd.dir)
    dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
    if not dumps:
        return None
    polls = acc1 - acc0 - len(names)
    total, funcs = annotate(dumps[-1])
    # Thread entry frames (clone, start_thread) carry inclusive cost even in exclusive mode.
    funcs = [f for f in funcs if not f[1].startswith(("clone", "start_thread"))]
    groups = {}
    for ir, _, obj in funcs:
        groups[obj] = groups.get(obj, 0) + ir
    _, incl = annotate(dumps[-1], inclusive=True)
    inclusive = {}
    for ir, fn, _ in incl:
        if fn in INCLUSIVE and fn not in inclusive:
            inclusive[fn] = ir
    return {"total": total, "polls": polls, "per_poll": total / polls if polls > 0 else 0,
            "funcs": funcs, "groups": groups, "inclusive": inclusive}


# Functions whose inclusive cost splits collectd-with-fcgx's instructions: the read callback,
# fcgx's poll in it, the status parse (cJSON's part of it), fcgx's value lists
# (plugin_dispatch_values in it), and collectd's write thread (cache, filter chain, network).
INCLUSIVE = ["fcgx_read", "fcgx_pools_poll", "fpm_status_parse", "cJSON_ParseWithLengthOpts",
             "submit", "plugin_dispatch_values", "plugin_write"]


def annotate(path, inclusive=False):
    """(total Ir, [(Ir, function, object)]) of a callgrind output, exclusive counts."""
    ann = subprocess.run(["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive else "no"),
                          "--threshold=100", path],
                         capture_output=True, text=True, timeout=120).stdout
    total, funcs = 0, []
    rx = re.compile(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(.*?):(\S+)\s+\[(.*)\]\s*$")
    for line in ann.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = rx.match(line)
        if m:
            funcs.append((int(m.group(1).replace(",", "")), m.group(3),
                          os.path.basename(m.group(4))))
    return total, funcs


def strace_counts(pid, seconds, tmp, tag):
    """Syscall counts of every thread of pid during `seconds` (strace -c -f)."""
    out = os.path.join(tmp, "strace.%s" % tag)
    tids = os.listdir("/proc/%d/task" % pid)
    argv = ["strace", "-c", "-f", "-o", out] + sum((["-p", t] for t in tids), [])
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    counts = {}
    try:
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    calls = int(parts[3])
                    counts[parts[-1]] = calls
    except OSError:
        pass
    return counts


# ------------------------------------------------------------------------------------------

def versions():
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    coll = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "collectd-core"],
                          capture_output=True, text=True).stdout
    return {"host": platform.node(), "cpus": os.cpu_count(), "cpu": cpu,
            "kernel": platform.release(), "php": first(["php-fpm8.2", "-v"]),
            "collectd": "collectd " + coll, "nginx": first(["nginx", "-v"]),
            "curl": first(["curl", "--version"]), "valgrind": first(["valgrind", "--version"])}


def fmt_ratio(x, base):
    if not base or base != base or x != x:
        return "-"
    return "%.1fx" % (x / base)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", help="also write the report to this file")
    args = ap.parse_args()
    q = args.quick
    cpu_seconds = 6 if q else 30
    warmup = 1.5 if q else 3
    reads = 5 if q else 11
    cpu_ns = (10, 50)
    wall_ns = (1, 10, 100)
    started = time.time()

    tmp = harness.make_tmpdir("fcgx-bench-")
    names = ["p%d" % i for i in range(100)]
    log("starting php-fpm with %d static pools (1 child each)" % len(names))
    fpm = HiddenPhpFpm([{"name": n, "max_children": 1} for n in names]).start(timeout=60)
    nginx = None
    proxy = None
    hung = []
    R = {"cpu": {}, "wall": {}, "hung": {}, "remote": {}, "mem": {}, "cg": {}, "strace": {},
         "wall_fpm": {}, "cgcd": None}
    try:
        nginx = Nginx([(n, fpm.address(n)) for n in names]).start()
        socks = [fpm.address(n) for n in names]

        # ---- CPU per pool poll
        log("idle baselines (%d s)" % cpu_seconds)
        idle = measure_idle(fpm, nginx, cpu_seconds)
        R["idle"] = idle
        for n in cpu_ns:
            sub = names[:n]
            routes = [("fcgx_min", lambda: FcgxRoute(sub, fpm, True)),
                      ("http", lambda: HttpRoute(sub, fpm, nginx)),
                      ("script", lambda: ScriptRoute(sub, fpm)),
                      ("floor_min", lambda: FloorRoute(sub, fpm, False)),
                      ("fcgx_full", lambda: FcgxRoute(sub, fpm, False)),
                      ("floor_full", lambda: FloorRoute(sub, fpm, True)),
                      ("alone_min", lambda: FloorRoute(sub, fpm, False, "read_time")),
                      ("alone_full", lambda: FloorRoute(sub, fpm, True, "read_time"))]
            for key, make in routes:
                log("CPU: %s, %d pools, %d s" % (key, n, cpu_seconds))
                R["cpu"][(key, n)] = measure(make(), fpm, sub, cpu_seconds, warmup, idle)

        # ---- where fcgx's system time goes: syscalls per pool poll (strace -c), fcgx vs HTTP
        n = 10
        st_seconds = 4 if q else 8
        for key, make in (("fcgx_min", lambda: FcgxRoute(names[:n], fpm, True)),
                          ("http", lambda: HttpRoute(names[:n], fpm, nginx))):
            log("strace -c: %s, %d pools, %d s" % (key, n, st_seconds))
            route = make().start()
            try:
                time.sleep(warmup)
                counts = strace_counts(route.cd.proc.pid, st_seconds, tmp, key)
            finally:
                route.stop()
            R["strace"][key] = {k: v / (st_seconds / INTERVAL * n) for k, v in counts.items()}

        # ---- wall time of one read of N pools
        for n in wall_ns:
            sub = socks[:n]
            log("wall time: %d pools" % n)
            w = R["wall"][n] = {}
            f0 = tree_cpu(fpm.proc.pid)
            w["fcgx_full"] = wall_reads("fcgx", sub, reads, 200, True)
            f1 = tree_cpu(fpm.proc.pid)
            w["fcgx_min"] = wall_reads("fcgx", sub, reads, 200, False)
            f2 = tree_cpu(fpm.proc.pid)
            R["wall_fpm"][n] = {"fcgx_full": (f1 - f0) / reads, "fcgx_min": (f2 - f1) / reads}
            w["floor_full"] = wall_reads("floor", sub, reads, 200, True)
            w["floor_min"] = wall_reads("floor", sub, reads, 200, False)
            w["curl"] = curl_reads([nginx.url(x) for x in names[:n]], reads, 200)

        # ---- 100 pools of which 20 hang
        log("hung pools: 100 pools, 20 hung, Timeout %d ms" % TIMEOUT_MS)
        hung = [harness.HungServer() for _ in range(20)]
        mixed, hi = [], 0
        for i in range(100):
            if i % 5 == 4:
                mixed.append("127.0.0.1:%d" % hung[hi].port)
                hi += 1
            else:
                mixed.append(socks[i])
        R["hung"]["fcgx_full"] = wall_reads("fcgx", mixed, 3, 200, True)
        R["hung"]["fcgx_min"] = wall_reads("fcgx", mixed, 3, 200, False)
        if not q:
            R["hung"]["floor_full"] = wall_reads("floor", mixed, 1, 0, True, timeout=120)
        for h in hung:
            h.close()
        hung = []

        # ---- 50 remote pools over TCP, 10 ms each way
        log("remote: 50 pools through the delaying proxy")
        proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "delay_proxy.py"),
                                  "--delay-ms", "10", "--lifetime", "900"] + socks[:50],
                                 stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = proxy.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError("delay_proxy.py did not start")
        tcp = ["127.0.0.1:%s" % p for p in line[1:]]
        rr = 3 if q else 7
        p0 = proc_cpu(proxy.pid)
        R["remote"]["fcgx_full"] = wall_reads("fcgx", tcp, rr, 200, True)
        R["remote_proxy_ms"] = (proc_cpu(proxy.pid) - p0) / rr * 1e3
        R["remote"]["one_full"] = wall_reads("fcgx", tcp[:1], 3, 200, True)
        R["remote"]["fcgx_min"] = wall_reads("fcgx", tcp, rr, 200, False)
        R["remote"]["floor_full"] = wall_reads("floor", tcp, 1 if q else 3, 200, True)
        R["remote"]["floor_min"] = wall_reads("floor", tcp, 1 if q else 3, 200, False)
        R["remote"]["tcp_direct"] = wall_reads("fcgx", tcp[:1], 3, 200, False)

        # ---- memory: collectd's RSS with 1, 100, 1000 configured pools (Interval 1 s); the 1000
        # pools point at the 100 real pools, 10 each. Variants at 1000: minimal work, and pools
        # whose socket does not exist (configuration and poll state only, one value each).
        mem_cases = [("none", 0), ("full", 1), ("full", 100), ("full", 1000), ("min", 1),
                     ("min", 1000), ("down", 1), ("down", 1000)]
        for kind, count in mem_cases:
            log("memory: %d pools (%s)" % (count, kind))
            block = None
            if count:
                addr = ((lambda i: os.path.join(tmp, "missing-%d.sock" % i)) if kind == "down"
                        else (lambda i: socks[i % len(socks)]))
                block = fcgx_block(["m%d" % i for i in range(count)], fpm, kind == "min",
                                   address=addr)
            cd = BenchCollectd(block, 1.0, log_level="warning").start(timeout=30)
            try:
                time.sleep(3.5 if q else 6)
                up = sum(1 for i in range(count) if cd.getval("fcgx-m%d/fpm_up" % i) == 1)
                values = cd.command("LISTVAL")[0]
                R["mem"][(kind, count)] = (rss_kib(cd.proc.pid), rss_kib(cd.proc.pid, "VmHWM"),
                                           up, values)
            finally:
                cd.stop()
                harness.remove_tmpdir(cd.dir)

        # ---- user-space instructions in collectd with fcgx (callgrind on the daemon), by object
        log("callgrind: collectd with fcgx, 10 pools, minimal work")
        R["cgcd"] = callgrind_collectd(names[:10], fpm, 8 if q else 20, tmp)

        # ---- instructions per pool poll (callgrind on read_time, 10 pools)
        for full in (False, True):
            log("callgrind: %s poll, 10 pools" % ("full" if full else "minimal"))
            R["cg"][full] = callgrind(socks[:10], 10 if q else 30, full, tmp)
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.terminate()
            try:
                proxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait(timeout=5)
        for h in hung:
            h.close()
        if nginx is not None:
            nginx.stop()
        fpm.stop()
        harness.remove_tmpdir(fpm.dir)

    text = report(R, args, versions(), time.time() - started, cpu_seconds, reads)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    harness.remove_tmpdir(tmp)


def report(R, args, v, elapsed, cpu_seconds, reads):
    L = []
    add = L.append
    add("## fcgx benchmark%s — %s" % (" (--quick)" if args.quick else "",
                                     time.strftime("%Y-%m-%d %H:%M %Z")))
    add("")
    add("Machine: `%s`, %d CPUs (%s), Linux %s; %s; %s; %s; %s. Run took %.0f s." % (
        v["host"], v["cpus"], v["cpu"], v["kernel"], v["php"].split("(")[0].strip(),
        v["collectd"], v["nginx"].replace("nginx version: ", ""), v["curl"].split("(")[0].strip(),
        elapsed))
    add("")
    add("Setup: one php-fpm 8.2 master, 100 pools `pm = static`, `pm.max_children = 1`, unix "
        "sockets, OPcache loaded; Interval %.1f s; every collectd writes with `network` to an "
        "unused UDP port (no csv). CPU windows %d s per route after warm-up, routes one after "
        "another on the same pools; CPU from /proc (schedstat of every live thread, ns; utime+"
        "stime+cutime+cstime in clock ticks where exited threads and reaped children count: the "
        "exec route), minus the idle rate of a collectd with no read plugin (%.1f ms/s), of php-fpm (%.1f ms/s) and of "
        "nginx (%.1f ms/s). Pool polls counted from php-fpm's `accepted conn`." % (
            INTERVAL, cpu_seconds, R["idle"]["collectd"] * 1e3, R["idle"]["php-fpm"] * 1e3,
            R["idle"]["nginx"] * 1e3))
    add("")
    add("- **fcgx**: `collectd -f` with `fcgx.so`; minimal work = `ProcessDetails false`, "
        "`PingPath \"\"`, `OPcache false` (one `/status?json` per pool, 15 value lists); full "
        "poll = defaults (`/status?json&full`, `/ping`, `fcgx-status.php`), Timeout 1000 ms.")
    add("- **HTTP route**: stock `curl_json.so`, one `<URL \"http://127.0.0.1:PORT/pN/status?json\">`"
        " per pool with the five keys of collectd's `contrib/curl_json/php-fpm.conf` (accepted "
        "conn, slow requests, listen queue, active processes, total processes) through "
        "`nginx -c CONF -g 'daemon off;'` (`worker_processes auto`, `location = /pN/status` with "
        "`fastcgi_pass unix:SOCK`, `SCRIPT_NAME /status`); CPU = collectd + nginx master and "
        "workers.")
    add("- **script route**: `exec` plugin, `Exec \"nobody\" \"fpm-status.sh\" SOCK NAME` per "
        "pool; the script (dash) runs `cgi-fcgi -bind -connect SOCK` with SCRIPT_NAME=/status "
        "QUERY_STRING=json and prints 5 PUTVAL lines, parsing with shell builtins (its cheapest "
        "form: one fork + exec besides the shell); CPU = collectd incl. reaped children "
        "(cutime+cstime).")
    add("- **floor**: `bench/floor.c`, blocking, one pool after another, new connection per "
        "request, `--loop 0.2 SECONDS` (CPU by getrusage); minimal = `/status?json`, full = "
        "`?json&full` + `/ping` + the OPcache script.")
    add("- Wall times: `build-bench/read_time` (fcgx's `fcgx_pools_poll` from libfcgx_core.a), "
        "`build-bench/floor --reads`, and `curl -w %%{time_total}` of the N URLs through nginx in "
        "one process (sequential on a kept-alive connection, as curl_json's handles), median of "
        "%d reads %d ms apart." % (reads, 200))
    add("")

    # CPU table
    add("### CPU per pool poll (µs, all processes of the route), ratio to fcgx for the same work")
    add("")
    add("| work | pools | fcgx | HTTP route (collectd + nginx) | script route (exec + cgi-fcgi) "
        "| floor (C, blocking) | fcgx's poller alone (read_time, no collectd) "
        "| php-fpm µs/request (fcgx / HTTP / script / floor) |")
    add("|---|---|---|---|---|---|---|---|")
    for n in sorted({k[1] for k in R["cpu"]}):
        c = {k: R["cpu"][(k, n)] for k, nn in R["cpu"] if nn == n}
        f, h, s, fl = c["fcgx_min"], c["http"], c["script"], c["floor_min"]

        def cell(x, base):
            split = " + ".join("%.0f %s" % (v, k) for k, v in x["split"].items()) if len(
                x["split"]) > 1 else ""
            return "%.0f%s (%s)" % (x["us"], " = " + split if split else "",
                                    fmt_ratio(x["us"], base["us"]))
        add("| minimal: one `/status?json` | %d | **%.0f** (%.0f%% system) | %s | %s | %s | %s "
            "| %.0f / %.0f / %.0f / %.0f |" % (
                n, f["us"], 100 * (1 - f["usersys"].get("user", 0)), cell(h, f), cell(s, f),
                cell(fl, f), cell(c["alone_min"], f), f["fpm_us_req"], h["fpm_us_req"],
                s["fpm_us_req"], fl["fpm_us_req"]))
        ff, flf, al = c["fcgx_full"], c["floor_full"], c["alone_full"]
        add("| full: `?json&full` + ping + OPcache (HTTP: its single status) | %d | **%.0f** "
            "(%.0f%% system) | %.0f (%s) | - | %.0f (%s) | %.0f (%s) | %.0f / - / - / %.0f |" % (
                n, ff["us"], 100 * (1 - ff["usersys"].get("user", 0)), h["us"],
                fmt_ratio(h["us"], ff["us"]), flf["us"], fmt_ratio(flf["us"], ff["us"]),
                al["us"], fmt_ratio(al["us"], ff["us"]), ff["fpm_us_req"], flf["fpm_us_req"]))
    add("")
    polls = ", ".join("%s/%d %.0f of %.0f (%d ok)" % (k, n, x["polls"], x["scheduled"], x["ok"])
                      for (k, n), x in sorted(R["cpu"].items(), key=lambda i: (i[0][1], i[0][0])))
    add("Pool polls served vs scheduled (pools with values at the end): " + polls + ".")
    add("")

    # wall time
    add("### Wall time of one complete read (median ms), ratio to fcgx for the same work")
    add("")
    add("| pools | fcgx full | floor full (sequential) | fcgx minimal | floor minimal "
        "(sequential) | curl → nginx, sequential (minimal) |")
    add("|---|---|---|---|---|---|")
    for n, w in sorted(R["wall"].items()):
        m = {k: median(x) * 1e3 for k, x in w.items()}
        add("| %d | **%.2f** | %.2f (%s) | **%.2f** | %.2f (%s) | %.2f (%s) |" % (
            n, m["fcgx_full"], m["floor_full"], fmt_ratio(m["floor_full"], m["fcgx_full"]),
            m["fcgx_min"], m["floor_min"], fmt_ratio(m["floor_min"], m["fcgx_min"]),
            m["curl"], fmt_ratio(m["curl"], m["fcgx_min"])))
    add("")
    add("php-fpm's CPU per read (all its workers; on %d cores, that divided by %d bounds any "
        "client's read from below): %s." % (os.cpu_count(), os.cpu_count(), "; ".join(
            "%d pools: full %.2f ms, minimal %.2f ms" % (n, x["fcgx_full"] * 1e3,
                                                         x["fcgx_min"] * 1e3)
            for n, x in sorted(R["wall_fpm"].items()))))
    bad = ["%s/%d: %s" % (k, n, [o for _, o in x]) for n, w in R["wall"].items()
           for k, x in w.items() if any(o != n for _, o in x)]
    add("")
    add("Every read answered for every pool" if not bad else "Incomplete reads: " + "; ".join(bad))
    add("")

    # hung
    add("### 100 pools of which 20 hang (listening, never accepting), Timeout 1000 ms")
    add("")
    hg = R["hung"]
    row = "| fcgx full: %.0f ms (%d/80 pools ok) | fcgx minimal: %.0f ms | " % (
        median(hg["fcgx_full"]) * 1e3, hg["fcgx_full"][0][1], median(hg["fcgx_min"]) * 1e3)
    if "floor_full" in hg:
        row += "floor full, sequential: %.0f ms (%s) |" % (
            hg["floor_full"][0][0] * 1e3, fmt_ratio(hg["floor_full"][0][0],
                                                    median(hg["fcgx_full"])))
    else:
        row += "floor sequential: not run with --quick (20 × Timeout = 20 s at least) |"
    add("| fcgx full | fcgx minimal | floor |")
    add("|---|---|---|")
    add(row)
    add("")

    # remote
    add("### 50 remote pools over TCP, +20 ms round trip (delaying proxy, 10 ms each way)")
    add("")
    rm = {k: median(x) * 1e3 for k, x in R["remote"].items()}
    add("| fcgx full | floor full (sequential) | fcgx minimal | floor minimal (sequential) | one "
        "pool, full | one pool, minimal |")
    add("|---|---|---|---|---|---|")
    add("| **%.0f ms** | %.0f ms (%s) | **%.0f ms** | %.0f ms (%s) | %.1f ms | %.1f ms |" % (
        rm["fcgx_full"], rm["floor_full"], fmt_ratio(rm["floor_full"], rm["fcgx_full"]),
        rm["fcgx_min"], rm["floor_min"], fmt_ratio(rm["floor_min"], rm["fcgx_min"]),
        rm["one_full"], rm["tcp_direct"]))
    add("")
    add("The full poll is status, then ping and the OPcache script together. With one worker "
        "per pool these two are served one round trip apart: php-fpm shuts its side and reads "
        "until the client's close arrives (one more round trip through the proxy) before it "
        "accepts the next connection, so one pool's full poll takes 3 round trips. The proxy "
        "(Python asyncio) spent %.0f ms of CPU per 50-pool full read." % R["remote_proxy_ms"])
    add("")

    # memory
    add("### collectd's memory with N configured pools (Interval 1 s)")
    add("")
    add("| pools | work | VmRSS KiB | VmHWM KiB | pools up | value lists in collectd's cache "
        "| per pool beyond 1 pool (RSS; HWM) |")
    add("|---|---|---|---|---|---|---|")
    mem = R["mem"]
    kinds = {"none": "no fcgx", "full": "full poll", "min": "minimal",
             "down": "socket missing (config + poll state only)"}
    for (kind, c), (rss, hwm, up, values) in mem.items():
        base = mem.get((kind, 1))
        per = "-" if c <= 1 or base is None else "%.1f KiB; %.1f KiB" % (
            (rss - base[0]) / (c - 1), (hwm - base[1]) / (c - 1))
        add("| %d | %s | %d | %d | %s | %d | %s |" % (c, kinds[kind], rss, hwm,
                                                    "%d/%d" % (up, c) if c else "-", values, per))
    add("")

    # callgrind
    add("### Instructions per pool poll (callgrind, read_time, 10 pools, user space only)")
    add("")
    for full, cg in sorted(R["cg"].items()):
        groups = ", ".join("%s %.0f%%" % (g, ir * 100 / cg["total"]) for g, ir in sorted(
            cg["groups"].items(), key=lambda i: -i[1]) if cg["total"])
        add("- **%s**: %.0f instructions per pool poll (%d polls, %d ok); %s." % (
            "full poll" if full else "minimal", cg["per_poll"], cg["polls"], cg["ok"], groups))
        top = sorted(cg["funcs"], key=lambda f: -f[0])[:8]
        add("  top: " + "; ".join("`%s` %.0f%% (%s)" % (fn, ir * 100 / cg["total"], obj)
                                  for ir, fn, obj in top))
    add("")

    cg = R["cgcd"]
    if cg and cg["polls"] > 0:
        add("### Instructions per pool poll in collectd with fcgx (callgrind on the daemon, 10 "
            "pools, minimal work, %d pool polls)" % cg["polls"])
        add("")
        add("%.0f user-space instructions per pool poll, by object: %s." % (
            cg["per_poll"], ", ".join("%s %.0f (%.0f%%)" % (o, ir / cg["polls"],
                                                             ir * 100 / cg["total"])
                                      for o, ir in sorted(cg["groups"].items(),
                                                          key=lambda i: -i[1])[:7])))
        inc = cg["inclusive"]
        add("Inclusive, per pool poll: " + ", ".join("`%s` %.0f" % (fn, inc[fn] / cg["polls"])
                                                      for fn in INCLUSIVE if fn in inc) +
            " (`fcgx_read` is the read callback: poll + value lists; `plugin_write` runs in "
            "collectd's write thread: cache update, filter chain, network plugin).")
        add("")
        add("Top functions (exclusive): " + "; ".join("`%s` %.0f%% (%s)" % (fn, ir * 100 / cg["total"], obj)
                                           for ir, fn, obj in sorted(cg["funcs"],
                                                                     key=lambda f: -f[0])[:12]))
        add("")

    # strace
    add("### Syscalls per pool poll in collectd (strace -c -f, 10 pools, minimal work)")
    add("")
    for key, counts in R["strace"].items():
        top = sorted(counts.items(), key=lambda i: -i[1])[:8]
        add("- %s: %s (total %.1f)" % ("fcgx" if key == "fcgx_min" else "HTTP route's collectd",
                                       ", ".join("%s %.1f" % kv for kv in top),
                                       sum(counts.values())))
    add("")

    # targets
    add("### Targets (issue 5)")
    add("")
    T = []
    for n in sorted({k[1] for k in R["cpu"]}):
        f, h, s = R["cpu"][("fcgx_min", n)], R["cpu"][("http", n)], R["cpu"][("script", n)]
        T.append(("minimal work, %d pools: fcgx ≤ 1/4 of the HTTP route" % n,
                  f["us"] * 4 <= h["us"], "%.0f µs vs %.0f µs: 1/%.1f" % (
                      f["us"], h["us"], h["us"] / f["us"])))
        T.append(("minimal work, %d pools: fcgx ≤ 1/40 of the script route" % n,
                  f["us"] * 40 <= s["us"], "%.0f µs vs %.0f µs: 1/%.1f" % (
                      f["us"], s["us"], s["us"] / f["us"])))
        ff = R["cpu"][("fcgx_full", n)]
        T.append(("full poll, %d pools: fcgx < the HTTP route's single status" % n,
                  ff["us"] < h["us"], "%.0f µs vs %.0f µs" % (ff["us"], h["us"])))
        for key in ("fcgx_min", "fcgx_full"):
            x = R["cpu"][(key, n)]
            per_req = x["us"] / x["requests"]
            T.append(("%s, %d pools: fcgx per FastCGI request ≤ 1/2 of php-fpm's" % (
                "minimal" if key == "fcgx_min" else "full poll", n),
                per_req * 2 <= x["fpm_us_req"], "%.0f µs vs %.0f µs per request" % (
                    per_req, x["fpm_us_req"])))
    w = R["wall"]
    if 1 in w and 100 in w:
        for key in ("fcgx_full", "fcgx_min"):
            a, b = median(w[1][key]), median(w[100][key])
            T.append(("read of 100 pools ≤ 3× one pool (%s)" % key.replace("fcgx_", ""),
                      b <= 3 * a, "%.2f ms vs %.2f ms: %.1f×" % (b * 1e3, a * 1e3, b / a)))
    for key in ("fcgx_full", "fcgx_min"):
        t = max(x for x, _ in R["hung"][key])
        T.append(("20 hung of 100: read ≤ Timeout + 50 ms (%s, slowest of %d)" % (
            key.replace("fcgx_", ""), len(R["hung"][key])), t <= 1.05,
            "%.0f ms" % (t * 1e3)))
    for key in ("fcgx_full", "fcgx_min"):
        t = median(R["remote"][key])
        T.append(("50 remote pools at +20 ms < 100 ms (%s)" % key.replace("fcgx_", ""),
                  t < 0.1, "%.0f ms" % (t * 1e3)))
    for kind in ("full", "min"):
        per = (mem[(kind, 1000)][0] - mem[(kind, 1)][0]) / 999
        T.append(("memory per configured pool < 16 KiB (%s; RSS, 1000 vs 1 pool)" % kind,
                  per < 16, "%.1f KiB (%d/1000 up)" % (per, mem[(kind, 1000)][2])))
    add("| target | verdict | measured |")
    add("|---|---|---|")
    for what, ok, num in T:
        add("| %s | %s | %s |" % (what, "**hold**" if ok else "**MISS**", num))
    return "\n".join(L)


if __name__ == "__main__":
    main()
