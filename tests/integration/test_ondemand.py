"""pm = ondemand pools (README: "Many pools on one host: `pm = ondemand` and shared hosting"),
with explicit <Pool> blocks (each finds its master in /proc, quietly: this test can run beside
others). From what collectd wrote (csv) and from /proc (workers of our php-fpm master, by their
process titles "php-fpm: pool NAME", sampled all along):

- a pool nobody visits falls asleep once the workers of the harness's readiness requests have
  exited, and the plugin never wakes it: no worker, fpm_up 1, processes 0, its kernel queue,
  and nothing else (no status counter, no worker figures);
- a pool whose visitors stop is left to rest: its workers exit although collectd keeps polling;
- a visitor wakes it again: its status figures come back within a couple of intervals;
- a pool with pm.status_listen is not woken either (neither its own workers nor those of the
  hidden "NAME_status" pool), and is asked every interval while it has visitors;
- a pm = dynamic pool beside them is asked every interval;
- a collectd with 48 descriptors polls 20 pools without running out of them.
"""
import os
import re
import sys
import threading
import time
import unittest

import harness

INTERVAL = 1
IDLE_TIMEOUT = 2  # pm.process_idle_timeout of the ondemand pools, s
MAX_CHILDREN = 3
SAMPLE_EVERY = 0.1  # s, /proc
TRAFFIC_PERIOD = 0.3  # s between a visitor's requests
TRAFFIC_FOR = 5.0  # s of visitors on "rest" before it is left alone
ASLEEP_FOR = 10.0  # s "never" is watched asleep
REST_STAYS = 5.0  # s "rest" is watched without workers
STATUS_ASLEEP_FOR = 8.0  # s "sl" is watched asleep
WAKE_FOR = 5.0  # s of visitors on "rest" and "sl" at the end
# A read's rows carry the time it started; its /proc walk and requests come within the read. A
# row is compared with what /proc showed from a second before that time to this long after it.
AROUND_BEFORE, AROUND_AFTER = 1.0, 1.5
# The three value lists of an asleep pool (README): nothing else.
ASLEEP_SET = {"fpm_up", "fpm_processes-total", "fpm_queue-kernel"}

ONDEMAND = {"pm": "ondemand", "max_children": MAX_CHILDREN,
            "extra": {"pm.process_idle_timeout": "%ds" % IDLE_TIMEOUT}}


def ident(pool, what):
    return "fcgx-%s/%s" % (pool, what)


class WorkerSampler:
    """Counts the workers of one php-fpm master by pool, from their process titles, every
    SAMPLE_EVERY s on a thread: samples is [(epoch, {pool: count})]. The hidden status pool of
    pm.status_listen titles its workers "php-fpm: pool NAME_status": counted as NAME_status.

    It also notes every other collectd with AutoDiscover on the host (own: the pids of ours): one
    polls every php-fpm master, this test's too, and its requests are visitors to our pools, which
    our collectd then no longer leaves to rest. ctest runs such tests alone (RUN_SERIAL), but not
    a benchmark or a test started by hand meanwhile: failure messages name them."""

    TITLE = re.compile(r"^php-fpm: pool (\S+)")

    def __init__(self, master_pid):
        self.master_pid = master_pid
        self.own = None  # set(): other collectds are looked for once ours is known
        self.foreign = {}  # pid: (epoch first seen, its configuration file)
        self.samples = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.sample()
        self.thread.start()
        return self

    def stop(self):
        self.done.set()
        self.thread.join(10)

    def _run(self):
        while not self.done.wait(SAMPLE_EVERY):
            self.sample()

    def count(self):
        counts = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid, "rb") as f:
                    stat = f.read()
                if stat.split(b" (", 1)[1].startswith(b"collectd)"):
                    self.note_collectd(int(pid))
                    continue
                if int(stat.rsplit(b")", 1)[1].split()[1]) != self.master_pid:
                    continue
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            m = self.TITLE.match(title)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts

    def note_collectd(self, pid):
        if self.own is None or pid in self.own or pid in self.foreign:
            return
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            return
        conf = argv[argv.index("-C") + 1] if "-C" in argv[:-1] else "/etc/collectd/collectd.conf"
        text = harness.read_text(conf)
        if not text or re.search(r"^\s*AutoDiscover\s+true", text, re.I | re.M):
            self.foreign[pid] = (time.time(), conf)

    def foreign_note(self):
        """"" or a line naming the other AutoDiscover collectds seen while sampling."""
        if not self.foreign:
            return ""
        return ("\nNOTE: another collectd with AutoDiscover (or an unreadable configuration) ran "
                "meanwhile and polls this test's php-fpm too, a visitor to its pools: %s" % (
                    ", ".join("pid %d (%s)" % (pid, conf)
                              for pid, (_, conf) in sorted(self.foreign.items()))))

    def settled_since(self, pools, t0, t1):
        """The first sample after the last one from t0 to t1 that saw a worker of any of pools
        (t0's own sample when none did); None when the last sample saw one."""
        with self.lock:
            window = [(t, sum(c.get(p, 0) for p in pools)) for t, c in self.samples
                      if t0 <= t <= t1]
        since = None
        for t, n in window:
            if n > 0:
                since = None
            elif since is None:
                since = t
        return since

    def sample(self):
        counts = self.count()
        with self.lock:
            self.samples.append((time.time(), counts))
        return counts

    def latest(self, pool):
        with self.lock:
            return self.samples[-1][1].get(pool, 0)

    def between(self, pool, t0, t1):
        """[(epoch, count)] of the samples from t0 to t1."""
        with self.lock:
            return [(t, c.get(pool, 0)) for t, c in self.samples if t0 <= t <= t1]

    def range_between(self, pool, t0, t1):
        counts = [c for _, c in self.between(pool, t0, t1)]
        return (min(counts), max(counts)) if counts else None

    def seen(self, pool, t0, t1, origin=0.0):
        """The samples from t0 to t1 that saw a worker of pool: [(s after origin, count)]."""
        return [(round(t - origin, 1), c) for t, c in self.between(pool, t0, t1) if c > 0]


class Traffic:
    """A visitor: hello.php on a pool every TRAFFIC_PERIOD s for `seconds`, on a thread."""

    def __init__(self, fpm, pool, seconds):
        self.fpm, self.pool, self.seconds = fpm, pool, seconds
        self.errors, self.sent = [], 0
        self.started = self.stopped = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.started = time.time()
        self.thread.start()
        return self

    def _run(self):
        end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < end:
                try:
                    self.fpm.request(self.pool)
                    self.sent += 1
                except Exception as exc:  # noqa: BLE001 - reported by the tests
                    self.errors.append(exc)
                time.sleep(TRAFFIC_PERIOD)  # pacing the visitor, not a synchronisation
        finally:
            self.stopped = time.time()

    def join(self):
        self.thread.join(self.seconds + 15)
        return not self.thread.is_alive()


@unittest.skipUnless(os.geteuid() == 0,
                     "an explicit pool's master is found through its /proc entries: root")
class OndemandPools(unittest.TestCase):
    """never: ondemand, no visitor; rest: ondemand, visitors for 5 s, none, then visitors again;
    sl: ondemand with pm.status_listen (StatusSocket), no visitor, then visitors; dyn: dynamic.

    setUpClass plays the whole timeline and records it (times, /proc samples); the tests read
    the record, so that a pool the plugin keeps awake fails its own test, not the setup."""

    @classmethod
    def wait(cls, predicate, timeout, what):
        """Seconds harness.wait_for took, or None when it timed out (the tests say so)."""
        t0 = time.time()
        try:
            harness.wait_for(lambda: cls.cd.check_alive() or predicate(), timeout,
                             interval=SAMPLE_EVERY, what=what)
        except TimeoutError:
            return None
        return time.time() - t0

    @classmethod
    def watch_until(cls, epoch):
        """Lets the sampler watch until epoch (a bounded sampling loop, collectd checked)."""
        harness.wait_for(lambda: cls.cd.check_alive() or time.time() >= epoch,
                         max(0.0, epoch - time.time()) + 5, interval=SAMPLE_EVERY,
                         what="the end of a watched period")

    @classmethod
    def setUpClass(cls):
        cls.fpm_started = time.time()
        cls.fpm = harness.start_fpm(cls, [
            dict(ONDEMAND, name="never"),
            dict(ONDEMAND, name="rest"),
            dict(ONDEMAND, name="sl", status_listen="unix"),
            {"name": "dyn", "pm": "dynamic", "max_children": 3, "start_servers": 1,
             "min_spare": 1, "max_spare": 2},
        ])
        cls.sampler = WorkerSampler(cls.fpm.proc.pid).start()
        cls.addClassCleanup(cls.sampler.stop)
        block = harness.plugin_block(
            harness.pool_block("never", cls.fpm.address("never")),
            harness.pool_block("rest", cls.fpm.address("rest")),
            harness.pool_block("sl", cls.fpm.address("sl"), cls.fpm.status_address("sl")),
            harness.pool_block("dyn", cls.fpm.address("dyn")))
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd_started = time.time()
        cls.sampler.own = {cls.cd.proc.pid}
        # 2: visitors on "rest" from the start.
        cls.rest_traffic = Traffic(cls.fpm, "rest", TRAFFIC_FOR).start()

        # 1: the readiness requests' worker of "never" exits (idle timeout + php-fpm's 1 s
        # tick, longer when the plugin's first reads meet it): from then on, asleep.
        cls.wait(lambda: cls.sampler.latest("never") == 0,
                 max(1.0, cls.cd_started + 20 - time.time()), "never's workers to exit")
        cls.never_asleep_at = cls.sampler.settled_since(["never"], cls.cd_started, time.time())

        # 2: the visitors stop; the workers go although collectd keeps polling.
        cls.rest_traffic.join()
        tr = cls.rest_traffic
        cls.wait(lambda: cls.sampler.latest("rest") == 0,
                 max(1.0, tr.stopped + 20 - time.time()), "rest's workers to exit")
        cls.rest_gone_at = cls.sampler.settled_since(["rest"], tr.stopped, time.time())
        cls.rest_gone_after = None if cls.rest_gone_at is None else cls.rest_gone_at - tr.stopped

        # 4: the readiness requests' workers of "sl" and of its hidden pool (whose idle timeout
        # is php-fpm's own 10 s) exit.
        cls.wait(lambda: cls.sampler.latest("sl") == 0 and cls.sampler.latest("sl_status") == 0,
                 max(1.0, cls.fpm_started + 25 - time.time()),
                 "sl's and sl_status's workers to exit")
        cls.sl_asleep_at = cls.sampler.settled_since(["sl", "sl_status"], cls.cd_started,
                                                     time.time())

        now = time.time()
        cls.watch_until(max((cls.never_asleep_at or now) + ASLEEP_FOR,
                            (cls.rest_gone_at or now) + REST_STAYS,
                            (cls.sl_asleep_at or now) + STATUS_ASLEEP_FOR))

        # 3 and 4: visitors again, on "rest" and "sl".
        cls.rest_accepted_before = len(cls.cd.csv_rows(ident("rest", "fpm_requests-accepted")))
        cls.wake_traffic = Traffic(cls.fpm, "rest", WAKE_FOR).start()
        cls.sl_traffic = Traffic(cls.fpm, "sl", WAKE_FOR).start()
        cls.woke_after = cls.wait(
            lambda: len(cls.cd.csv_rows(ident("rest", "fpm_requests-accepted")))
            > cls.rest_accepted_before, 2 * INTERVAL + 1.5, "rest's status figures again")
        cls.wake_traffic.join()
        cls.sl_traffic.join()
        # one more read after the visitors, then stop watching
        ref = ident("dyn", "fpm_up")
        cls.cd.settle(ref, len(cls.cd.csv_rows(ref)) + 1, 3 * INTERVAL + 2)
        cls.sampler.sample()
        cls.sampler.stop()
        cls.ended = time.time()
        fmt = lambda v: "(not seen)" if v is None else "%.1f s" % v  # noqa: E731
        since = lambda t: None if t is None else t - cls.cd_started  # noqa: E731
        sys.stderr.write(
            "\ntimeline: never asleep %s after collectd started; rest's workers gone %s after "
            "its visitors; sl and sl_status asleep %s after collectd started; rest woken %s "
            "after a visitor; %.1f s in all%s\n" % (
                fmt(since(cls.never_asleep_at)), fmt(cls.rest_gone_after),
                fmt(since(cls.sl_asleep_at)), fmt(cls.woke_after), cls.ended - cls.fpm_started,
                cls.sampler.foreign_note()))

    # -- helpers

    def rows(self, pool, what, t0=0.0, t1=float("inf")):
        return [(t, v) for t, v in self.cd.csv_rows(ident(pool, what)) if t0 <= t <= t1]

    def context(self, n=15):
        return "%s\ncollectd log:\n%s" % (self.sampler.foreign_note(),
                                           harness.log_tail(self.cd.log_text(), n))

    def rel(self, t):
        return round(t - self.cd_started, 1)

    def seen(self, pool, t0, t1):
        """Samples that saw a worker of pool from t0 to t1, s after collectd started."""
        return self.sampler.seen(pool, t0, t1, self.cd_started)

    def assert_every_interval(self, rows, what, t0, t1):
        self.assertGreaterEqual(len(rows), int((t1 - t0) / INTERVAL) - 1,
                                "%s: %d rows in %.1f s: %s%s" % (
                                    what, len(rows), t1 - t0,
                                    [self.rel(t) for t, _ in rows], self.context()))
        late = [g for g in harness.gaps(rows) if g > 1.5 * INTERVAL]
        self.assertEqual(late, [], "%s: gaps between rows (row times, s after collectd "
                         "started: %s)" % (what, [self.rel(t) for t, _ in rows]))

    def assert_asleep(self, pool, t0, t1):
        """collectd's rows of pool from t0 to t1 are those of an asleep pool."""
        kinds = self.cd.csv_type_instances(pool)
        got = {k: self.rows(pool, k, t0, t1) for k in kinds}
        extra = {k: len(r) for k, r in got.items() if r and k not in ASLEEP_SET}
        self.assertEqual(extra, {}, "%s asleep from %.1f to %.1f s: rows (count) beyond the three "
                         "value lists of an asleep pool%s" % (pool, self.rel(t0), self.rel(t1),
                                                              self.context()))
        expected = {"fpm_up": 1, "fpm_processes-total": 0, "fpm_queue-kernel": 0}
        for what, value in expected.items():
            rows = got.get(what, [])
            self.assertGreaterEqual(len(rows), int((t1 - t0) / INTERVAL) - 2,
                                    "%s %s: %d rows from %.1f to %.1f s%s" % (
                                        pool, what, len(rows), self.rel(t0), self.rel(t1),
                                        self.context()))
            self.assertEqual(sorted({v for _, v in rows}), [value], "%s %s" % (pool, what))

    # -- 1: never visited

    def test_1_never_visited_pool_sleeps(self):
        self.assertIsNotNone(self.never_asleep_at, "never kept workers for 20 s after collectd "
                             "started: /proc (s after collectd started, workers) %s%s" % (
                                 self.seen("never", 0, self.ended)[-5:], self.context()))
        woken = self.seen("never", self.never_asleep_at, self.ended)
        self.assertEqual(woken, [], "never had workers (s after collectd started, count) after "
                         "it fell asleep at %.1f s%s" % (self.rel(self.never_asleep_at),
                                                         self.sampler.foreign_note()))
        self.assertGreaterEqual(self.ended - self.never_asleep_at, ASLEEP_FOR)
        # a read that began just before the worker exited may still have seen it
        self.assert_asleep("never", self.never_asleep_at + INTERVAL, self.ended)

    # -- 2: left to rest

    def test_2_pool_with_visitors_reports_them(self):
        tr = self.rest_traffic
        self.assertEqual(tr.errors, [])
        self.assertGreaterEqual(tr.sent, int(TRAFFIC_FOR / TRAFFIC_PERIOD / 2))
        during = self.rows("rest", "fpm_requests-accepted", tr.started + INTERVAL, tr.stopped)
        self.assert_every_interval(during, "rest fpm_requests-accepted with visitors",
                                   tr.started + INTERVAL, tr.stopped)
        self.assertTrue(any(b[1] > a[1] for a, b in zip(during, during[1:])),
                        "accepted conn did not grow with visitors: %s" % during)

    def test_2_processes_total_is_the_workers(self):
        first, last = self.sampler.samples[0][0], self.sampler.samples[-1][0]
        wrong, compared = [], 0
        for t, v in self.rows("rest", "fpm_processes-total"):
            seen = self.sampler.range_between("rest", t - AROUND_BEFORE, t + AROUND_AFTER)
            if t - AROUND_BEFORE < first or t + AROUND_AFTER > last or seen is None:
                continue
            compared += 1
            if not seen[0] <= v <= seen[1]:
                wrong.append("at %.1f s: %g, /proc showed %d to %d" % (self.rel(t), v, *seen))
        self.assertGreaterEqual(compared, 8, "too few rows compared with /proc")
        self.assertEqual(wrong, [], "rest fpm_processes-total differs from /proc")

    def test_2_idle_pool_left_to_rest(self):
        tr = self.rest_traffic
        self.assertIsNotNone(self.rest_gone_after, "rest kept workers for 20 s after its "
                             "visitors stopped at %.1f s: /proc (s after collectd started, "
                             "workers) %s%s" % (
                                 self.rel(tr.stopped),
                                 self.seen("rest", tr.stopped, self.wake_traffic.started)[-5:],
                                 self.context()))
        # they stay gone while nobody visits, although collectd keeps polling
        back = self.seen("rest", self.rest_gone_at, self.wake_traffic.started)
        self.assertEqual(back, [], "rest had workers (s after collectd started, count) again "
                         "after they were gone at %.1f s%s" % (self.rel(self.rest_gone_at),
                                                              self.sampler.foreign_note()))
        self.assertGreaterEqual(self.wake_traffic.started - self.rest_gone_at, REST_STAYS)
        polled = self.rows("rest", "fpm_up", tr.stopped, self.wake_traffic.started)
        self.assert_every_interval(polled, "rest fpm_up after its visitors", tr.stopped,
                                   self.wake_traffic.started)
        self.assertEqual({v for _, v in polled}, {1.0})
        self.assert_asleep("rest", self.rest_gone_at + INTERVAL, self.wake_traffic.started)

    # -- 3: woken by a visitor

    def test_3_visitor_wakes_it(self):
        w = self.wake_traffic
        self.assertEqual(w.errors, [])
        self.assertIsNotNone(self.woke_after, "no fpm_requests-accepted of rest within %g s of "
                             "a visitor%s" % (2 * INTERVAL + 1.5, self.context()))
        accepted = self.rows("rest", "fpm_requests-accepted", w.started - INTERVAL)
        self.assertTrue(accepted)
        totals = self.rows("rest", "fpm_processes-total", accepted[0][0], accepted[0][0])
        self.assertEqual(len(totals), 1, "no fpm_processes-total with the first accepted row")
        self.assertGreater(totals[0][1], 0)
        # and while the visitor stays, every interval
        self.assert_every_interval(self.rows("rest", "fpm_requests-accepted", accepted[0][0],
                                             w.stopped),
                                   "rest fpm_requests-accepted after waking", accepted[0][0],
                                   w.stopped)

    # -- 4: pm.status_listen

    def test_4_status_listen_pool_not_woken(self):
        self.assertIsNotNone(self.sl_asleep_at, "sl or sl_status kept workers 25 s after "
                             "php-fpm started: /proc (s after collectd started, workers) sl %s, "
                             "sl_status %s%s" % (
                                 self.seen("sl", 0, self.sl_traffic.started)[-3:],
                                 self.seen("sl_status", 0, self.sl_traffic.started)[-3:],
                                 self.context()))
        end = self.sl_traffic.started
        self.assertGreaterEqual(end - self.sl_asleep_at, STATUS_ASLEEP_FOR)
        for pool in ("sl", "sl_status"):
            self.assertEqual(self.seen(pool, self.sl_asleep_at, end), [],
                             "%s had workers (s after collectd started, count) while sl slept "
                             "(from %.1f s)%s" % (pool, self.rel(self.sl_asleep_at),
                                                  self.sampler.foreign_note()))
        self.assert_asleep("sl", self.sl_asleep_at + INTERVAL, end)

    def test_4_status_listen_pool_with_visitors_every_interval(self):
        tr = self.sl_traffic
        self.assertEqual(tr.errors, [])
        t0 = tr.started + 2 * INTERVAL  # its first worker seen, the next read asks it
        rows = self.rows("sl", "fpm_requests-accepted", t0, tr.stopped)
        self.assert_every_interval(rows, "sl fpm_requests-accepted with visitors", t0,
                                   tr.stopped)

    # -- 5: not ondemand

    def test_5_dynamic_pool_asked_every_interval(self):
        t0 = self.cd_started + 2 * INTERVAL
        rows = self.rows("dyn", "fpm_requests-accepted", t0, self.ended)
        self.assert_every_interval(rows, "dyn fpm_requests-accepted", t0, self.ended)
        # nobody but the plugin visits it: the counter grows by its requests
        self.assertGreater(rows[-1][1], rows[0][1])


POOLS_UNDER_LIMIT = 20
NOFILE = 48


class LimitedCollectd(harness.Collectd):
    """A collectd started under prlimit: RLIMIT_NOFILE NOFILE, soft and hard."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrapper = ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"]


@unittest.skipUnless(os.geteuid() == 0,
                     "an explicit pool's master is found through its /proc entries: root")
class DescriptorBound(unittest.TestCase):
    """collectd under `prlimit --nofile=48:48` polling 20 static pools (pm static, max_children
    1). The plugin keeps at most half of RLIMIT_NOFILE open at once: half of 48 is 24
    descriptors = 6 pools at 4 each (a pool in flight holds up to three sockets, status, ping and
    script, and an O_PATH descriptor while connecting inside a container's root), so the pools
    wait their turn within each read; none may be reported down, nor collectd run out of
    descriptors."""

    READS = 4

    @classmethod
    def setUpClass(cls):
        cls.names = ["fd%02d" % i for i in range(POOLS_UNDER_LIMIT)]
        cls.fpm = harness.start_fpm(cls, [{"name": n, "max_children": 1} for n in cls.names])
        # The default Timeout (1000 ms) at Interval 1: pools that wait for a descriptor get what
        # is left of the read (90 % of the Interval).
        block = harness.plugin_block(*(harness.pool_block(n, cls.fpm.address(n))
                                       for n in cls.names))
        cls.cd = harness.start_collectd(cls, block, factory=LimitedCollectd, start_timeout=20,
                                        interval=INTERVAL)

        def enough():
            cls.cd.check_alive()
            return all(len(cls.cd.csv_rows(ident(n, "fpm_up"))) >= cls.READS
                       for n in cls.names)
        try:
            harness.wait_for(enough, cls.READS * INTERVAL + 15, interval=0.2,
                             what="%d reads of every pool" % cls.READS)
        except TimeoutError:
            pass  # the tests say which pools are missing

    def test_collectd_runs_with_48_descriptors(self):
        with open("/proc/%d/limits" % self.cd.proc.pid) as f:
            line = [ln for ln in f if ln.startswith("Max open files")][0]
        self.assertEqual(line.split()[3:5], [str(NOFILE), str(NOFILE)], line)

    def test_every_pool_up(self):
        got = {n: [v for _, v in self.cd.csv_rows(ident(n, "fpm_up"))] for n in self.names}
        few = {n: len(v) for n, v in got.items() if len(v) < self.READS}
        self.assertEqual(few, {}, "pools with fewer than %d fpm_up rows%s" % (
            self.READS, "\ncollectd log:\n" + harness.log_tail(self.cd.log_text(), 20)))
        down = {n: v.count(0) for n, v in got.items() if any(x != 1 for x in v)}
        self.assertEqual(down, {}, "pools with fpm_up other than 1 (rows)")

    def test_never_out_of_descriptors(self):
        lines = self.cd.log_lines(r"Too many open files|EMFILE")
        self.assertEqual(lines[:5], [], "%d lines" % len(lines))


if __name__ == "__main__":
    unittest.main()
