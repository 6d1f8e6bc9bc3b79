"""A real php-fpm (static pools of 3 on a unix socket and on TCP) polled by a real collectd with
fcgx: what collectd holds equals what php-fpm itself reports (read with fcgi_client.py)."""
import time
import unittest

import harness

INTERVAL = 1

POOL_METRICS = {
    "fpm_up",
    "fpm_processes-active", "fpm_processes-idle", "fpm_processes-total",
    "fpm_processes-max_active",
    "fpm_requests-accepted", "fpm_requests-slow",
    "fpm_events-max_children_reached",
    "fpm_queue-current", "fpm_queue-max", "fpm_queue-length",
    "fpm_queue-kernel", "fpm_queue-kernel_max",  # the pools listen on this host
    # their master runs here: its workers from /proc, and pm.max_children from its config
    "fpm_workers-count", "fpm_workers_cpu", "fpm_workers_memory-rss",
    "fpm_processes-limit", "fpm_utilization-active",
    "uptime",
    "fpm_response_time-status",
}
PING_METRICS = {"fpm_response_time-ping"}
DETAIL_METRICS = {
    "fpm_processes-state_idle", "fpm_processes-state_running",
    "fpm_processes-state_reading_headers", "fpm_processes-state_info",
    "fpm_processes-state_finishing", "fpm_processes-state_ending",
    "fpm_request_duration-avg", "fpm_request_duration-max", "fpm_request_duration-running_max",
    "fpm_request_cpu-avg", "fpm_request_cpu-max",
    "fpm_request_memory-avg", "fpm_request_memory-max",
}
STATES = ["idle", "running", "reading_headers", "info", "finishing", "ending"]


def latest(cd, ident):
    rows = cd.csv_rows(ident)
    return rows[-1] if rows else None


class StaticPools(unittest.TestCase):
    """www: unix socket; tcp: 127.0.0.1:PORT; lite: unix, ProcessDetails false, ping off."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [
            {"name": "www"},
            {"name": "tcp", "listen": "tcp"},
            {"name": "lite", "max_children": 2},
        ])
        block = harness.plugin_block(
            harness.pool_block("www", cls.fpm.address("www"), ProcessDetails=True),
            harness.pool_block("tcp", cls.fpm.address("tcp"), ProcessDetails=True),
            harness.pool_block("lite", cls.fpm.address("lite"), ProcessDetails=False,
                               PingPath="", KernelQueue=False, Workers=False, MaxChildren=2),
            timeout=800)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        for pool in ("www", "tcp", "lite"):
            cls.cd.wait_value("fcgx-%s/fpm_processes-total" % pool, timeout=10)
        # Two reads, so that every per-read value has been dispatched at least twice.
        cls.cd.wait_rows("fcgx-www/fpm_up", 2, 6)

    def fpm_view(self, pool):
        """php-fpm's own status, as read by our independent client through the pool's socket."""
        return self.fpm.status(pool, full=True)

    def test_total_and_up(self):
        for pool in ("www", "tcp", "lite"):
            with self.subTest(pool=pool):
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_up" % pool), 1.0)
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_processes-total" % pool),
                                 float(self.fpm_view(pool)["total processes"]))
        self.assertEqual(self.cd.getval("fcgx-www/fpm_processes-total"), 3.0)
        self.assertEqual(self.cd.getval("fcgx-tcp/fpm_processes-total"), 3.0)
        self.assertEqual(self.cd.getval("fcgx-lite/fpm_processes-total"), 2.0)

    def pool_identifiers(self, pool):
        """What collectd holds for the pool, less the in-pool script's figures (OPcache, APCu,
        realpath cache: another feature, see fpm_response_time-opcache)."""
        return {i for i in self.cd.identifiers(pool)
                if not i.startswith(("opcache", "apcu", "realpath"))
                and i != "fpm_response_time-opcache"}

    def test_metric_set(self):
        """Exactly the contract's identifiers: all of them with ProcessDetails and ping, and no
        per-process or ping metrics without."""
        for pool in ("www", "tcp"):
            with self.subTest(pool=pool):
                self.assertEqual(self.pool_identifiers(pool),
                                 POOL_METRICS | PING_METRICS | DETAIL_METRICS)
        # KernelQueue false: not the kernel's figures; Workers false: nothing from /proc; the
        # limit and utilisation from MaxChildren.
        self.assertEqual(self.pool_identifiers("lite"),
                         POOL_METRICS - {"fpm_queue-kernel", "fpm_queue-kernel_max",
                                         "fpm_workers-count", "fpm_workers_cpu",
                                         "fpm_workers_memory-rss"})
        self.assertEqual(self.cd.getval("fcgx-lite/fpm_processes-limit"), 2.0)

    def test_plugin_does_not_count_itself_active(self):
        """An idle static pool: php-fpm's own status (read by a client through the pool socket)
        counts the worker serving it as active; fcgx must report that worker as idle."""
        # collectd polls this pool meanwhile: when one of its requests is being served at the
        # same moment, php-fpm says 2 active (more likely on a loaded machine, where a poll
        # takes longer); ask again until ours is the only one.
        seen = []

        def counts():
            st = self.fpm.status("www")
            seen.append((st["active processes"], st["idle processes"]))
            return seen[-1] == (1, 2)
        try:
            harness.wait_for(counts, 3, interval=0.05)
        except TimeoutError:
            self.fail("php-fpm's (active, idle) never (1, 2): %s" % seen[-10:])
        start = time.time()

        def fresh(ident):
            return [r for r in self.cd.csv_rows(ident) if r[0] > start]
        rows_active = harness.wait_for(lambda: len(fresh("fcgx-www/fpm_processes-active")) >= 3
                                       and fresh("fcgx-www/fpm_processes-active"),
                                       6, interval=0.05, what="3 fresh rows of active")
        rows_idle = fresh("fcgx-www/fpm_processes-idle")
        self.assertEqual([v for _, v in rows_active], [0.0] * len(rows_active))
        self.assertTrue(rows_idle)
        self.assertEqual([v for _, v in rows_idle], [3.0] * len(rows_idle))

    def test_pool_values_equal_fpm(self):
        """Values collectd holds equal php-fpm's own (fields that do not move between reads)."""
        for pool in ("www", "tcp", "lite"):
            with self.subTest(pool=pool):
                st = self.fpm_view(pool)
                g = lambda name: self.cd.getval("fcgx-%s/%s" % (pool, name))  # noqa: E731
                self.assertEqual(g("fpm_queue-current"), float(st["listen queue"]))
                self.assertEqual(g("fpm_queue-max"), float(st["max listen queue"]))
                self.assertEqual(g("fpm_queue-length"), float(st["listen queue len"]))
                # a high-water mark: our own read may raise it after collectd's; the next poll
                # catches up
                harness.wait_for(lambda: g("fpm_processes-max_active") == float(
                    self.fpm_view(pool)["max active processes"]), 4 * INTERVAL + 2,
                    interval=0.2, what="max_active of %s as php-fpm's" % pool)
                up = g("uptime")
                self.assertIsNotNone(up)
                self.assertAlmostEqual(up, st["start since"], delta=2.5)
                for ident, field in (("fpm_requests-slow", "slow requests"),
                                     ("fpm_events-max_children_reached", "max children reached")):
                    row = latest(self.cd, "fcgx-%s/%s" % (pool, ident))
                    self.assertIsNotNone(row, ident)
                    self.assertEqual(row[1], float(st[field]), ident)

    def test_tcp_listen_queue_len(self):
        """On TCP php-fpm reports the real backlog (not 0): collectd holds the same number."""
        length = self.fpm.status("tcp")["listen queue len"]
        self.assertGreater(length, 0)
        self.assertEqual(self.cd.getval("fcgx-tcp/fpm_queue-length"), float(length))

    def test_accepted_follows_traffic(self):
        n = 25
        for pool in ("www", "tcp"):
            with self.subTest(pool=pool):
                ident = "fcgx-%s/fpm_requests-accepted" % pool
                before = latest(self.cd, ident)
                self.assertIsNotNone(before)
                sent_at = time.time()
                self.fpm.send(pool, n)
                sent_done = time.time()
                after = harness.wait_for(
                    lambda: (lambda r: r if r and r[0] > sent_done + 0.01 else None)(
                        latest(self.cd, ident)),
                    5, interval=0.05, what="a new row of " + ident)
                grew = after[1] - before[1]
                self.assertGreaterEqual(grew, n)
                # Only our n requests and the plugin's own (status + ping per interval) on top.
                elapsed = after[0] - before[0]
                self.assertLessEqual(grew, n + 3 * (elapsed / INTERVAL + 2), (before, after))
                # The raw counter equals php-fpm's own, give or take requests since the read.
                fpm_now = self.fpm.status(pool)["accepted conn"]
                self.assertGreaterEqual(fpm_now, after[1])
                self.assertLessEqual(fpm_now - after[1], 3 * (time.time() - sent_at + 2))

    def test_response_times(self):
        for pool in ("www", "tcp"):
            for kind in ("status", "ping"):
                with self.subTest(pool=pool, kind=kind):
                    v = self.cd.getval("fcgx-%s/fpm_response_time-%s" % (pool, kind))
                    self.assertIsNotNone(v)
                    self.assertGreater(v, 0.0)
                    self.assertLess(v, 1.0)
        self.assertIsNone(self.cd.getval("fcgx-lite/fpm_response_time-ping"))
        v = self.cd.getval("fcgx-lite/fpm_response_time-status")
        self.assertTrue(v is not None and 0 < v < 1, v)

    def test_process_details_idle_pool(self):
        for pool in ("www", "tcp"):
            with self.subTest(pool=pool):
                g = lambda name: self.cd.getval("fcgx-%s/%s" % (pool, name))  # noqa: E731
                states = {s: g("fpm_processes-state_" + s) for s in STATES}
                self.assertNotIn(None, states.values(), states)
                self.assertEqual(sum(states.values()), g("fpm_processes-total"), states)
                self.assertGreaterEqual(states["idle"], 2.0, states)
                for kind in ("duration", "cpu", "memory"):
                    avg, mx = g("fpm_request_%s-avg" % kind), g("fpm_request_%s-max" % kind)
                    self.assertIsNotNone(avg, kind)
                    self.assertIsNotNone(mx, kind)
                    self.assertGreaterEqual(avg, 0.0, kind)
                    self.assertGreaterEqual(mx, avg, kind)
                # Durations are seconds, not microseconds: an idle pool's last requests are short.
                self.assertLess(g("fpm_request_duration-max"), 1.0)
                self.assertLess(g("fpm_request_duration-running_max"), 1.0)

    def test_running_request_is_seen(self):
        """One worker busy in sleep.php: active 1, state_running >= 1, running_max grows in
        seconds, idle workers' memory and durations stay meaningful."""
        busy = self.fpm.hold_busy("www", 1, 3.0)
        try:
            self.cd.wait_value("fcgx-www/fpm_request_duration-running_max",
                               lambda v: v >= 1.0, timeout=4)
            rm = self.cd.getval("fcgx-www/fpm_request_duration-running_max")
            self.assertLess(rm, 3.5)  # seconds, and not more than the request has run
            self.assertEqual(self.cd.getval("fcgx-www/fpm_processes-active"), 1.0)
            self.assertEqual(self.cd.getval("fcgx-www/fpm_processes-idle"), 2.0)
            self.assertGreaterEqual(self.cd.getval("fcgx-www/fpm_processes-state_running"), 1.0)
            self.assertGreaterEqual(self.cd.getval("fcgx-www/fpm_request_duration-max"), rm)
        finally:
            self.assertTrue(busy.join(8))
        self.assertEqual(busy.errors, [])
        # Once it is over, the stuck-request figure falls back.
        self.cd.wait_value("fcgx-www/fpm_request_duration-running_max", lambda v: v < 1.0,
                           timeout=4)

    def test_memory_of_idle_workers(self):
        """mem.php peaks above 4 MiB; php-fpm shows that as the `last request memory` of an idle
        worker, and fcgx's max over idle workers must reach it too."""
        mib4 = 4 * 1024 * 1024
        deadline = time.monotonic() + 6
        fpm_saw = False
        while True:
            self.fpm.send("www", 3, script="mem.php")
            procs = self.fpm.status("www", full=True)["processes"]
            fpm_saw |= max(p["last request memory"] for p in procs if p["state"] == "Idle") > mib4
            got = self.cd.getval("fcgx-www/fpm_request_memory-max")
            if fpm_saw and got is not None and got > mib4:
                break
            if time.monotonic() > deadline:
                self.fail("fpm_request_memory-max %r never above 4 MiB (php-fpm showed it: %s)"
                          % (got, fpm_saw))
            time.sleep(0.2)
        self.assertLess(got, 256 * 1024 * 1024)  # bytes, not something else
        avg = self.cd.getval("fcgx-www/fpm_request_memory-avg")
        self.assertTrue(avg is not None and 0 < avg < 256 * 1024 * 1024, avg)


class ReloadAndIntervals(unittest.TestCase):
    """www: the global Interval; slow: the same php-fpm pool polled with Interval 2."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "www", "max_children": 2}])
        block = harness.plugin_block(
            harness.pool_block("www", cls.fpm.address("www")),
            harness.pool_block("slow", cls.fpm.address("www"), Interval=2 * INTERVAL),
            timeout=800)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_rows("fcgx-www/fpm_up", 2, 8)

    def test_pool_interval(self):
        """Each pool is read at its own Interval."""
        slow = self.cd.wait_rows("fcgx-slow/fpm_up", 4, 10)
        self.assertEqual([v for _, v in slow], [1.0] * len(slow))
        self.assertTrue(all(1.5 * INTERVAL <= g <= 2.5 * INTERVAL
                            for g in harness.gaps(slow)[1:]), slow)
        fast = self.cd.csv_rows("fcgx-www/fpm_up")
        self.assertGreaterEqual(len(fast), 2 * len(slow) - 2, (fast, slow))
        self.assertTrue(all(g <= 1.5 * INTERVAL for g in harness.gaps(fast)[1:]), fast)
        self.assertEqual(self.cd.getval("fcgx-slow/fpm_processes-total"), 2.0)

    def test_reload(self):
        """SIGUSR2 resets php-fpm's counters and keeps the sockets: fcgx keeps reporting, and
        says once why the counters fell."""
        self.fpm.send("www", 20)
        self.cd.wait_value("fcgx-www/fpm_up", lambda v: v == 1.0, timeout=3)
        acc = harness.wait_for(lambda: (lambda r: r if r and r[1] >= 20 else None)(
            latest(self.cd, "fcgx-www/fpm_requests-accepted")), 4, what="accepted >= 20")
        self.fpm.reload()
        reloaded = time.time()
        after = harness.wait_for(lambda: (lambda r: r if r and r[0] > reloaded else None)(
            latest(self.cd, "fcgx-www/fpm_requests-accepted")), 4, what="a row after reload")
        self.assertLess(after[1], acc[1])
        self.cd.wait_value("fcgx-www/fpm_up", lambda v: v == 1.0, timeout=3)
        self.assertEqual(self.cd.getval("fcgx-www/fpm_processes-total"), 2.0)
        self.assertLess(self.cd.getval("fcgx-www/uptime"), 3.0)
        restarted = self.cd.log_lines(r'pool "www": php-fpm was restarted')
        self.assertEqual(len(restarted), 1, restarted)


if __name__ == "__main__":
    unittest.main()
