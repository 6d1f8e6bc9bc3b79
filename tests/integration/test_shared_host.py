"""Issue 13, a shared host in small: 300 pm = ondemand pools of one php-fpm master, one file each
under a pool.d/*.conf include, 30 of them with traffic (a request about every second keeps their
worker), the other 270 asleep (no worker). collectd runs as Debian's systemd unit starts it, with
RLIMIT_NOFILE 1024, and fcgx with AutoDiscover only. From what collectd wrote (csv) and from
/proc, sampled all along:

- every pool is reported within the first minute, with fpm_up 1, and never with fpm_up 0;
- the plugin never wakes a sleeping pool: no worker appears in any of them, and each reports
  fpm_processes-total 0 and its kernel queue, and no status counter (fpm_requests-accepted);
  any other process or worker count it sends is 0;
- a pool with traffic reports its real number of workers: fpm_processes-total within what /proc
  showed around that read (a worker may be forked or reaped between samples);
- collectd never runs out of descriptors ("Too many open files").

AutoDiscover polls every php-fpm master on the host: the test runs alone (RUN_SERIAL) and every
assertion is about its own pools, whose names carry a random suffix.
"""
import os
import time
import unittest
import uuid

import harness
import shared_host as sh
from test_discovery import install_default_script

POOLS = 300
INTERVAL = 2
IDLE_TIMEOUT = 10  # pm.process_idle_timeout, s
FIRST_MINUTE = 60
OBSERVED_READS = 6  # reads watched once every pool was reported
SAMPLE_EVERY = 0.2  # s, /proc
# A read's rows carry the time it started; its requests and its own /proc walk come within the
# read. The workers a row is compared with are those /proc showed from a second before that
# time to this long after it.
AROUND_BEFORE, AROUND_AFTER = 1.0, 1.5

NAMES = sh.pool_names("sh" + uuid.uuid4().hex[:5], POOLS)
AWAKE = sh.awake_names(NAMES)
ASLEEP = [name for name in NAMES if name not in set(AWAKE)]


def ident(pool, what):
    return "fcgx-%s/%s" % (pool, what)


@unittest.skipUnless(os.geteuid() == 0, "AutoDiscover reads php-fpm masters' /proc entries: root")
class SharedHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_default_script(cls)
        cls.fpm = sh.ManyPoolsFpm(NAMES, pm="ondemand", max_children=5,
                                  idle_timeout=IDLE_TIMEOUT)

        def stop_fpm():
            cls.fpm.stop()
            harness.remove_tmpdir(cls.fpm.dir)
        cls.addClassCleanup(stop_fpm)
        cls.fpm.start()
        cls.traffic = sh.Traffic(cls.fpm, AWAKE, period=1.0).start()
        cls.addClassCleanup(cls.traffic.stop)
        cls.traffic.wait_awake(30)
        cls.asleep_before = sh.pool_workers(set(ASLEEP))
        cls.sampler = sh.WorkerSampler(NAMES, period=SAMPLE_EVERY).start()
        cls.addClassCleanup(cls.sampler.stop)

        cls.started = time.time()
        cls.cd = harness.start_collectd(
            cls, "<Plugin fcgx>\n  AutoDiscover true\n</Plugin>", factory=sh.LimitedCollectd,
            start_timeout=30, nofile=1024, writer=True, interval=INTERVAL)
        cls.nofile = sh.nofile_limit(cls.cd.proc.pid)

        # Every pool reported (or the first minute over), then a few more reads.
        def all_reported():
            cls.cd.check_alive()
            return len(cls.cd.reported_pools().keys() & set(NAMES)) == POOLS
        try:
            harness.wait_for(all_reported, max(1, cls.started + FIRST_MINUTE - time.time()),
                             interval=0.5, what="every pool reported")
        except TimeoutError:
            pass  # the tests say which pools are missing
        reference = ident(AWAKE[0], "fpm_up")
        cls.cd.settle(reference, len(cls.cd.csv_rows(reference)) + OBSERVED_READS,
                      OBSERVED_READS * INTERVAL + 10)
        cls.cd.check_alive()
        cls.cd.stopped_rc = cls.cd.stop()
        cls.sampler.sample()  # one more, after the last read
        cls.sampler.stop()
        cls.traffic.stop()
        cls.reported = cls.cd.reported_pools()

    # -- helpers

    def values(self, pool, what):
        return [v for _, v in self.cd.csv_rows(ident(pool, what))]

    def context(self):
        """collectd's log without the line AutoDiscover writes for each pool it found."""
        lines = [ln for ln in self.cd.log_text().splitlines() if "AutoDiscover: pool " not in ln]
        return "\ncollectd log (AutoDiscover's pool lines left out):\n%s" % "\n".join(lines[-25:])

    # -- tests

    def test_a_collectd_runs_with_1024_descriptors(self):
        self.assertEqual(self.nofile, (1024, 1024))

    def test_b_every_pool_reported_within_the_first_minute_up(self):
        missing = [p for p in NAMES if p not in self.reported]
        self.assertEqual(missing, [], "%d of %d pools never reported, e.g. %s%s" % (
            len(missing), POOLS, missing[:5], self.context()))
        late = {p: round(t - self.started, 1) for p, (t, _) in self.reported.items()
                if p in set(NAMES) and t - self.started > FIRST_MINUTE}
        self.assertEqual(late, {}, "first reported after the first minute (s after start)")
        first_not_up = {p: vals[0] for p, (_, vals) in self.reported.items()
                        if p in set(NAMES) and vals[0] != 1}
        self.assertEqual(first_not_up, {}, "first fpm_up not 1" + self.context())

    def test_c_no_pool_ever_down(self):
        down = {p: vals.count(0) for p, (_, vals) in self.reported.items()
                if p in set(NAMES) and 0 in vals}
        self.assertEqual(down, {}, "pools with fpm_up 0 (rows)%s" % self.context())
        lines = [ln for ln in self.cd.log_lines(r'pool "[^"]+": down')
                 if any('pool "%s"' % p in ln for p in NAMES)]
        self.assertEqual(lines[:5], [], "%d down lines" % len(lines))

    def test_d_sleeping_pools_are_never_woken(self):
        self.assertEqual(self.asleep_before, {},
                         "the fixture itself left workers in sleeping pools")
        self.assertGreater(len(self.sampler.samples), 20, "too few /proc samples")
        woken = self.sampler.with_workers(ASLEEP)
        if woken:
            first = min(t for t, _ in woken.values())
            self.fail("%d of %d sleeping pools had a worker during the test, the first %.1f s "
                      "after collectd started (e.g. %s), %d workers at most together%s" % (
                          len(woken), len(ASLEEP), first - self.started, sorted(woken)[:5],
                          sum(k for _, k in woken.values()), self.context()))

    def test_e_sleeping_pools_report_no_process(self):
        """fpm_processes-total 0 every read and the kernel's queue; no status counter
        (fpm_requests-accepted is never dispatched for a pool that is never asked); and any
        other process or worker count it dispatches is 0 (the README lists what it sends)."""
        bad = {}
        for pool in ASLEEP:
            problems = []
            total = self.values(pool, "fpm_processes-total")
            if not total:
                problems.append("no fpm_processes-total")
            for what in ("fpm_processes-total", "fpm_processes-active", "fpm_processes-idle",
                         "fpm_workers-count"):
                got = self.values(pool, what)
                if any(v != 0 for v in got):
                    problems.append("%s %s" % (what, sorted(set(got))))
            if not self.values(pool, "fpm_queue-kernel"):
                problems.append("no fpm_queue-kernel")
            accepted = self.values(pool, "fpm_requests-accepted")
            if accepted:
                problems.append("fpm_requests-accepted dispatched %d time(s)" % len(accepted))
            if problems:
                bad[pool] = problems
        self.assertEqual(len(bad), 0, "%d of %d sleeping pools report something else, e.g. %s"
                         % (len(bad), len(ASLEEP), dict(list(bad.items())[:4])))

    def test_f_awake_pools_report_their_workers(self):
        last_sample = self.sampler.samples[-1][0]
        wrong, compared = [], 0
        for pool in AWAKE:
            for what in ("fpm_processes-total", "fpm_workers-count"):
                rows = self.cd.csv_rows(ident(pool, what))
                self.assertGreaterEqual(len(rows), OBSERVED_READS // 2,
                                        "%s: %d rows%s" % (ident(pool, what), len(rows),
                                                           self.context()))
                for t, v in rows:
                    if t + AROUND_AFTER > last_sample:
                        continue
                    seen = self.sampler.range_between(pool, t - AROUND_BEFORE, t + AROUND_AFTER)
                    if seen is None:
                        continue
                    compared += 1
                    if not seen[0] <= v <= seen[1]:
                        wrong.append("%s at %.1f s: %g, /proc showed %d to %d" % (
                            ident(pool, what), t - self.started, v, seen[0], seen[1]))
        self.assertGreaterEqual(compared, len(AWAKE) * 2, "too few rows compared with /proc")
        self.assertEqual(wrong[:8], [], "%d of %d rows differ from /proc" % (len(wrong),
                                                                           compared))

    def test_g_never_out_of_descriptors(self):
        lines = self.cd.log_lines(r"Too many open files|EMFILE")
        self.assertEqual(lines[:5], [], "%d lines" % len(lines))


if __name__ == "__main__":
    unittest.main()
