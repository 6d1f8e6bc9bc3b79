#!/usr/bin/env python3
"""Issue 13's shared host: N php-fpm pools on one machine, one file each under pool.d/*.conf,
10 % of them with traffic, collectd started as Debian's systemd unit starts it (RLIMIT_NOFILE
1024), fcgx with AutoDiscover only, Interval 5 s. For each N (100, 500, 2000) and pm (ondemand,
then static with one child per pool for comparison) it measures:

- collectd's CPU per pool poll (utime + stime of the whole process over a window of whole reads,
  no writer plugin), beside an identical collectd without fcgx started at the same time, and the
  difference of the two;
- collectd's resident memory, and (VmRSS - 8 MiB) / pools;
- each read's wall time and its reader thread's CPU and read syscalls (collectd's reader threads
  sampled in /proc every few ms: busy from when one leaves its futex wait until it is back), and
  from them a rescan's cost when reads differ in whether they rescanned;
- the pools the plugin woke: pools without traffic that had a "php-fpm: pool NAME" process at any
  sample (ondemand);
- false downs: fpm_up 0 in a second, short phase with the csv writer, and "down" log lines;
- whether every pool was reported within the first minute with fpm_up 1 (both phases).

Budget (issue 13): at most 75 us of collectd CPU per pool poll, at most 40 KiB of RSS per pool
above a fixed 8 MiB.

    bench/shared_host.py [--pools 100,500,2000] [--pm ondemand,static] [--quick]
                         [--reads 12] [--csv-reads 3] [--markdown FILE]
                         [--wait-quiet 120] [--force]

Needs root (AutoDiscover reads masters' /proc entries, php-fpm pools run as nobody), php-fpm8.2,
collectd, prlimit, and a built fcgx.so (FCGX_PLUGIN, else build/fcgx.so). AutoDiscover polls
every php-fpm master on the host: before each run it waits (up to --wait-quiet s) until no other
master runs; at the start it refuses when one still does (--force: run anyway), and the report
names any other master collectd found during a run, since its polls are then in the figures.
Not part of ./scripts/test. A full run takes about 9 minutes on 2 cores (--quick: about 4).
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
import harness  # noqa: E402
import shared_host as sh  # noqa: E402

INTERVAL = 5
IDLE_TIMEOUT = 10
RSS_FIXED_KIB = 8 * 1024
BUDGET_CPU_US = 75
BUDGET_RSS_KIB = 40
FIRST_MINUTE = 60
DEFAULT_SCRIPT = "/usr/share/collectd/fcgx/fcgx-status.php"


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def read_first(path, size=4096):
    try:
        with open(path, "rb") as f:
            return f.read(size).decode("ascii", "replace")
    except OSError:
        return None


def read_timer_loop(pid, period):
    """The read timer's own process (no GIL shared with the bench's threads): samples collectd's
    reader threads every `period` s and prints one JSON line per read. A reader is busy from
    when it leaves its futex wait (collectd's read queue) until it is back in it: that span is
    one read, with its wall time, the thread's CPU (schedstat), the process's read syscalls and
    the most descriptors collectd held during it; lag is the longest gap between samples so
    far."""
    def syscr_now():
        m = re.search(r"syscr: (\d+)", read_first("/proc/%d/io" % pid) or "")
        return int(m.group(1)) if m else 0

    def readers():
        out = []
        for tid in os.listdir("/proc/%d/task" % pid):
            comm = read_first("/proc/%d/task/%s/comm" % (pid, tid))
            if comm and comm.startswith("reader#"):
                out.append(tid)
        return out

    tids, refreshed = [], 0.0
    idle = {}  # tid: (time, cpu ns, syscr) at its last idle sample
    busy = {}  # tid: [start time, cpu ns, syscr, most fds]
    lag, last = 0.0, None
    while os.path.exists("/proc/%d" % pid):
        now = time.monotonic()
        if last is not None:
            lag = max(lag, now - last)
        last = now
        if now - refreshed > 1.0 and not busy:
            tids, refreshed = readers(), now
        syscr = None
        for tid in tids:
            base = "/proc/%d/task/%s/" % (pid, tid)
            wchan = read_first(base + "wchan", 64)
            stat = read_first(base + "schedstat", 128)
            if wchan is None or stat is None:
                continue
            cpu = int(stat.split()[0])
            t = time.time()
            if wchan.startswith("futex"):
                if tid in busy:
                    start, cpu0, sys0, fds = busy.pop(tid)
                    if syscr is None:
                        syscr = syscr_now()
                    print(json.dumps({"start": start, "end": t, "wall": t - start,
                                      "cpu": (cpu - cpu0) / 1e9, "syscr": syscr - sys0,
                                      "fds": fds, "lag": lag}), flush=True)
                if tid not in idle or now - idle[tid][0] > 0.05:
                    if syscr is None:
                        syscr = syscr_now()
                    idle[tid] = (now, cpu, syscr)
                else:
                    idle[tid] = (idle[tid][0], cpu, idle[tid][2])
            else:
                if tid not in busy:
                    _, cpu0, sys0 = idle.get(tid, (now, cpu, syscr_now()))
                    busy[tid] = [t - period / 2, cpu0, sys0, 0]
                try:
                    busy[tid][3] = max(busy[tid][3], len(os.listdir("/proc/%d/fd" % pid)))
                except OSError:
                    pass
        time.sleep(period)


class ReadTimer:
    """collectd's reads as read_timer_loop sees them, from a process of its own."""

    PERIOD = 0.004

    def __init__(self, pid, folder):
        self.pid = pid
        self.out = os.path.join(folder, "reads.jsonl")
        self.proc = None

    def start(self):
        self.proc = harness._spawn([sys.executable, os.path.abspath(__file__), "--read-timer",
                                    str(self.pid)], "read timer", self.out)
        return self

    def stop(self):
        if self.proc is not None:
            harness._stop(self.proc, signal.SIGTERM, 2)

    # A read may wait on a futex of its own (a short-lived helper thread's join): busy spans of
    # one read closer than this are joined, and the last span counts once this long has passed.
    JOIN_GAP = 1.0

    @property
    def reads(self):
        """Whole reads so far: spans joined, the last one only once no part of it can follow."""
        spans = []
        for line in harness.read_text(self.out).splitlines():
            try:
                spans.append(json.loads(line))
            except ValueError:
                continue  # a line being written, or a message
        out = []
        for span in spans:
            prev = out[-1] if out else None
            if prev is not None and span["start"] - prev["end"] < self.JOIN_GAP:
                prev.update(end=span["end"], wall=span["end"] - prev["start"],
                            cpu=prev["cpu"] + span["cpu"], syscr=prev["syscr"] + span["syscr"],
                            fds=max(prev["fds"], span["fds"]), lag=span["lag"],
                            parts=prev.get("parts", 1) + 1)
            else:
                out.append(dict(span))
        if out and time.time() - out[-1]["end"] < self.JOIN_GAP:
            out.pop()
        return out

    @property
    def lag(self):
        reads = self.reads
        return reads[-1]["lag"] if reads else None

    def ended(self):
        return len(self.reads)

    def wait_reads(self, count, timeout, alive):
        """Until `count` reads have ended; returns whether they did within timeout."""
        def done():
            alive()
            return self.ended() >= count
        try:
            harness.wait_for(done, timeout, interval=0.05, what="%d reads" % count)
            return True
        except TimeoutError:
            return False


def install_default_script():
    """The plugin's default OPcacheScript, which AutoDiscover runs in one pool per master;
    installed from src/ when missing. Returns a function that removes what it installed."""
    if os.path.exists(DEFAULT_SCRIPT):
        return lambda: None
    folder = os.path.dirname(DEFAULT_SCRIPT)
    made = not os.path.isdir(folder)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    shutil.copy(os.path.join(SOURCE, "src", "fcgx-status.php"), DEFAULT_SCRIPT)
    os.chmod(DEFAULT_SCRIPT, 0o444)

    def remove():
        try:
            os.unlink(DEFAULT_SCRIPT)
            if made:
                os.rmdir(folder)
        except OSError:
            pass
    return remove


def fmt(v, spec="%.0f", none="–"):
    return none if v is None else spec % v


def thread_split(before, after, total):
    """CPU over a window by kind of thread: collectd's readers (where fcgx's reads run), its
    writers (which take dispatched value lists through the cache even with no writer plugin),
    the rest of the live threads, and threads that came and went (total minus the live ones)."""
    split = {"readers": 0.0, "writers": 0.0, "other": 0.0}
    for tid, (name, cpu) in after.items():
        delta = cpu - before.get(tid, (name, 0.0))[1]
        kind = ("readers" if name.startswith("reader#") else
                "writers" if name.startswith("writer#") else "other")
        split[kind] += delta
    split["ended threads"] = max(0.0, total - sum(split.values()))  # total: ±1 clock tick
    return split


def median(values):
    return statistics.median(values) if values else None


def rescan_split(reads):
    """Reads that did many more read syscalls than the others (a rescan of /proc and the
    masters' configuration files) and those that did not: (rescanning, plain) or None when the
    reads do not fall in two such groups."""
    if len(reads) < 2:
        return None
    counts = sorted(r["syscr"] for r in reads)
    lo, hi = counts[0], counts[-1]
    if hi < 2 * lo + 200:
        return None
    cut = (lo + hi) / 2
    many = [r for r in reads if r["syscr"] >= cut]
    few = [r for r in reads if r["syscr"] < cut]
    return (many, few) if many and few else None


class Run:
    """One host: N pools of one pm, php-fpm, traffic, and the two collectd phases."""

    def __init__(self, args, n, pm, tag):
        self.args, self.n, self.pm = args, n, pm
        self.names = sh.pool_names("sh%s" % tag, n)
        self.awake = set(sh.awake_names(self.names))
        self.asleep = [p for p in self.names if p not in self.awake]
        self.r = {"pools": n, "pm": pm, "awake": len(self.awake), "notes": []}
        self.fpm = self.traffic = self.workers = None

    def note(self, text):
        self.r["notes"].append(text)
        log("  note: " + text)

    def block(self):
        return "<Plugin fcgx>\n  AutoDiscover true\n</Plugin>"

    def collectd(self, with_fcgx, writer):
        cd = sh.LimitedCollectd(self.block() if with_fcgx else None, nofile=1024, writer=writer,
                                interval=INTERVAL)
        cd.start(timeout=60)
        soft_hard = sh.nofile_limit(cd.proc.pid)
        if soft_hard != (1024, 1024):
            self.note("collectd's RLIMIT_NOFILE is %s, not 1024:1024" % (soft_hard,))
        return cd

    # -- the run

    def run(self):
        t0 = time.monotonic()
        log("%d pools, pm %s: starting php-fpm" % (self.n, self.pm))
        self.fpm = sh.ManyPoolsFpm(self.names, pm=self.pm, max_children=5,
                                   idle_timeout=IDLE_TIMEOUT, static_children=1)
        self.fpm.start()
        self.r["fpm_start"] = time.monotonic() - t0
        self.traffic = sh.Traffic(self.fpm, sorted(self.awake), period=1.0).start()
        self.traffic.wait_awake(30 + self.n / 50)
        if self.pm == "ondemand":
            already = sh.pool_workers(set(self.asleep))
            if already:
                self.note("%d pools without traffic had a worker before collectd started"
                          % len(already))
            self.workers = sh.WorkerSampler(self.asleep, period=1.0).start()
        try:
            self.phase_cpu()
            self.phase_csv()
        finally:
            sh.stop_all(self.workers, self.traffic)
            self.r["traffic"] = (self.traffic.requests, self.traffic.errors,
                                 self.traffic.last_error)
            if self.workers is not None:
                woken = self.workers.with_workers(self.asleep, after=self.r.get("cd_started", 0))
                self.r["woken"] = len(woken)
                self.r["woken_most"] = sum(k for _, k in woken.values())
                self.r["woken_example"] = sorted(woken)[:3]
                self.r["woken_first"] = (min(t for t, _ in woken.values())
                                         - self.r["cd_started"]) if woken else None
            self.fpm.stop()
            harness.remove_tmpdir(self.fpm.dir)
        self.r["duration"] = time.monotonic() - t0
        return self.r

    def alive_check(self, *cds):
        def check():
            for cd in cds:
                cd.check_alive()
            if self.fpm.proc.poll() is not None:
                raise harness.FixtureDied("php-fpm exited")
        return check

    def phase_cpu(self):
        """collectd with fcgx and without, side by side, no writer: CPU, RSS, read times."""
        a, r = self.args, self.r
        log("  phase 1: collectd with and without fcgx, no writer")
        r["cd_started"] = time.time()
        cd = base = timer = None
        try:
            cd = self.collectd(True, writer=False)
            base = self.collectd(False, writer=False)
            timer = ReadTimer(cd.proc.pid, cd.dir).start()
            alive = self.alive_check(cd, base)
            # Warm-up: every pool in collectd's cache (LISTVAL), or the first minute is over.
            first = {}
            deadline = r["cd_started"] + FIRST_MINUTE
            while True:
                alive()
                for ident, t in cd.listval().items():
                    if ident.endswith("/fpm_up") and ident.startswith("fcgx-"):
                        first.setdefault(ident[5:-7], t)
                if all(p in first for p in self.names) or time.time() > deadline:
                    break
                time.sleep(INTERVAL / 2)
            ours = [p for p in self.names if p in first]
            r["p1_reported"] = len(ours)
            r["p1_all_at"] = (max(first[p] for p in ours) - r["cd_started"]
                              if len(ours) == self.n else None)
            ups = cd.getvals(["fcgx-%s/fpm_up" % p for p in ours], timeout=60)
            r["p1_up1"] = sum(1 for v in ups.values() if v == 1)
            # The window: whole reads, from the end of one to the end of the K-th after it.
            aligned = timer.wait_reads(timer.ended() + 1, 2 * INTERVAL + 5, alive)
            k0 = timer.ended()
            c0, b0, w0 = sh.cpu_seconds(cd.proc.pid), sh.cpu_seconds(base.proc.pid), time.time()
            threads0 = sh.thread_cpu_seconds(cd.proc.pid)
            reads = None
            if aligned and timer.wait_reads(k0 + a.reads, a.reads * INTERVAL + 10, alive):
                reads = a.reads
            elif not aligned:  # reads too short to be seen: a window of the same length
                time.sleep(a.reads * INTERVAL)
            c1, b1, w1 = sh.cpu_seconds(cd.proc.pid), sh.cpu_seconds(base.proc.pid), time.time()
            r["cpu_by_thread"] = thread_split(threads0, sh.thread_cpu_seconds(cd.proc.pid),
                                              c1 - c0)
            if reads is None:
                reads = (w1 - w0) / INTERVAL
                self.note("the reader threads' sampling saw %d read(s) in %.0f s: reads counted "
                          "as elapsed / Interval" % (timer.ended() - k0, w1 - w0))
            r["reads"] = reads
            r["window"] = w1 - w0
            r["cpu_fcgx"], r["cpu_base"] = c1 - c0, b1 - b0
            r["us_gross"] = (c1 - c0) / (self.n * reads) * 1e6
            r["us_net"] = ((c1 - c0) - (b1 - b0)) / (self.n * reads) * 1e6
            r["rss"] = sh.status_field(cd.proc.pid, "VmRSS")
            r["hwm"] = sh.status_field(cd.proc.pid, "VmHWM")
            r["rss_base"] = sh.status_field(base.proc.pid, "VmRSS")
            r["kib_per_pool"] = (r["rss"] - RSS_FIXED_KIB) / self.n
            all_reads = timer.reads
            window_reads = all_reads[k0:k0 + a.reads]
            r["read_walls"] = [x["wall"] for x in window_reads]
            r["read_cpus"] = [x["cpu"] for x in window_reads]
            r["read_fds"] = max([x["fds"] for x in all_reads], default=None)
            r["timer_lag"] = all_reads[-1]["lag"] if all_reads else None
            split = rescan_split(window_reads)
            if split:
                many, few = split
                r["rescan"] = (len(many), len(few),
                               statistics.mean(x["cpu"] for x in many)
                               - statistics.mean(x["cpu"] for x in few),
                               statistics.mean(x["syscr"] for x in many),
                               statistics.mean(x["syscr"] for x in few))
            r["read_syscr"] = [x["syscr"] for x in window_reads]
            r["read_parts"] = max([x.get("parts", 1) for x in window_reads], default=1)
            self.count_values(cd)
            self.scan_log(cd, "p1")
        finally:
            sh.stop_all(timer)
            for c in (cd, base):
                if c is not None:
                    c.stop()
            self.p1_log = cd.log_text() if cd else ""
            for c in (cd, base):
                if c is not None:
                    harness.remove_tmpdir(c.dir)

    def phase_csv(self):
        """collectd with fcgx and the csv writer: values as written."""
        a, r = self.args, self.r
        log("  phase 2: collectd with fcgx and csv")
        started = time.time()
        cd = timer = None
        try:
            cd = self.collectd(True, writer=True)
            timer = ReadTimer(cd.proc.pid, cd.dir).start()
            alive = self.alive_check(cd)
            deadline = started + FIRST_MINUTE
            while True:
                alive()
                seen = cd.reported_pools()
                if all(p in seen for p in self.names) or time.time() > deadline:
                    break
                time.sleep(INTERVAL / 2)
            timer.wait_reads(timer.ended() + a.csv_reads, a.csv_reads * INTERVAL + 30, alive)
            time.sleep(1)  # the csv writer's queue
            seen = cd.reported_pools()
            ours = {p: v for p, v in seen.items() if p in set(self.names)}
            r["p2_reported"] = len(ours)
            r["p2_first_minute_up"] = sum(1 for t, vals in ours.values()
                                          if t - started <= FIRST_MINUTE and vals[0] == 1)
            r["p2_all_at"] = (max(t for t, _ in ours.values()) - started
                              if len(ours) == self.n else None)
            r["p2_rows"] = sum(len(vals) for _, vals in ours.values())
            r["false_down_pools"] = sorted(p for p, (_, vals) in ours.items() if 0 in vals)
            r["p2_read_walls"] = [x["wall"] for x in timer.reads[1:]]
            if self.pm == "ondemand":
                totals, accepted, missing = [], 0, 0
                for p in self.asleep:
                    rows = cd.csv_rows("fcgx-%s/fpm_processes-total" % p)
                    if not rows:
                        missing += 1
                    totals += [v for _, v in rows]
                    if cd.csv_files("fcgx-%s/fpm_requests-accepted" % p):
                        accepted += 1
                r["asleep_total_nonzero"] = sum(1 for v in totals if v != 0)
                r["asleep_total_missing"] = missing
                r["asleep_with_accepted"] = accepted
            self.scan_log(cd, "p2")
        finally:
            sh.stop_all(timer)
            if cd is not None:
                cd.stop()
                self.p2_log = cd.log_text()
                harness.remove_tmpdir(cd.dir)

    def count_values(self, cd):
        """Value lists collectd holds per pool (LISTVAL), and plugin instances that are neither
        these pools nor their master's OPcache: pools of another master on the host."""
        per_instance = {}
        for ident in cd.listval():
            instance = ident.split("/", 1)[0]
            if instance.startswith("fcgx-"):
                per_instance[instance[5:]] = per_instance.get(instance[5:], 0) + 1
        ours = set(self.names)
        mine = os.path.basename(self.fpm.dir)
        foreign = sorted(i for i in per_instance if i not in ours and mine not in i)
        if foreign:
            self.r["foreign_instances"] = foreign
        for key, pools in (("values_asleep", self.asleep if self.pm == "ondemand" else []),
                           ("values_awake", sorted(self.awake))):
            if pools:
                self.r[key] = statistics.mean(per_instance.get(p, 0) for p in pools)

    def scan_log(self, cd, phase):
        ours = set(self.names)
        text = cd.log_text()
        foreign = sorted({m.group(1) for m in re.finditer(
            r"AutoDiscover: master \d+ \(([^)]*)\)", text) if m.group(1) != self.fpm.conf})
        if foreign:
            self.r.setdefault("foreign_masters", set()).update(foreign)
        downs = [ln for ln in text.splitlines() if re.search(r'pool "([^"]+)": down', ln)
                 and re.search(r'pool "([^"]+)": down', ln).group(1) in ours]
        self.r[phase + "_down_lines"] = len(downs)
        self.r[phase + "_down_example"] = downs[0] if downs else None
        self.r[phase + "_emfile"] = sum(1 for ln in text.splitlines()
                                        if "Too many open files" in ln)
        errors = [ln for ln in text.splitlines()
                  if (re.search(r"\] \[(?:error|warning)\] ", ln)
                      and "No write callback has been registered" not in ln)
                  or re.search(r"fcgx plugin: .*(?:cannot|more than|not polled|refus)", ln)]
        self.r[phase + "_errors"] = errors[:5]
        self.r[phase + "_error_count"] = len(errors)
        self.r[phase + "_fcgx_lines"] = sum(1 for ln in text.splitlines() if "fcgx plugin" in ln)


def report(runs, args, env):
    out = []
    w = out.append
    w("# fcgx on a shared host (issue 13)")
    w("")
    w("%s, %d cores, %s; %s; php-fpm %s; collectd %s; plugin %s%s" % (
        platform.node(), os.cpu_count(), platform.release(), time.strftime("%F %T %Z"),
        env["php"], env["collectd"], env["plugin"], env["commit"]))
    w("")
    w("One php-fpm master, one file per pool under `pool.d/*.conf`, unix sockets; ondemand: "
      "pm.max_children 5, pm.process_idle_timeout %ds; static: 1 child per pool. 10 %% of the "
      "pools get one hello.php request about every second (one client thread). collectd: "
      "`prlimit --nofile=1024:1024 collectd -f`, `<Plugin fcgx> AutoDiscover true </Plugin>`, "
      "Interval %d, logfile and unixsock; phase 1 has no writer (CPU, memory, read times: a "
      "window of %d whole reads, beside an identical collectd without fcgx), phase 2 adds csv "
      "(values as written, %d reads after every pool was reported)." % (
          IDLE_TIMEOUT, INTERVAL, args.reads, args.csv_reads))
    if env["warnings"]:
        w("")
        for warning in env["warnings"]:
            w("**Warning:** %s" % warning)
    w("")
    w("## Budget: CPU and memory (phase 1, no writer)")
    w("")
    w("| pools | pm | reads | collectd CPU (s) | without fcgx (s) | µs per pool poll | gross µs "
      "| ≤ %d µs | RSS (KiB) | without fcgx | (RSS − 8 MiB)/pool | ≤ %d KiB | value lists per "
      "pool, sleeping / with traffic |" % (BUDGET_CPU_US, BUDGET_RSS_KIB))
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        if "us_net" not in r:
            w("| %d | %s | failed: %s ||||||||||" % (r["pools"], r["pm"], r.get("error", "?")))
            continue
        partial = r.get("p1_reported", 0) < r["pools"]
        verdict_cpu = "yes" if r["us_net"] <= BUDGET_CPU_US else "**no**"
        verdict_rss = "yes" if r["kib_per_pool"] <= BUDGET_RSS_KIB else "**no**"
        if partial:  # the plugin polled fewer pools: the figures say nothing of the budget
            verdict_cpu = verdict_rss = "n/a: %d of %d pools reported" % (
                r.get("p1_reported", 0), r["pools"])
        elif r.get("foreign_masters") or r.get("foreign_instances"):
            verdict_cpu += " (other masters polled too: see notes)"
            verdict_rss += " (idem)"
        w("| %d | %s | %s | %.2f | %.2f | **%.0f** | %.0f | %s | %d | %d | **%.1f KiB** | %s "
          "| %s / %s |" % (
              r["pools"], r["pm"], fmt(r["reads"], "%.4g"), r["cpu_fcgx"], r["cpu_base"],
              r["us_net"], r["us_gross"], verdict_cpu, r["rss"], r["rss_base"],
              r["kib_per_pool"], verdict_rss, fmt(r.get("values_asleep"), "%.1f"),
              fmt(r.get("values_awake"), "%.1f")))
    w("")
    w("CPU: utime + stime of the whole collectd process (/proc/PID/stat, every thread), from "
      "the end of one read to the end of the %d-th after it; µs per pool poll = (with − without "
      "fcgx) / (pools × reads); gross: without the subtraction. The clock tick is 10 ms: with "
      "100 pools the figure is good to about ±%.0f µs. RSS: VmRSS at the end of the window; "
      "collectd's value cache holds every value list, so it grows with the value lists per pool "
      "(LISTVAL)." % (args.reads, 0.01 / (100 * args.reads) * 1e6))
    w("")
    w("## Reads")
    w("")
    w("| pools | pm | read wall, median / max (ms) | with csv (ms) | reader CPU per read, "
      "median (ms) | collectd CPU by thread: readers / writers / other / ended (%) "
      "| read syscalls per read | rescan | most fds during a read |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        if "us_net" not in r:
            continue
        walls = r.get("read_walls") or []
        rescan = r.get("rescan")
        if rescan:
            rescan_text = ("%d of %d reads rescanned: +%.1f ms CPU, %.0f vs %.0f syscalls" % (
                rescan[0], rescan[0] + rescan[1], rescan[2] * 1e3, rescan[3], rescan[4]))
        else:
            rescan_text = "not separable (every read alike)"
        syscr = r.get("read_syscr") or []
        p2 = r.get("p2_read_walls") or []
        split = r.get("cpu_by_thread")
        total = sum(split.values()) if split else 0
        split_text = " / ".join("%.0f" % (100 * split[k] / total) for k in (
            "readers", "writers", "other", "ended threads")) if total else "–"
        w("| %d | %s | %s / %s | %s | %s | %s | %s | %s | %s |" % (
            r["pools"], r["pm"], fmt(median(walls) * 1e3 if walls else None, "%.1f"),
            fmt(max(walls) * 1e3 if walls else None, "%.1f"),
            fmt(median(p2) * 1e3 if p2 else None, "%.1f"),
            fmt(median(r.get("read_cpus") or []) * 1e3 if r.get("read_cpus") else None, "%.1f"),
            split_text,
            "%d–%d" % (min(syscr), max(syscr)) if syscr else "–", rescan_text,
            fmt(r.get("read_fds"), "%d")))
    w("")
    w("Read wall time: collectd's reader threads sampled every 4 ms in /proc (wchan, schedstat): "
      "a read runs from when a reader leaves its futex wait until it is back (±%.0f ms: the "
      "sampler's longest gap). The plugin logs no read time. Medians in ms. CPU by thread: "
      "over the CPU window, from each thread's schedstat; collectd's writer threads take every "
      "dispatched value list through its cache even with no writer plugin; ended: threads "
      "that came and went within the window." % (
          max([r.get("timer_lag") or 0 for r in runs] + [0.004]) * 1e3))
    w("")
    w("## Behaviour")
    w("")
    w("| pools | pm | reported in the 1st minute with fpm_up 1 (phase 1 / csv) | all reported "
      "after (s) | sleeping pools woken | false downs (csv pools with fpm_up 0 / down lines) "
      "| \"Too many open files\" | sleeping pools: fpm_processes-total ≠ 0 rows / "
      "fpm_requests-accepted written |")
    w("|---|---|---|---|---|---|---|---|")
    for r in runs:
        if "us_net" not in r:
            continue
        woken = "n/a (static)" if r["pm"] == "static" else (
            "%d of %d%s" % (r.get("woken", 0), r["pools"] - r["awake"],
                            (" (first %.0f s after start)" % r["woken_first"])
                            if r.get("woken_first") is not None else ""))
        w("| %d | %s | %d / %s of %d | %s / %s | %s | %s / %d+%d | %d+%d | %s |" % (
            r["pools"], r["pm"], r.get("p1_up1", 0),
            fmt(r.get("p2_first_minute_up"), "%d"), r["pools"],
            fmt(r.get("p1_all_at"), "%.1f", "not all"), fmt(r.get("p2_all_at"), "%.1f", "not all"),
            woken, len(r.get("false_down_pools", [])), r.get("p1_down_lines", 0),
            r.get("p2_down_lines", 0), r.get("p1_emfile", 0), r.get("p2_emfile", 0),
            "n/a" if r["pm"] == "static" else "%s / %s%s" % (
                fmt(r.get("asleep_total_nonzero"), "%d"), fmt(r.get("asleep_with_accepted"), "%d"),
                " (%d never reported it)" % r["asleep_total_missing"]
                if r.get("asleep_total_missing") else "")))
    w("")
    w("Woken: pools without traffic seen with a `php-fpm: pool NAME` process in /proc (sampled "
      "every second from collectd's start to the end of phase 2). Phase 1's reporting time is "
      "when LISTVAL (asked every %.1f s) first listed the pool; phase 2's is the csv row's." % (
          INTERVAL / 2))
    w("")
    details = []
    for r in runs:
        lines = []
        if r.get("error"):
            lines.append("failed: %s" % r["error"])
        for n in r.get("notes", []):
            lines.append(n)
        if r.get("woken"):
            lines.append("woken pools, e.g. %s (%d workers at most, all woken pools together)"
                         % (", ".join(r["woken_example"]), r["woken_most"]))
        if r.get("foreign_masters") or r.get("foreign_instances"):
            lines.append("collectd also found other php-fpm masters (%s) and reported %d plugin "
                         "instance(s) not of this host's pools (e.g. %s): their polls are in "
                         "the CPU and memory figures" % (
                             ", ".join(sorted(r.get("foreign_masters", ())))[:300] or "?",
                             len(r.get("foreign_instances", [])),
                             ", ".join(r.get("foreign_instances", [])[:3]) or "–"))
        if r.get("read_parts", 1) > 1:
            lines.append("a read showed as up to %d busy spans of its reader thread, joined as "
                         "one read: it waited on a futex in between (collectd's write queue "
                         "while a writer thread held it, or a helper thread)" % r["read_parts"])
        if r.get("false_down_pools"):
            lines.append("fpm_up 0 written for %s" % ", ".join(r["false_down_pools"][:5]))
        for phase in ("p1", "p2"):
            if r.get(phase + "_down_example"):
                lines.append("%s down line: `%s`" % (phase, r[phase + "_down_example"]))
            if r.get(phase + "_error_count"):
                lines.append("%s: %d warning/error line(s) in collectd's log, e.g.:" % (
                    phase, r[phase + "_error_count"]))
                lines += ["  `%s`" % ln[:300] for ln in r[phase + "_errors"][:3]]
        tr = r.get("traffic")
        if tr and tr[1]:
            lines.append("traffic: %d requests, %d failed (last: %s)" % tr)
        if lines:
            details.append("- %d pools, %s:" % (r["pools"], r["pm"]))
            details += ["  - " + ln for ln in lines]
    if details:
        w("## Notes")
        w("")
        out += details
        w("")
    return "\n".join(out) + "\n"


def environment(args):
    env = {"warnings": []}
    try:
        env["php"] = subprocess.run([harness.PHP_FPM, "-v"], capture_output=True, text=True,
                                    timeout=10).stdout.split()[1]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        env["php"] = "?"
    try:
        out = subprocess.run([harness.COLLECTD, "-h"], capture_output=True, text=True,
                             timeout=10).stdout
        m = re.search(r"collectd (\d\S*)", out)
        env["collectd"] = m.group(1).rstrip(",") if m else "?"
    except (OSError, subprocess.TimeoutExpired):
        env["collectd"] = "?"
    env["plugin"] = harness.plugin_path()
    try:
        commit = subprocess.run(["git", "-C", SOURCE, "log", "-1", "--format=%h %cI"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", SOURCE, "status", "--porcelain", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        env["commit"] = " (working tree at %s%s)" % (commit, ", src/ modified" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        env["commit"] = ""
    return env


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--read-timer":
        read_timer_loop(int(sys.argv[2]), ReadTimer.PERIOD)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", default=None, help="comma-separated sizes (default 100,500,2000; "
                    "--quick: 100,500)")
    ap.add_argument("--pm", default="ondemand,static", help="ondemand, static or both")
    ap.add_argument("--quick", action="store_true", help="smaller and shorter: about 4 minutes")
    ap.add_argument("--reads", type=int, default=None, help="reads in the CPU window (12; --quick 3)")
    ap.add_argument("--csv-reads", type=int, default=None, help="reads of the csv phase (3; --quick 2)")
    ap.add_argument("--markdown", help="also write the report to this file")
    ap.add_argument("--force", action="store_true",
                    help="run even while another php-fpm master runs on this host")
    ap.add_argument("--wait-quiet", type=float, default=120,
                    help="before each run, wait up to this many seconds for other php-fpm "
                    "masters to stop (then run anyway, with a warning)")
    args = ap.parse_args()
    sizes = [int(x) for x in (args.pools or ("100,500" if args.quick else "100,500,2000"))
             .split(",") if x]
    pms = [x for x in args.pm.split(",") if x]
    if any(p not in ("ondemand", "static") for p in pms):
        ap.error("--pm: ondemand and/or static")
    args.reads = args.reads or (3 if args.quick else 12)
    args.csv_reads = args.csv_reads or (2 if args.quick else 3)
    if os.geteuid() != 0:
        sys.exit("bench/shared_host.py: run as root (AutoDiscover, php-fpm pools as nobody)")
    for tool in (harness.PHP_FPM, harness.COLLECTD, "prlimit"):
        if not shutil.which(tool):
            sys.exit("bench/shared_host.py: %s not found" % tool)
    if not os.environ.get("FCGX_PLUGIN"):
        os.environ["FCGX_PLUGIN"] = os.path.join(SOURCE, "build", "fcgx.so")
    if not os.path.exists(os.environ["FCGX_PLUGIN"]):
        sys.exit("bench/shared_host.py: no %s: build it (cmake --build build) or set "
                 "FCGX_PLUGIN" % os.environ["FCGX_PLUGIN"])
    os.environ.setdefault("FCGX_TYPES_DB", os.path.join(SOURCE, "types.db.fcgx"))
    sh.interrupt_safely()

    env = environment(args)
    try:
        harness.wait_for(lambda: not sh.fpm_masters(), args.wait_quiet, interval=2,
                         what="other php-fpm masters to stop")
    except TimeoutError:
        others = sh.fpm_masters()
        text = ("%d other php-fpm master(s) run on this host (%s): AutoDiscover polls them too"
                % (len(others), ", ".join("%d %s" % kv for kv in sorted(others.items())[:3])))
        if not args.force:
            sys.exit("bench/shared_host.py: %s; stop them or use --force" % text)
        env["warnings"].append(text)
    cds = sh.collectd_processes()
    if cds:
        env["warnings"].append("%d other collectd process(es) run on this host: one with "
                               "AutoDiscover would poll (and may wake) these pools too" % len(cds))
        log("warning: " + env["warnings"][-1])

    def quiet():
        """Waits (bounded) until no other php-fpm master runs: it would be polled too."""
        try:
            harness.wait_for(lambda: not sh.fpm_masters(), args.wait_quiet, interval=2,
                             what="other php-fpm masters to stop")
        except TimeoutError:
            text = "other php-fpm masters ran when a run started: %s" % (
                ", ".join(sorted(sh.fpm_masters().values()))[:300])
            env["warnings"].append(text)
            log("warning: " + text)

    remove_script = install_default_script()
    runs = []
    tag = uuid.uuid4().hex[:4]
    started = time.monotonic()
    try:
        for i, n in enumerate(sizes):
            for pm in pms:
                quiet()
                cds = sh.collectd_processes()
                if cds:
                    env["warnings"].append("%d other collectd process(es) ran when the run of %d "
                                           "pools, %s started" % (len(cds), n, pm))
                run = Run(args, n, pm, "%s%d%s" % (tag, i, pm[0]))
                try:
                    runs.append(run.run())
                except (harness.FixtureDied, TimeoutError, RuntimeError, OSError) as exc:
                    run.r["error"] = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
                    log("  failed: %s" % run.r["error"])
                    runs.append(run.r)
                    sh.stop_all(run.workers, run.traffic, run.fpm)
                log("  done in %.0f s" % run.r.get("duration", 0))
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        harness._cleanup_all()
        remove_script()
        sys.exit(130)
    finally:
        remove_script()
    text = report(runs, args, env)
    text += "\nTotal time: %.0f s.\n" % (time.monotonic() - started)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
