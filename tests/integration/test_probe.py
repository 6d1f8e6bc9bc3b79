"""fcgx-probe against a real php-fpm: figures, verdicts and exit codes (Nagios: 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN), as a health check or a Kubernetes probe would use it."""
import json
import os
import subprocess
import time
import unittest

import harness

PROBE = os.environ.get("FCGX_PROBE")
SCRIPT = harness.status_script()


def probe(*args, timeout=10):
    run = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=timeout)
    return run.returncode, run.stdout, run.stderr


@unittest.skipUnless(PROBE, "FCGX_PROBE is not set (path of the built fcgx-probe)")
class ProbeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.PhpFpm([
            {"name": "www", "max_children": 3},
            {"name": "busy", "max_children": 1, "status_listen": "unix"},
        ]).start()
        cls.www = cls.fpm.address("www")

    @classmethod
    def tearDownClass(cls):
        cls.fpm.cleanup()

    def test_status_table_matches_php_fpm(self):
        code, out, _ = probe("--socket", self.www, "status")
        self.assertEqual(code, 0, out)
        self.assertTrue(out.startswith("status OK - 0 active, 3 idle, 3 total processes"), out)
        values = dict(line.split() for line in out.splitlines()[1:])
        own = self.fpm.status("www")
        self.assertEqual(float(values["fpm_processes-total"]), own["total processes"])
        self.assertEqual(float(values["fpm_queue-length"]), own["listen queue len"])
        self.assertGreater(float(values["fpm_response_time-ping"]), 0)
        self.assertEqual(float(values["fpm_processes-state_idle"]), 3)

    def test_json(self):
        code, out, _ = probe("--socket", self.www, "--json", "status")
        doc = json.loads(out)
        self.assertEqual((code, doc["verdict"], doc["exit_code"]), (0, "OK", 0))
        self.assertEqual(doc["values"]["fpm_processes-total"], 3)
        self.assertEqual(doc["address"], self.www)

    def test_live_and_ping(self):
        self.assertEqual(probe("-s", self.www, "live")[0], 0)
        code, out, _ = probe("-s", self.www, "--ping-response", "nope", "ping")
        self.assertEqual(code, 2)
        self.assertIn('instead of "nope"', out)

    def test_unreachable_is_critical(self):
        missing = os.path.join(self.fpm.run_dir, "missing.sock")
        for check in ("status", "live", "ready", "opcache"):
            code, out, _ = probe("-s", missing, check)
            self.assertEqual(code, 2, check)
            self.assertIn("connect to %s: No such file or directory" % missing, out)

    def test_hung_pool_times_out(self):
        hung = harness.HungServer()
        self.addCleanup(hung.close)
        started = time.monotonic()
        code, out, _ = probe("-H", "127.0.0.1", "-p", str(hung.port), "-t", "300", "status")
        self.assertEqual(code, 2)
        self.assertIn("no reply within 300 ms", out)
        # The 300 ms Timeout plus starting the probe (an ASan binary, a loaded machine: tens to
        # a few hundred ms); a probe that waited on its own would take far longer than 2 s.
        self.assertLess(time.monotonic() - started, 2.0)

    def test_ready_warns_when_saturated(self):
        self.assertEqual(probe("-s", self.fpm.address("busy"), "ready")[0], 0)
        busy = self.fpm.hold_busy("busy", 1, 3)
        self.addCleanup(busy.join, 10)
        status_socket = self.fpm.status_address("busy")
        # The verdict is checked on the very answer that said WARNING: a second probe could
        # come after the 3 s request ended, on a loaded machine.
        code, out, _ = harness.wait_for(
            lambda: (lambda r: r if r[0] == 1 else None)(
                probe("-s", self.fpm.address("busy"), "-S", status_socket, "ready")),
            5, what="ready to say saturated")
        self.assertEqual(code, 1)
        self.assertIn("saturated: all 1 workers are busy", out)

    def test_opcache(self):
        code, out, _ = probe("-s", self.www, "--opcache-script", SCRIPT, "--json", "opcache")
        doc = json.loads(out)
        self.assertIn(code, (0, 1), out)  # a fresh cache may still be warming up: WARNING
        self.assertEqual(doc["values"]["opcache_state-enabled"], 1)
        self.assertGreaterEqual(doc["values"]["opcache_scripts-cached"], 1)
        code, out, _ = probe("-s", self.www, "--opcache-script", "/nonexistent/x.php", "opcache")
        self.assertEqual(code, 2)
        self.assertIn("cannot find /nonexistent/x.php (HTTP 404)", out)

    def test_usage_errors_are_unknown(self):
        for args in ([], ["status"], ["-s", self.www], ["-s", self.www, "bogus"],
                     ["-s", self.www, "-H", "h", "-p", "1", "status"],
                     ["-s", self.www, "-t", "0", "status"]):
            code, _, err = probe(*args)
            self.assertEqual(code, 3, args)
            self.assertIn("fcgx-probe", err)
        code, out, _ = probe("--help")
        self.assertEqual(code, 0)
        for option in ("--socket", "--host", "--status-socket", "--timeout", "--json", "ready"):
            self.assertIn(option, out)


if __name__ == "__main__":
    unittest.main()
