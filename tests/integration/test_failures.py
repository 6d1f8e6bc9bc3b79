"""Unreachable pools (missing socket, refused port, a server that never answers) report fpm_up 0
and nothing else, are logged once with the pool name, and never slow the healthy pool down."""
import re
import time
import unittest

import harness

INTERVAL = 1
READS = 7  # intervals to watch the pools for


def values(rows):
    return [v for _, v in rows]


class FailureChecks:
    """Assertions shared by the test classes below (a mixin, not a TestCase)."""

    def pool_log_lines(self, pool):
        """The plugin's log lines about the pool, less complaints about the in-pool OPcache
        script (another feature; the script is not installed for these tests)."""
        return [ln for ln in self.cd.log_lines(r'fcgx plugin: pool "%s"' % re.escape(pool))
                if "OPcache" not in ln]

    def assert_every_interval(self, ident, min_rows):
        rows = self.cd.csv_rows(ident)
        self.assertGreaterEqual(len(rows), min_rows, (ident, rows))
        # Ignore the first gap: the first read may come at any point of the first interval.
        late = harness.gaps(rows)[1:]
        self.assertTrue(all(g <= 1.5 * INTERVAL for g in late), (ident, rows))
        return rows

    def assert_down_only_up(self, pool, rows_wanted, listening=False):
        """fpm_up 0 and nothing from the pool; the kernel's queue figures too when something
        listens on the pool's socket on this host."""
        rows = self.assert_every_interval("fcgx-%s/fpm_up" % pool, rows_wanted)
        self.assertEqual(values(rows), [0.0] * len(rows))
        self.assertEqual(self.cd.getval("fcgx-%s/fpm_up" % pool), 0.0)
        expected = harness.DOWN_LISTENING if listening else {"fpm_up"}
        self.assertEqual(self.cd.identifiers(pool), expected)
        self.assertEqual(self.cd.csv_type_instances(pool), expected)

    def assert_logged_once(self, pool, *must_contain):
        """Lines naming the pool: at least one, naming the cause; far fewer than the reads."""
        log_lines = self.pool_log_lines(pool)
        reads = len(self.cd.csv_rows("fcgx-%s/fpm_up" % pool))  # read after the log
        self.assertGreaterEqual(len(log_lines), 1, self.cd.log_text()[-3000:])
        for text in must_contain:
            self.assertTrue(any(text in line for line in log_lines), (text, log_lines))
        # c_complain may repeat with a doubling interval (t, t+1, t+3, t+7...), not every read.
        self.assertLessEqual(len(log_lines), max(1, reads // 2), (reads, log_lines))
        return log_lines

    def assert_healthy(self, pool, min_rows):
        rows = self.assert_every_interval("fcgx-%s/fpm_up" % pool, min_rows)
        self.assertEqual(values(rows), [1.0] * len(rows))
        total = self.assert_every_interval("fcgx-%s/fpm_processes-total" % pool, min_rows)
        self.assertEqual(values(total), [2.0] * len(total))
        self.assertEqual(self.pool_log_lines(pool), [])


class UnreachablePools(FailureChecks, unittest.TestCase):
    """ok: healthy unix pool; missing: a socket path nothing listens on (php-fpm starts there
    later, to see the recovery); refused: a TCP port nothing listens on; wrongpong: the ok
    pool with a PingResponse it does not send."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "ok", "max_children": 2}])
        cls.late = harness.PhpFpm([{"name": "late", "max_children": 2}])  # not started yet
        cls.addClassCleanup(cls.late.cleanup)
        cls.missing_path = cls.late.address("late")
        cls.refused_port = harness.free_port()
        block = harness.plugin_block(
            harness.pool_block("ok", cls.fpm.address("ok")),
            harness.pool_block("missing", cls.missing_path),
            harness.pool_block("refused", ("127.0.0.1", cls.refused_port)),
            harness.pool_block("wrongpong", cls.fpm.address("ok"), PingResponse="ping?"),
            timeout=500)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_rows("fcgx-ok/fpm_up", 2, 8)
        cls.fds_early = cls.fd_sample()
        cls.cd.settle("fcgx-ok/fpm_up", READS, READS + 4)
        cls.fds_late = cls.fd_sample()

    @classmethod
    def fd_sample(cls):
        """Smallest fd count over ~1 interval (requests in flight open sockets for a while)."""
        counts = []
        end = time.monotonic() + INTERVAL
        while time.monotonic() < end:
            counts.append(cls.cd.fd_count())
            time.sleep(0.05)
        return min(counts)

    def test_a_missing_socket(self):
        self.assert_down_only_up("missing", READS - 1)
        self.assert_logged_once("missing", self.missing_path, "No such file or directory")

    def test_a_refused_port(self):
        self.assert_down_only_up("refused", READS - 1)
        self.assert_logged_once("refused", "127.0.0.1:%d" % self.refused_port,
                                "Connection refused")

    def test_a_wrong_ping_response(self):
        """The pool answers its ping with "pong", not the configured PingResponse: down."""
        rows = self.assert_every_interval("fcgx-wrongpong/fpm_up", READS - 1)
        self.assertEqual(values(rows), [0.0] * len(rows))
        self.assertNotIn("fpm_response_time-ping", self.cd.identifiers("wrongpong"))
        self.assert_logged_once("wrongpong")

    def test_a_healthy_pool_beside_them(self):
        self.assert_healthy("ok", READS - 1)

    def test_a_no_fd_leak(self):
        self.assertLessEqual(self.fds_late, self.fds_early, "collectd's fds grew")

    def test_b_recovery(self):
        """php-fpm starts on the missing socket: the pool comes up, reports its real figures,
        and its recovery is logged once."""
        self.late.start()
        started = time.time()
        self.cd.wait_value("fcgx-missing/fpm_up", lambda v: v == 1.0, timeout=4)
        self.cd.wait_value("fcgx-missing/fpm_processes-total", lambda v: v == 2.0, timeout=3)
        self.assertIn("fpm_processes-active", self.cd.identifiers("missing"))
        ups = [r for r in self.cd.csv_rows("fcgx-missing/fpm_up") if r[0] > started + 1.5]
        harness.wait_for(lambda: len([r for r in self.cd.csv_rows("fcgx-missing/fpm_up")
                                      if r[0] > started + 1.5]) >= 2, 4, what="two more reads")
        ups = [r for r in self.cd.csv_rows("fcgx-missing/fpm_up") if r[0] > started + 1.5]
        self.assertEqual(values(ups), [1.0] * len(ups))
        lines = self.pool_log_lines("missing")
        # The last line about the pool is its recovery, and it is not repeated.
        self.assertNotIn("No such file", lines[-1], lines)
        recovery = [ln for ln in lines if "No such file" not in ln]
        self.assertEqual(len(recovery), 1, lines)


class HungPools(FailureChecks, unittest.TestCase):
    """hung1..3: TCP listeners that never accept (connect succeeds, no reply), Timeout 700 each.
    Polled one after the other they would hold the read for 3 x 700 ms (or twice that) and the
    healthy pool would miss intervals: they must be polled at once."""

    HUNG = ("hung1", "hung2", "hung3")

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "ok", "max_children": 2}])
        cls.hung = {}
        for name in cls.HUNG:
            cls.hung[name] = harness.HungServer()
            cls.addClassCleanup(cls.hung[name].close)
        block = harness.plugin_block(
            harness.pool_block("ok", cls.fpm.address("ok"), Timeout=700),
            *[harness.pool_block(name, ("127.0.0.1", cls.hung[name].port), Timeout=700)
              for name in cls.HUNG])
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.settle("fcgx-ok/fpm_up", READS - 1, READS + 4)

    def test_hung_pools_are_down(self):
        for name in self.HUNG:
            with self.subTest(pool=name):
                self.assert_down_only_up(name, READS - 2, listening=True)
                self.assert_logged_once(name, "127.0.0.1:%d" % self.hung[name].port)

    def test_healthy_pool_every_interval(self):
        self.assert_healthy("ok", READS - 1)
        # Its own round trips are its own: not inflated by the hung pools' 700 ms.
        rows = self.cd.csv_rows("fcgx-ok/fpm_response_time-status")
        self.assertTrue(rows and all(v < 0.3 for v in values(rows)), rows)

    def test_read_not_suspended(self):
        self.assertEqual(self.cd.log_lines(r"read-function of plugin .fcgx. failed"), [])


if __name__ == "__main__":
    unittest.main()
