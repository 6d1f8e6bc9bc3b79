"""collectd with the plugin under valgrind: no leak and no memory error from fcgx.

One collectd runs under `valgrind --leak-check=full` for several intervals with a healthy pool
(status with process details, ping, the OPcache script), a missing socket and a hung listener,
then stops with SIGTERM, as an operator's daemon would. Any memory error or lost block fails.
"""
import os
import shutil
import unittest

import harness

VALGRIND = shutil.which("valgrind")
SCRIPT = harness.status_script()


@unittest.skipIf(VALGRIND is None, "valgrind is not installed")
@unittest.skipIf(harness._preload(), "the plugin is built with ASan: valgrind cannot run it")
class ValgrindTest(unittest.TestCase):
    def test_no_leak_and_no_error_in_fcgx(self):
        fpm = harness.PhpFpm([{"name": "www", "max_children": 2}]).start()
        self.addCleanup(fpm.cleanup)
        hung = harness.HungServer()
        self.addCleanup(hung.close)
        missing = os.path.join(fpm.run_dir, "missing.sock")
        block = harness.plugin_block(
            harness.pool_block("www", fpm.address("www"), OPcacheScript=SCRIPT),
            harness.pool_block("missing", missing, OPcache=False),
            harness.pool_block("hung", ("127.0.0.1", hung.port), OPcache=False, Timeout=300),
        )
        collectd = harness.Collectd(block, interval=0.5)
        valgrind_log = os.path.join(collectd.dir, "valgrind.log")
        collectd.wrapper = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite,indirect",
                            "--num-callers=30", "--log-file=" + valgrind_log]
        self.addCleanup(collectd.cleanup)
        collectd.start(timeout=60)

        # Enough polls for every path: success, connect failure, timeout, OPcache.
        collectd.wait_value("fcgx-www/opcache_scripts-cached", timeout=60)
        fpm.send("www", 20)
        harness.wait_for(lambda: len(collectd.csv_rows("fcgx-hung/fpm_up")) >= 6, 60,
                         what="six polls of the hung pool")
        self.assertEqual(collectd.stop(grace=60), 0, collectd.log_text()[-2000:])

        with open(valgrind_log) as f:
            report = f.read()
        self.assertIn("ERROR SUMMARY", report, "valgrind did not finish: " + report[-2000:])
        # collectd itself loses nothing either (0 bytes in this setup), so the check is strict.
        self.assertRegex(report, r"ERROR SUMMARY: 0 errors", report[-6000:])
        self.assertRegex(report, r"definitely lost: 0 bytes", report[-6000:])
        self.assertRegex(report, r"indirectly lost: 0 bytes", report[-6000:])

if __name__ == "__main__":
    unittest.main()
