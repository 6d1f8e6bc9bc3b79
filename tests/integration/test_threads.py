"""fcgx's read callbacks on several of collectd's threads at once: a real php-fpm with five pools
and a real collectd (ReadThreads 5) where four <Pool> blocks have Intervals of 0.2 s, 0.3 s,
0.5 s and the global 1 s (one read callback each) and AutoDiscover polls the fifth pool in a
callback of its own, for about ten seconds, while requests keep the workers busy. Every pool
reports, collectd stops cleanly, and no sanitizer says anything: run on the ThreadSanitizer
build (label "tsan"), this is the test that finds data races between those callbacks.
"""
import os
import sys
import threading
import time
import unittest
import uuid

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = harness.status_script()

INTERVAL = 1
RUN_SECONDS = 10
# Random names: AutoDiscover also sees other tests' masters; only ours are asserted on.
SFX = uuid.uuid4().hex[:6]
# explicit pool name -> its Interval (None: the global one)
EXPLICIT = {"ta" + SFX: 0.2, "tb" + SFX: 0.3, "tc" + SFX: 0.5, "td" + SFX: None}
DISCOVERED = "tx" + SFX  # no <Pool> block: polled by AutoDiscover


class ConcurrentReads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        names = list(EXPLICIT) + [DISCOVERED]
        cls.fpm = harness.start_fpm(cls, [
            {"name": names[0]},
            {"name": names[1], "listen": "tcp"},
            {"name": names[2], "max_children": 2},
            {"name": names[3], "pm": "dynamic", "max_children": 3},
            {"name": DISCOVERED, "max_children": 2},
        ])
        pools = [harness.pool_block(name, cls.fpm.address(name),
                                    **({"Interval": iv} if iv is not None else {}))
                 for name, iv in EXPLICIT.items()]
        block = harness.plugin_block("  AutoDiscover true", '  OPcacheScript "%s"' % SCRIPT,
                                     *pools, timeout=800)
        cls.cd = harness.Collectd(block, interval=INTERVAL, extra_config="ReadThreads 5")
        cls.addClassCleanup(cls._finish)
        cls.cd.start()
        cls.started = time.time()
        # Requests meanwhile, so the pools' figures move while they are read.
        cls.stop_load = threading.Event()
        cls.load_errors = []
        cls.load = threading.Thread(target=cls._load, daemon=True)
        cls.load.start()
        deadline = cls.started + RUN_SECONDS
        while time.time() < deadline:
            cls.cd.check_alive()
            time.sleep(0.25)
        cls.stop_load.set()
        cls.load.join(10)
        cls.elapsed = time.time() - cls.started

    @classmethod
    def _load(cls):
        while not cls.stop_load.is_set():
            for name in list(EXPLICIT) + [DISCOVERED]:
                try:
                    cls.fpm.request(name)
                except Exception as exc:  # noqa: BLE001 - reported by a test
                    cls.load_errors.append("%s: %r" % (name, exc))
            cls.stop_load.wait(0.05)

    @classmethod
    def _finish(cls):
        cd = cls.cd
        try:
            cd.stop()
            reports = cd.sanitizer_reports()  # also when test_z did not run
            # every report's stacks, not only the last one's
            sys.stderr.write("\n--- collectd log tail (%s) ---\n%s\n--- collectd output ---"
                             "\n%s\n" % (cls.__name__, harness.log_tail(cd.log_text()),
                                         harness.log_tail(cd.output_text(),
                                                          1000 if reports else 20)))
            if reports:
                raise AssertionError("sanitizer reports from collectd:\n" + "\n".join(reports))
        finally:
            harness.remove_tmpdir(cd.dir)

    def rows(self, name):
        return self.cd.csv_rows("fcgx-%s/fpm_up" % name)

    def test_a_every_pool_reports(self):
        """Each pool has about as many fpm_up rows as its Interval allows in the run, all 1."""
        for name, iv in list(EXPLICIT.items()) + [(DISCOVERED, None)]:
            with self.subTest(pool=name, interval=iv):
                rows = self.rows(name)
                expected = self.elapsed / (iv or INTERVAL)
                # A third of the ideal: the sanitizer builds are slow, and the host is shared.
                self.assertGreaterEqual(len(rows), max(3, int(expected / 3)), rows)
                self.assertEqual({v for _, v in rows}, {1.0}, rows)

    def test_b_each_interval_is_kept(self):
        """A pool with a shorter Interval is read more often: the callbacks run side by side
        rather than one after the other at the slowest pace."""
        counts = [len(self.rows(name)) for name in EXPLICIT]
        self.assertEqual(counts, sorted(counts, reverse=True), counts)
        self.assertGreater(counts[0], 2 * counts[3], counts)

    def test_c_status_and_opcache_figures(self):
        for name in list(EXPLICIT) + [DISCOVERED]:
            with self.subTest(pool=name):
                ids = self.cd.identifiers(name)
                self.assertIn("fpm_processes-total", ids)
                self.assertIn("fpm_requests-accepted", ids)
        self.assertEqual(self.load_errors[:5], [])

    def test_z_stops_cleanly(self):
        """SIGTERM: collectd exits 0 (TSan makes it 66 after any report), no sanitizer report."""
        self.cd.check_alive()
        rc = self.cd.stop()
        reports = self.cd.sanitizer_reports()
        self.assertEqual(reports, [], "sanitizer reports from collectd:\n%s" % "\n".join(
            reports))
        self.assertEqual(rc, 0, harness.log_tail(self.cd.output_text(), 40))


if __name__ == "__main__":
    unittest.main()
