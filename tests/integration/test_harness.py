"""The fixtures themselves, without fcgx: a real php-fpm and a stock collectd behave as the other
tests assume. When these fail, the other integration tests' failures say nothing about fcgx."""
import unittest

import harness


class PhpFpmFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [
            {"name": "www"},
            {"name": "tcp", "listen": "tcp"},
            {"name": "sat", "max_children": 2, "status_listen": "unix"},
        ])

    def test_static_pool_status(self):
        st = self.fpm.status("www", full=True)
        self.assertEqual(st["pool"], "www")
        self.assertEqual(st["total processes"], 3)
        # php-fpm counts the worker serving this very status request as active.
        self.assertEqual((st["active processes"], st["idle processes"]), (1, 2))
        self.assertEqual(len(st["processes"]), 3)

    def test_traffic_counts(self):
        before = self.fpm.status("tcp")["accepted conn"]
        self.assertEqual(self.fpm.send("tcp", 5), [b"hello"] * 5)
        after = self.fpm.status("tcp")["accepted conn"]
        self.assertEqual(after - before, 6)  # 5 requests + this status request
        self.assertGreater(self.fpm.status("tcp")["listen queue len"], 0)

    def test_saturation_and_status_listen(self):
        # held well beyond the wait and the status attempt below, even on a loaded machine
        busy = self.fpm.hold_busy("sat", 2, 4)
        harness.wait_for(lambda: self.fpm.status("sat", via_status_listen=True)
                         ["active processes"] == 2, 3, what="2 busy workers")
        with self.assertRaises(OSError):  # socket.timeout: queued behind the busy workers
            self.fpm.status("sat", timeout=0.3, retries=1)
        self.assertTrue(busy.join(10))
        self.assertEqual(busy.errors, [])

    def test_reload_resets_counters(self):
        self.fpm.send("www", 3)
        before = self.fpm.status("www")["accepted conn"]
        self.fpm.reload()
        self.assertLess(self.fpm.status("www")["accepted conn"], before)


class CollectdFixture(unittest.TestCase):
    def test_stock_plugin_values(self):
        cd = harness.start_collectd(type(self), None, extra_plugins=["load"])
        self.assertIsNotNone(cd.wait_value("load/load", timeout=5))
        rows = cd.wait_rows("load/load", 3, 6)
        self.assertTrue(all(0.5 < g < 1.5 for g in harness.gaps(rows)), rows)
        self.assertGreater(cd.fd_count(), 0)
        self.assertIn("load/load", cd.listval())
        self.assertIsNone(cd.getval("fcgx-nothing/fpm_up"))

    def test_check_config_reports_errors(self):
        rc, out = harness.check_config(None, extra_plugins=["load"])
        self.assertEqual(rc, 0, out)
        rc, out = harness.check_config(None, extra_plugins=["load"],
                                       extra_config="<Plugin load>\n  Bogus 1\n</Plugin>")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Bogus", out)


if __name__ == "__main__":
    unittest.main()
