"""Every worker of a pool busy: through its pm.status_listen address (StatusSocket, or
StatusHost + StatusPort) the pool is still reported every interval, with its real figures."""
import time
import unittest

import harness

INTERVAL = 1
HOLD = 6.0
MAX_CHILDREN = 2


class SaturatedPools(unittest.TestCase):
    """sat: unix socket + unix status_listen; sattcp: TCP + TCP status_listen."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [
            {"name": "sat", "max_children": MAX_CHILDREN, "status_listen": "unix"},
            {"name": "sattcp", "listen": "tcp", "max_children": MAX_CHILDREN,
             "status_listen": "tcp"},
        ])
        block = harness.plugin_block(
            harness.pool_block("sat", cls.fpm.address("sat"), cls.fpm.status_address("sat"),
                               ProcessDetails=True, Timeout=500),
            harness.pool_block("sattcp", cls.fpm.address("sattcp"),
                               cls.fpm.status_address("sattcp"), ProcessDetails=True,
                               Timeout=500))
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        for pool in ("sat", "sattcp"):
            cls.cd.wait_value("fcgx-%s/fpm_processes-total" % pool, timeout=10)

    def test_idle_through_status_listen(self):
        """The hidden status pool does not count itself: an idle pool is active 0."""
        for pool in ("sat", "sattcp"):
            with self.subTest(pool=pool):
                st = self.fpm.status(pool, via_status_listen=True)
                self.assertEqual(st["active processes"], 0)
                self.cd.wait_value("fcgx-%s/fpm_processes-active" % pool, lambda v: v == 0.0,
                                   timeout=3)
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_processes-idle" % pool),
                                 float(MAX_CHILDREN))
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_up" % pool), 1.0)

    def test_saturated_pool_reported_every_interval(self):
        # Every worker of both pools busy, plus one request waiting in each pool's queue.
        start = time.time()
        holders = [self.fpm.hold_busy(pool, MAX_CHILDREN, HOLD) for pool in ("sat", "sattcp")]
        try:
            for pool in ("sat", "sattcp"):
                harness.wait_for(
                    lambda pool=pool: self.fpm.status(pool, via_status_listen=True)
                    ["active processes"] == MAX_CHILDREN, 3, what="%s saturated" % pool)
                holders.append(self.fpm.hold_busy(pool, 1, 0.05))  # waits in the queue
            busy_at = time.time()
            # The premise: through the pool's own socket, status does not answer now.
            for pool in ("sat", "sattcp"):
                with self.assertRaises(OSError, msg=pool):
                    self.fpm.status(pool, timeout=0.5, retries=1)
            # The TCP pool's queue shows the waiting request; collectd must say so too.
            self.cd.wait_value("fcgx-sattcp/fpm_queue-current", lambda v: v >= 1.0, timeout=3)
            # On a unix socket php-fpm always says 0 (php bug 80739); the kernel says who waits.
            self.cd.wait_value("fcgx-sat/fpm_queue-kernel", lambda v: v >= 1.0, timeout=3)
            self.assertEqual(self.cd.getval("fcgx-sat/fpm_queue-current"), 0.0)
            self.assertEqual(self.cd.getval("fcgx-sat/fpm_queue-kernel_max"), 4096.0)
            # Let the saturation last, then look at what collectd stored meanwhile.
            harness.wait_for(lambda: time.time() > start + HOLD - 0.3, HOLD + 1, interval=0.05)
            window = (busy_at + 0.2, start + HOLD - 0.5)
            for pool in ("sat", "sattcp"):
                with self.subTest(pool=pool):
                    self.wait_window_written(pool, window)
                    self.check_window(pool, window)
        finally:
            for h in holders:
                self.assertTrue(h.join(HOLD * 2 + 10))
        for h in holders:
            self.assertEqual(h.errors, [])
        # Saturation over: the pool goes back to idle in collectd (no stale value).
        for pool in ("sat", "sattcp"):
            self.cd.wait_value("fcgx-%s/fpm_processes-active" % pool, lambda v: v == 0.0,
                               timeout=4)

    CHECKED = ("fpm_processes-active", "fpm_processes-idle", "fpm_up",
               "fpm_processes-state_running", "fpm_response_time-status",
               "fpm_request_duration-running_max")

    def wait_window_written(self, pool, window):
        """Waits (bounded) until a read that started after the window is in the csv files of
        every identifier checked: collectd's write threads may still be writing the window's
        last read when it closes, on a loaded machine."""
        hi = window[1]
        for name in self.CHECKED:
            ident = "fcgx-%s/%s" % (pool, name)
            harness.wait_for(lambda ident=ident: any(t > hi for t, _ in self.cd.csv_rows(ident)),
                             3 * INTERVAL, interval=0.05, what="a row of %s after %.2f"
                             % (ident, hi))

    def check_window(self, pool, window):
        lo, hi = window

        def rows(name):
            return [r for r in self.cd.csv_rows("fcgx-%s/%s" % (pool, name)) if lo <= r[0] <= hi]
        active = rows("fpm_processes-active")
        expected = int((hi - lo) / INTERVAL) - 1
        self.assertGreaterEqual(len(active), max(expected, 3), (window, active))
        self.assertTrue(all(g <= 1.5 * INTERVAL for g in harness.gaps(active)), active)
        self.assertEqual([v for _, v in active], [float(MAX_CHILDREN)] * len(active))
        self.assertEqual([v for _, v in rows("fpm_processes-idle")], [0.0] * len(active))
        up = rows("fpm_up")
        self.assertEqual([v for _, v in up], [1.0] * len(up))
        self.assertGreaterEqual(len(up), len(active))
        running = rows("fpm_processes-state_running")
        self.assertTrue(running and all(v == float(MAX_CHILDREN) for _, v in running), running)
        status_rt = rows("fpm_response_time-status")
        self.assertTrue(status_rt and all(0 < v < 0.5 for _, v in status_rt), status_rt)
        # The stuck-request figure is in seconds and grows while the requests run.
        rm = rows("fpm_request_duration-running_max")
        self.assertTrue(rm and rm[-1][1] > 2.0 and rm[-1][1] < HOLD + 1, rm)


class SaturatedWithoutStatusListen(unittest.TestCase):
    """A unix-socket pool with no pm.status_listen: while saturated its status cannot answer,
    but the kernel's queue figure keeps coming and rises: a saturated pool, not a gap."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "own", "max_children": MAX_CHILDREN}])
        block = harness.plugin_block(harness.pool_block("own", cls.fpm.address("own"),
                                                        OPcache=False, Timeout=400))
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_value("fcgx-own/fpm_queue-kernel", timeout=10)

    def test_kernel_queue_rises_while_status_cannot_answer(self):
        self.assertEqual(self.cd.getval("fcgx-own/fpm_queue-kernel"), 0.0)
        holders = [self.fpm.hold_busy("own", MAX_CHILDREN + 3, 4.0)]  # 2 running, 3 waiting
        try:
            start = time.time()
            self.cd.wait_value("fcgx-own/fpm_up", lambda v: v == 0.0, timeout=4)
            self.cd.wait_value("fcgx-own/fpm_queue-kernel", lambda v: v >= 3.0, timeout=4)
            rows = [r for r in self.cd.csv_rows("fcgx-own/fpm_queue-kernel") if r[0] > start]
            self.assertTrue(rows and max(v for _, v in rows) >= 3.0, rows)
        finally:
            for h in holders:
                self.assertTrue(h.join(20))
        self.cd.wait_value("fcgx-own/fpm_up", lambda v: v == 1.0, timeout=8)
        self.cd.wait_value("fcgx-own/fpm_queue-kernel", lambda v: v == 0.0, timeout=8)


if __name__ == "__main__":
    unittest.main()
