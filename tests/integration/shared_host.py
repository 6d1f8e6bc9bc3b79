"""A shared host, for test_shared_host.py and bench/shared_host.py (issue 13): one php-fpm master
with many pools, one file each under a pool.d/*.conf include as Debian lays them out, pm ondemand
(most pools asleep: no worker) or static; traffic that keeps some pools awake; what /proc says
about the pools' workers, sampled over time; a collectd started the way Debian's systemd unit
starts it (RLIMIT_NOFILE 1024), with or without a writer.

Python 3 standard library only; built on harness.py (clean-up, bounded waits).
"""
import os
import re
import signal
import socket
import threading
import time

import fcgi_client
import harness

POOL_TITLE = re.compile(rb"^php-fpm: pool (\S+)")
MASTER_TITLE = re.compile(rb"^php-fpm: master process \(([^)]*)\)")


# --------------------------------------------------------------------------------------------
# /proc

def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read(256).split(b"\0", 1)[0]
    except OSError:
        return b""


def pool_workers(names=None):
    """{pool: number of processes titled "php-fpm: pool POOL"} for the pools in names (a set; all
    pools when None), from one walk of /proc. Pools without a process are left out."""
    counts = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        m = POOL_TITLE.match(_cmdline(entry))
        if not m:
            continue
        name = m.group(1).decode("utf-8", "replace")
        if names is None or name in names:
            counts[name] = counts.get(name, 0) + 1
    return counts


def fpm_masters():
    """{pid: configuration path} of every php-fpm master on the host."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            m = MASTER_TITLE.match(_cmdline(entry))
            if m:
                out[int(entry)] = m.group(1).decode("utf-8", "replace")
    return out


def collectd_processes():
    """{pid: command line} of every collectd on the host."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % entry) as f:
                if f.read().strip() != "collectd":
                    continue
        except OSError:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                line = f.read(4096).replace(b"\0", b" ")
        except OSError:
            continue
        out[int(entry)] = line.decode("utf-8", "replace").strip()
    return out


def nofile_limit(pid):
    """(soft, hard) RLIMIT_NOFILE of a process, as /proc/PID/limits shows it."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise RuntimeError("no 'Max open files' in /proc/%d/limits" % pid)


def status_field(pid, field):
    """A number of /proc/PID/status in kB (VmRSS, VmHWM), or None once the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a whole process (every thread, exited ones included), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu_seconds(pid):
    """{tid: (name, CPU seconds)} of a process's live threads, from each one's schedstat
    (nanoseconds on a CPU: no clock-tick rounding)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[tid] = (name, ns / 1e9)
    return out


# --------------------------------------------------------------------------------------------
# php-fpm: many pools, one file each

def pool_names(prefix, n):
    return ["%s%04d" % (prefix, i) for i in range(n)]


def awake_names(names, every=10):
    """The pools given traffic: one in `every`, never the first (the one a plugin might pick to
    read its master's OPcache through)."""
    return [name for i, name in enumerate(names) if i % every == every // 2]


class ManyPoolsFpm(harness.PhpFpm):
    """One php-fpm master with one file per pool in pool.d/ (include = .../pool.d/*.conf), its
    descriptor limit (rlimit_files, and prlimit around it) high enough for every socket.

    pm "ondemand": pm.max_children max_children, pm.process_idle_timeout idle_timeout s; no pool
    is sent a request while starting (a ping would wake it). pm "static": static_children each;
    ready once every pool has them."""

    def __init__(self, names, pm="ondemand", max_children=5, idle_timeout=10, static_children=1,
                 ini=""):
        self.pm = pm
        self.idle_timeout = idle_timeout
        children = max_children if pm == "ondemand" else static_children
        super().__init__([{"name": n, "pm": pm, "max_children": children} for n in names],
                         ini=ini)
        self.pool_dir = os.path.join(self.dir, "pool.d")
        self.nofile = 2 * len(names) + 1024
        self.wrap = ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile), "--"]

    def _write_config(self):
        super()._write_config()  # php.ini (and a single-file configuration, replaced here)
        os.makedirs(self.pool_dir, mode=0o755, exist_ok=True)
        for p in self.pools.values():
            lines = ["[%s]" % p["name"], "user = nobody", "group = nogroup",
                     "listen = " + p["address"], "listen.mode = 0666",
                     "pm = " + p["pm"], "pm.max_children = %d" % p["max_children"]]
            if p["pm"] == "ondemand":
                lines.append("pm.process_idle_timeout = %ds" % self.idle_timeout)
            lines += ["pm.status_path = /status", "ping.path = /ping",
                      "security.limit_extensions = .php", ""]
            with open(os.path.join(self.pool_dir, p["name"] + ".conf"), "w") as f:
                f.write("\n".join(lines))
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "[global]", "pid = %s/php-fpm.pid" % self.run_dir, "error_log = /proc/self/fd/2",
                "log_level = notice", "daemonize = no", "rlimit_files = %d" % self.nofile,
                "include = %s/*.conf" % self.pool_dir, ""]))

    def start(self, timeout=None):
        return super().start(timeout or 30 + len(self.pools) / 50)

    def wait_ready(self, timeout=30):
        """The master says it is ready and every socket exists; static: every pool has its
        workers. Sends no request (an ondemand pool would fork a worker for it)."""
        def ready():
            if self.proc.poll() is not None:
                raise harness.FixtureDied("php-fpm exited with %s:\n%s" % (
                    self.proc.returncode, self.log_text()[-2000:]))
            if "ready to handle connections" not in self.log_text():
                return False
            if not all(os.path.exists(p["address"]) for p in self.pools.values()):
                return False
            if self.pm == "static":
                counts = pool_workers(set(self.pools))
                return all(counts.get(n, 0) >= p["max_children"] for n, p in self.pools.items())
            return True
        harness.wait_for(ready, timeout, interval=0.1,
                         what="php-fpm with %d pools to be ready" % len(self.pools))


# --------------------------------------------------------------------------------------------
# traffic and samples

class Traffic:
    """One thread sends hello.php to each pool of `pools` about every `period` s, spread over the
    period, one request at a time (never more than one in flight, each under `timeout`), so an
    ondemand pool keeps a worker and the traffic's own cost stays bounded."""

    def __init__(self, fpm, pools, period=1.0, timeout=2.0):
        self.fpm, self.pools, self.period, self.timeout = fpm, list(pools), period, timeout
        self.requests = 0
        self.errors = 0
        self.last_error = None
        self.served = {}  # pool: requests answered
        self.max_lag = 0.0  # how late a request started, at most
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _one(self, pool):
        out, _ = fcgi_client.get(self.fpm.address(pool), "/hello.php",
                                 script_filename=self.fpm.script("hello.php"),
                                 timeout=self.timeout)
        status, _, body = fcgi_client.split_response(out)
        if status != 200 or body != b"hello":
            raise RuntimeError("HTTP %d %r" % (status, body[:80]))

    def _run(self):
        n = len(self.pools)
        if n == 0:
            return
        step = self.period / n
        due = time.monotonic()
        while not self._stop.is_set():
            for pool in self.pools:
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                self.max_lag = max(self.max_lag, -wait)
                try:
                    self._one(pool)
                    self.served[pool] = self.served.get(pool, 0) + 1
                except (OSError, RuntimeError) as exc:
                    self.errors += 1
                    self.last_error = "%s: %s" % (pool, exc)
                self.requests += 1
                # Fall behind by at most one period: no burst to catch up.
                due = max(due + step, time.monotonic() - self.period)

    def wait_awake(self, timeout):
        """Until every pool answered once and has a worker in /proc."""
        names = set(self.pools)

        def awake():
            if len(self.served) < len(names):
                return False
            return len(pool_workers(names)) == len(names)
        harness.wait_for(awake, timeout, interval=0.2,
                         what="a worker in each of %d pools with traffic (%d served, last error "
                         "%s)" % (len(names), len(self.served), self.last_error))

    def stop(self):
        self._stop.set()
        self._thread.join(self.timeout + 2)


class WorkerSampler:
    """A thread that walks /proc every `period` s and keeps, per sample, how many workers each of
    `names` has (pools without one left out): [(time, {pool: count})]."""

    def __init__(self, names, period=0.5):
        self.names = set(names)
        self.period = period
        self.samples = []
        self.walk_time = 0.0  # longest walk, s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def sample(self):
        t0 = time.time()
        counts = pool_workers(self.names)
        t1 = time.time()
        self.walk_time = max(self.walk_time, t1 - t0)
        self.samples.append(((t0 + t1) / 2, counts))

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def with_workers(self, pools, after=0.0):
        """{pool: (first time, most workers)} of the pools in `pools` seen with a worker in a
        sample taken after `after`."""
        pools = set(pools)
        seen = {}
        for t, counts in list(self.samples):
            if t < after:
                continue
            for pool, k in counts.items():
                if pool in pools:
                    first, most = seen.get(pool, (t, 0))
                    seen[pool] = (first, max(most, k))
        return seen

    def range_between(self, pool, t0, t1):
        """(min, max) workers of pool over the samples taken in [t0, t1]; None without any."""
        values = [counts.get(pool, 0) for t, counts in list(self.samples) if t0 <= t <= t1]
        return (min(values), max(values)) if values else None


# --------------------------------------------------------------------------------------------
# collectd

class LimitedCollectd(harness.Collectd):
    """harness.Collectd started under `prlimit --nofile=SOFT:HARD` (Debian's systemd unit gives
    collectd 1024), with the csv writer or none (writer=False: logfile and unixsock only); its
    log lines carry their severity ("[time] [warning] ...")."""

    def __init__(self, fcgx_block, nofile=1024, writer=True, **kwargs):
        super().__init__(fcgx_block, **kwargs)
        self.writer = writer
        self.wrapper = ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--"]

    def config_text(self, *args, **kwargs):
        # Each log line says its severity: "[time] [warning] fcgx plugin: ..."
        text = super().config_text(*args, **kwargs).replace(
            "  Timestamp true\n", "  Timestamp true\n  PrintSeverity true\n", 1)
        if self.writer or "LoadPlugin csv" not in text:
            return text
        start = text.index("LoadPlugin csv")
        return text[:start] + text[text.index("</Plugin>", start) + len("</Plugin>\n"):]

    def getvals(self, idents, timeout=30):
        """{ident: value or None} of many "fcgx-POOL/TYPE-INSTANCE" identifiers, asked over one
        unixsock connection (one GETVAL each)."""
        out = {}
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            f = s.makefile("rb")
            for ident in idents:
                if time.monotonic() > deadline:
                    raise TimeoutError("GETVAL of %d identifiers took over %d s"
                                       % (len(idents), timeout))
                s.sendall(b'GETVAL "%s/%s"\n' % (harness.HOSTNAME.encode(), ident.encode()))
                first = f.readline().decode()
                if not first:
                    raise RuntimeError("unixsock closed during GETVAL %s" % ident)
                count = int(first.split(" ", 1)[0])
                lines = [f.readline().decode().strip() for _ in range(max(count, 0))]
                values = dict(line.split("=", 1) for line in lines if "=" in line)
                out[ident] = float(values["value"]) if "value" in values else None
        return out

    def reported_pools(self):
        """{pool: (earliest fpm_up csv row time, [values])} of every fcgx-POOL directory."""
        base = os.path.join(self.data_dir, harness.HOSTNAME)
        out = {}
        try:
            entries = os.listdir(base)
        except OSError:
            return out
        for entry in entries:
            if entry.startswith("fcgx-"):
                rows = self.csv_rows(entry + "/fpm_up")
                if rows:
                    out[entry[len("fcgx-"):]] = (rows[0][0], [v for _, v in rows])
        return out


def stop_all(*things):
    """Stops whatever of collectd, php-fpm, traffic and samplers is given, ignoring None; each
    stop bounded."""
    for thing in things:
        if thing is None:
            continue
        try:
            thing.stop()
        except Exception:  # noqa: BLE001 - clean-up goes on
            pass


def interrupt_safely():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in the main thread: the caller's finally blocks
    and harness's atexit clean up. SIGTERM and SIGHUP already kill every fixture (harness)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
