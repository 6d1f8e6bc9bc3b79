"""OPcache, APCu and realpath-cache figures read inside the pool by fcgx-status.php: a real php-fpm
(OPcache loaded, opcache.file_update_protection=0 so fresh scripts are cached) and a real
collectd with fcgx; what collectd holds equals what the script reports when run by hand with
the independent fcgi_client.py, and each way the script can fail gives one clear log line while
the status figures keep flowing."""
import json
import os
import re
import shutil
import socket
import time
import unittest

import fcgi_client
import harness

INTERVAL = 1
TIMEOUT_MS = 800
# A row dispatched later than this after t comes from a read that started after t (a poll ends
# within Timeout of its start).
AFTER = TIMEOUT_MS / 1000.0 + 0.1
MIB = 1024 * 1024

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = harness.status_script()

OPCACHE_METRICS = {
    "opcache_memory-used", "opcache_memory-free", "opcache_memory-wasted",
    "opcache_percent-hit_rate", "opcache_percent-wasted",
    "opcache_scripts-cached", "opcache_keys-cached", "opcache_keys-max",
    "opcache_lookups-hits", "opcache_lookups-misses", "opcache_lookups-blacklist_misses",
    "opcache_restarts-oom", "opcache_restarts-hash", "opcache_restarts-manual",
    "opcache_state-enabled", "opcache_state-cache_full", "opcache_state-restart_pending",
    "opcache_state-restart_in_progress",
    "opcache_strings_memory-used", "opcache_strings_memory-free", "opcache_strings-count",
}
JIT_METRICS = {"opcache_jit_memory-size", "opcache_jit_memory-free"}
PRELOAD_METRICS = {"opcache_preload_memory", "opcache_preload-scripts",
                   "opcache_preload-functions", "opcache_preload-classes"}
APCU_METRICS = {"apcu_memory-used", "apcu_memory-free", "apcu_entries", "apcu_lookups-hits",
                "apcu_lookups-misses", "apcu_events-expunges"}
REALPATH_METRICS = {"realpath_cache-used", "realpath_cache-size"}
SCRIPT_TIME = "fpm_response_time-opcache"


def script_metrics(identifiers):
    """The identifiers that come from the in-pool script."""
    return {i for i in identifiers
            if i.startswith(("opcache", "apcu", "realpath")) or i == SCRIPT_TIME}


def run_script(address, script=SCRIPT, extra=None, timeout=3):
    """Runs the script in the pool by hand, as the plugin does; (status, body, stderr)."""
    params = {"FCGX_STATUS_REQUEST": "1"} if extra is None else extra
    out, err = fcgi_client.get(address, "/" + os.path.basename(script), script_filename=script,
                               extra=params, timeout=timeout)
    status, _, body = fcgi_client.split_response(out)
    return status, body, err


def report(address):
    status, body, err = run_script(address)
    if status != 200:
        raise AssertionError("script answered HTTP %d %r %r" % (status, body, err))
    return json.loads(body.decode())


def last(cd, ident, timeout=5):
    """The latest value of ident, exact: GETVAL prints 7 significant digits (1.250414e+08),
    the csv plugin all of them. collectd's write threads write a read's values one by one: wait
    (bounded) for a first row; None when none comes."""
    try:
        rows = harness.wait_for(lambda: cd.csv_rows(ident), timeout, interval=0.05,
                                what="a csv row of " + ident)
    except TimeoutError:
        return None
    return rows[-1][1]


def row_after(cd, ident, t, timeout=5):
    """The first csv row of ident read entirely after time t."""
    def find():
        cd.check_alive()
        return next((r for r in cd.csv_rows(ident) if r[0] > t + AFTER), None)
    return harness.wait_for(find, timeout, interval=0.05, what="a row of %s after %.2f" % (ident, t))


def row_before(cd, ident, t):
    rows = [r for r in cd.csv_rows(ident) if r[0] < t]
    if not rows:
        raise AssertionError("no row of %s before %.2f" % (ident, t))
    return rows[-1]


class OpcacheFigures(unittest.TestCase):
    """One master with OPcache and APCu. www: the script through the pool's socket; sat: through
    pm.status_listen; ctl: like www, idle; nooc: OPcache false."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [
            {"name": "www"},
            {"name": "sat", "max_children": 2, "status_listen": "unix"},
            {"name": "ctl", "max_children": 2},
            {"name": "nooc", "max_children": 2},
        ], ini="extension=apcu.so\napc.enabled=1\n")
        block = harness.plugin_block(
            harness.pool_block("www", cls.fpm.address("www"), OPcacheScript=SCRIPT),
            harness.pool_block("sat", cls.fpm.address("sat"), cls.fpm.status_address("sat"),
                               OPcacheScript=SCRIPT),
            harness.pool_block("ctl", cls.fpm.address("ctl"), OPcacheScript=SCRIPT),
            harness.pool_block("nooc", cls.fpm.address("nooc"), OPcache=False),
            timeout=TIMEOUT_MS)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        for pool in ("www", "sat", "ctl"):
            cls.cd.wait_value("fcgx-%s/opcache_scripts-cached" % pool, timeout=10)
        cls.cd.settle("fcgx-www/opcache_lookups-hits", 2, 5)

    def g(self, pool, name):
        return last(self.cd, "fcgx-%s/%s" % (pool, name))

    def test_no_complaints(self):
        """Healthy pools log nothing about OPcache."""
        self.assertEqual(self.cd.log_lines("OPcache"), [])

    def test_metric_set(self):
        """Every figure this master supports (OPcache without JIT or preloading, APCu, realpath
        cache), no JIT or preload figures, and none at all with OPcache false."""
        expected = OPCACHE_METRICS | APCU_METRICS | REALPATH_METRICS | {SCRIPT_TIME}
        for pool in ("www", "sat", "ctl"):
            with self.subTest(pool=pool):
                ids = self.cd.identifiers(pool)
                self.assertEqual(script_metrics(ids), expected)
                self.assertFalse(ids & (JIT_METRICS | PRELOAD_METRICS))
                self.assertTrue(expected <= self.cd.csv_type_instances(pool))
        self.assertEqual(script_metrics(self.cd.identifiers("nooc")), set())
        self.assertIn("fpm_processes-total", self.cd.identifiers("nooc"))

    def test_values_equal_script_by_hand(self):
        """What collectd holds equals what the script reports when run by hand."""
        addr = self.fpm.address("www")
        rep = report(addr)
        oc = rep["opcache"]
        self.assertIs(oc["opcache_enabled"], True)
        self.assertNotIn("jit_memory", rep)
        self.assertEqual(oc["jit"]["buffer_size"], 0)
        self.assertNotIn("preload_statistics", oc)
        mem = oc["memory_usage"]
        total = mem["used_memory"] + mem["free_memory"] + mem["wasted_memory"]
        self.assertEqual(total, 128 * MIB)  # opcache.memory_consumption's default
        self.assertEqual(self.g("www", "opcache_state-enabled"), 1.0)
        for name in ("cache_full", "restart_pending", "restart_in_progress"):
            self.assertEqual(self.g("www", "opcache_state-" + name), float(oc[name]), name)
        self.assertEqual(self.g("www", "opcache_keys-max"),
                         oc["opcache_statistics"]["max_cached_keys"])
        self.assertEqual(self.g("www", "realpath_cache-size"), rep["realpath_cache"]["size"])
        self.assertEqual(rep["realpath_cache"]["size"], 4 * MIB)
        for name in ("hit_rate", "wasted"):
            v = self.g("www", "opcache_percent-" + name)
            self.assertTrue(v is not None and 0 <= v <= 100, (name, v))
        v = self.g("www", SCRIPT_TIME)
        self.assertTrue(v is not None and 0 < v < TIMEOUT_MS / 1000.0, v)

        # With no traffic but the plugin's own (the script is cached by now), the moving figures
        # are still: one read by hand and collectd's latest agree on them too.
        def pairs():
            r = report(addr)
            o = r["opcache"]
            return [
                ("opcache_scripts-cached", o["opcache_statistics"]["num_cached_scripts"]),
                ("opcache_keys-cached", o["opcache_statistics"]["num_cached_keys"]),
                ("opcache_memory-used", o["memory_usage"]["used_memory"]),
                ("opcache_memory-wasted", o["memory_usage"]["wasted_memory"]),
                ("opcache_strings-count", o["interned_strings_usage"]["number_of_strings"]),
                ("opcache_strings_memory-used", o["interned_strings_usage"]["used_memory"]),
                ("apcu_memory-free", r["apcu"]["avail_mem"]),
                ("apcu_entries", r["apcu"]["num_entries"]),
            ]
        apcu = rep["apcu"]
        sums = [  # (collectd identifiers, the total the script reports)
            (["opcache_memory-used", "opcache_memory-free", "opcache_memory-wasted"], total),
            (["opcache_strings_memory-used", "opcache_strings_memory-free"],
             oc["interned_strings_usage"]["buffer_size"]),
            (["apcu_memory-used", "apcu_memory-free"], apcu["seg_size"] * apcu["num_seg"]),
        ]
        seen = {}

        def agree():
            # GETVALs of one identifier after another may straddle a read: retry.
            seen["diff"] = [(k, self.g("www", k), v) for k, v in pairs()
                            if self.g("www", k) != float(v)]
            seen["diff"] += [(ids, [self.g("www", i) for i in ids], v) for ids, v in sums
                             if sum(self.g("www", i) for i in ids) != float(v)]
            return not seen["diff"]
        try:
            harness.wait_for(agree, 4, interval=0.3, what="collectd to agree with the script")
        except TimeoutError:
            self.fail("collectd vs script (ident, collectd, script): %r" % (seen["diff"],))
        self.assertGreater(self.g("www", "apcu_memory-used"), 0)

    def test_scripts_cached_and_hits_grow(self):
        """N fresh scripts are cached (scripts-cached grows by N, misses by N at least), and
        M requests to cached scripts add at least M hits to the raw counter."""
        n, m = 12, 30
        names = []
        for i in range(n):
            name = "fresh_%d_%d.php" % (os.getpid(), i)
            path = self.fpm.script(name)
            with open(path, "w") as f:
                f.write("<?php echo %d;\n" % i)
            os.chmod(path, 0o644)
            names.append(name)
        t0 = time.time()
        cached0 = row_before(self.cd, "fcgx-www/opcache_scripts-cached", t0)[1]
        hits0 = row_before(self.cd, "fcgx-www/opcache_lookups-hits", t0)[1]
        misses0 = row_before(self.cd, "fcgx-www/opcache_lookups-misses", t0)[1]
        for name in names:
            self.fpm.request("www", name)
        t1 = time.time()
        cached1 = row_after(self.cd, "fcgx-www/opcache_scripts-cached", t1)[1]
        self.assertGreaterEqual(cached1, n)
        self.assertGreaterEqual(cached1, cached0 + n)
        misses1 = row_after(self.cd, "fcgx-www/opcache_lookups-misses", t1)[1]
        self.assertGreaterEqual(misses1, misses0 + n)
        hits1 = row_after(self.cd, "fcgx-www/opcache_lookups-hits", t1)[1]
        for i in range(m):
            self.fpm.request("www", names[i % n])
        t2 = time.time()
        hits2 = row_after(self.cd, "fcgx-www/opcache_lookups-hits", t2)[1]
        self.assertGreaterEqual(hits2 - hits1, m, (hits0, hits1, hits2))
        # GETVAL answers a rate for a DERIVE: the traffic (and the script's own hit) show.
        self.assertGreater(self.cd.getval("fcgx-www/opcache_lookups-hits"), 0)
        # One cache per master: the idle pool of the same master reports the same scripts.
        ctl = row_after(self.cd, "fcgx-ctl/opcache_scripts-cached", t1)[1]
        self.assertGreaterEqual(ctl, cached0 + n)

    def test_apcu(self):
        """apcu_store/apcu_fetch in the pool: entries equal those stored, hits and misses grow by
        exactly the lookups made (the script's own apcu_cache_info counts none)."""
        stored, misses = 7, 3
        path = self.fpm.script("apcu.php")
        with open(path, "w") as f:
            f.write("<?php\n$h = 0; $m = 0;\n"
                    "for ($i = 0; $i < %d; $i++) apcu_store('fcgx_k' . $i, str_repeat('v', 200));\n"
                    "for ($i = 0; $i < %d; $i++) if (apcu_fetch('fcgx_k' . $i) !== false) $h++;\n"
                    "for ($i = 0; $i < %d; $i++) if (apcu_fetch('fcgx_absent' . $i) === false) $m++;\n"
                    "echo \"$h $m\";\n" % (stored, stored, misses))
        os.chmod(path, 0o644)
        t0 = time.time()
        before = {k: row_before(self.cd, "fcgx-www/" + k, t0)[1]
                  for k in ("apcu_lookups-hits", "apcu_lookups-misses", "apcu_memory-used")}
        self.assertEqual(self.fpm.request("www", "apcu.php"), b"%d %d" % (stored, misses))
        t1 = time.time()
        after = {k: row_after(self.cd, "fcgx-www/" + k, t1)[1]
                 for k in ("apcu_lookups-hits", "apcu_lookups-misses", "apcu_memory-used",
                           "apcu_entries", "apcu_events-expunges")}
        self.assertEqual(after["apcu_entries"], stored)
        self.assertEqual(after["apcu_lookups-hits"] - before["apcu_lookups-hits"], stored)
        self.assertEqual(after["apcu_lookups-misses"] - before["apcu_lookups-misses"], misses)
        self.assertGreater(after["apcu_memory-used"], before["apcu_memory-used"])
        self.assertEqual(after["apcu_events-expunges"], 0)
        rep = report(self.fpm.address("www"))["apcu"]
        self.assertEqual(rep["num_entries"], stored)
        self.assertEqual(self.g("www", "apcu_entries"), float(rep["num_entries"]))
        # Shared by the master's pools, like OPcache.
        self.assertEqual(self.cd.wait_value("fcgx-ctl/apcu_entries", lambda v: v == stored, 3),
                         stored)

    def test_script_answers_only_the_plugin(self):
        """Without the plugin's own FastCGI parameter: 404 and no body, also when it comes as a
        forwarded header (HTTP_FCGX_STATUS_REQUEST)."""
        addr = self.fpm.address("www")
        for extra in ({}, {"HTTP_FCGX_STATUS_REQUEST": "1"}):
            with self.subTest(extra=extra):
                status, body, err = run_script(addr, extra=extra)
                self.assertEqual((status, body, err), (404, b"", b""))
        status, body, _ = run_script(addr)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body.decode())["fcgx"], 1)

    def test_status_socket_while_saturated(self):
        """Every worker of sat busy: the pool's own socket answers nothing within 0.5 s, yet
        the OPcache figures keep coming every interval through pm.status_listen."""
        # Held long enough for a loaded machine: saturation is seen at the first read after the
        # requests start (up to an interval), then two more reads are awaited; the check at the
        # end makes sure they all came while the workers were still busy.
        seconds = 6.0
        held = time.time()  # the requests start after this, and end after held + seconds
        busy = self.fpm.hold_busy("sat", 2, seconds)
        try:
            self.cd.wait_value("fcgx-sat/fpm_processes-active", lambda v: v == 2.0, timeout=3)
            t = time.time()
            with self.assertRaises((socket.timeout, TimeoutError)):
                run_script(self.fpm.address("sat"), timeout=0.5)
            rows = harness.wait_for(
                lambda: (lambda r: r if len(r) >= 2 else None)(
                    [r for r in self.cd.csv_rows("fcgx-sat/" + SCRIPT_TIME) if r[0] > t + AFTER]),
                4.5, interval=0.05, what="2 script reads during saturation")
            self.assertTrue(all(v < 0.5 for _, v in rows), rows)
            self.assertGreater(row_after(self.cd, "fcgx-sat/opcache_scripts-cached", t)[1], 0)
            self.assertEqual(self.cd.getval("fcgx-sat/fpm_processes-active"), 2.0)
            self.assertLess(time.time() - held, seconds - 0.2, "the workers were free again")
        finally:
            self.assertTrue(busy.join(seconds + 10))
        self.assertEqual(busy.errors, [])
        self.assertEqual(self.cd.log_lines('pool "sat"'), [])

    def test_opcache_false_costs_one_request_less(self):
        """Idle pools: accepted conn grows by status + ping (2) per interval with OPcache false,
        by status + ping + script (3) with OPcache true."""
        def deltas(pool, k=4):
            ident = "fcgx-%s/fpm_requests-accepted" % pool
            start = len(self.cd.csv_rows(ident))
            rows = self.cd.wait_rows(ident, start + k + 1, k + 4)[-(k + 1):]
            return [b[1] - a[1] for a, b in zip(rows, rows[1:])]
        self.assertEqual(deltas("nooc"), [2.0] * 4)
        self.assertEqual(deltas("ctl"), [3.0] * 4)


class JitAndPreload(unittest.TestCase):
    """A master with JIT (16 MiB tracing buffer) and a preload script of 2 functions, 1 class."""

    @classmethod
    def setUpClass(cls):
        pre_dir = harness.make_tmpdir("fcgx-preload-")
        cls.addClassCleanup(harness.remove_tmpdir, pre_dir)
        preload = os.path.join(pre_dir, "preload.php")
        with open(preload, "w") as f:
            f.write("<?php\nfunction fcgx_preloaded_one() { return 1; }\n"
                    "function fcgx_preloaded_two() { return 2; }\n"
                    "class FcgxPreloaded { public function three() { return 3; } }\n")
        os.chmod(preload, 0o644)
        cls.fpm = harness.start_fpm(cls, [{"name": "jit", "max_children": 2}], ini=(
            "opcache.jit_buffer_size=16M\nopcache.jit=tracing\n"
            "opcache.preload=%s\nopcache.preload_user=nobody\n" % preload))
        block = harness.plugin_block(
            harness.pool_block("jit", cls.fpm.address("jit"), OPcacheScript=SCRIPT),
            timeout=TIMEOUT_MS)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_value("fcgx-jit/opcache_preload-classes", timeout=10)

    def g(self, name):
        return last(self.cd, "fcgx-jit/" + name)

    def test_metric_set(self):
        self.assertEqual(script_metrics(self.cd.identifiers("jit")),
                         OPCACHE_METRICS | JIT_METRICS | PRELOAD_METRICS | REALPATH_METRICS
                         | {SCRIPT_TIME})

    def test_jit(self):
        rep = report(self.fpm.address("jit"))["opcache"]["jit"]
        size = self.g("opcache_jit_memory-size")
        self.assertEqual(size, rep["buffer_size"])
        self.assertTrue(16 * MIB - 4096 <= size <= 16 * MIB, size)
        free = self.g("opcache_jit_memory-free")
        self.assertTrue(0 < free <= size, (free, size))

    def test_preload(self):
        rep = report(self.fpm.address("jit"))["opcache"]["preload_statistics"]
        self.assertGreaterEqual(self.g("opcache_preload-functions"), 2)
        self.assertGreaterEqual(self.g("opcache_preload-classes"), 1)
        self.assertGreaterEqual(self.g("opcache_preload-scripts"), 1)
        self.assertGreater(self.g("opcache_preload_memory"), 0)
        self.assertEqual(self.g("opcache_preload-functions"), rep["functions"])
        self.assertEqual(self.g("opcache_preload-classes"), rep["classes"])
        self.assertEqual(self.g("opcache_preload-scripts"), rep["scripts"])
        self.assertEqual(self.g("opcache_preload_memory"), rep["memory_consumption"])


class ScriptFailures(unittest.TestCase):
    """Each way the script fails: one log line naming the pool and what to change, logged once,
    while status and ping keep reporting every interval.

    opc (OPcache loaded): pools plain, noext (security.limit_extensions = .php7) and padmin
    (php_admin_value: opcache.restrict_api = /nonexistent, realpath_cache_size = 1M); bare: no OPcache in php.ini;
    restr: opcache.restrict_api=/nonexistent in php.ini. collectd pools: noext, missing (a path
    that does not exist), late (a path created during the test), notloaded, restricted,
    padmin."""

    POOLS = ("noext", "missing", "late", "notloaded", "restricted", "padmin")
    ROWS = 5  # intervals before the tests look: the first complaint and 4 silent repeats

    @classmethod
    def setUpClass(cls):
        cls.opc = harness.start_fpm(cls, [
            {"name": "plain", "max_children": 2},
            {"name": "noext", "max_children": 2, "extra": {"security.limit_extensions": ".php7"}},
            {"name": "padmin", "max_children": 2,
             "extra": {"php_admin_value[opcache.restrict_api]": "/nonexistent",
                       "php_admin_value[realpath_cache_size]": "1M"}},
        ])
        cls.bare = harness.start_fpm(cls, [{"name": "bare", "max_children": 2}], opcache=False)
        cls.restr = harness.start_fpm(cls, [{"name": "restr", "max_children": 2}],
                                      ini="opcache.restrict_api=/nonexistent\n")
        cls.missing_path = cls.opc.script("nowhere/fcgx-status.php")
        cls.late_path = cls.opc.script("late-fcgx-status.php")
        # The script as another pool of the master compiles it first: whatever it computes at
        # compile time is then shared by every pool of the master.
        report(cls.opc.address("plain"))
        block = harness.plugin_block(
            harness.pool_block("noext", cls.opc.address("noext"), OPcacheScript=SCRIPT),
            harness.pool_block("missing", cls.opc.address("plain"),
                               OPcacheScript=cls.missing_path),
            harness.pool_block("late", cls.opc.address("plain"), OPcacheScript=cls.late_path),
            harness.pool_block("notloaded", cls.bare.address("bare"), OPcacheScript=SCRIPT),
            harness.pool_block("restricted", cls.restr.address("restr"), OPcacheScript=SCRIPT),
            harness.pool_block("padmin", cls.opc.address("padmin"), OPcacheScript=SCRIPT),
            timeout=TIMEOUT_MS)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        for pool in cls.POOLS:
            cls.cd.settle("fcgx-%s/fpm_processes-total" % pool, cls.ROWS, cls.ROWS + 5)

    def complaints(self, pool):
        return self.cd.log_lines(r'fcgx plugin: pool "%s": no OPcache figures: ' % pool)

    def check_failure(self, pool, patterns, state_enabled=None, realpath=False):
        lines = self.complaints(pool)
        self.assertEqual(len(lines), 1, "want one line, logged once:\n" + "\n".join(lines))
        for pattern in patterns:
            self.assertRegex(lines[0], pattern)
        # Status keeps reporting every interval, and the pool is up.
        rows = self.cd.csv_rows("fcgx-%s/fpm_processes-total" % pool)
        self.assertGreaterEqual(len(rows), self.ROWS)
        self.assertTrue(all(g <= 1.5 * INTERVAL for g in harness.gaps(rows)), rows)
        self.assertLess(time.time() - rows[-1][0], 2.5 * INTERVAL)
        up = self.cd.csv_rows("fcgx-%s/fpm_up" % pool)
        self.assertEqual({v for _, v in up}, {1.0})
        self.assertIsNotNone(self.cd.getval("fcgx-%s/fpm_response_time-ping" % pool))
        self.assertEqual(self.cd.log_lines(r'pool "%s": (down|no status)' % pool), [])
        # No OPcache figures but opcache_state-enabled 0 where the script says it is missing.
        ids = script_metrics(self.cd.identifiers(pool))
        want = set()
        if state_enabled is not None:
            want.add("opcache_state-enabled")
            self.assertEqual(self.cd.getval("fcgx-%s/opcache_state-enabled" % pool),
                             state_enabled)
        if realpath:
            want |= REALPATH_METRICS | {SCRIPT_TIME}
        self.assertEqual(ids, want)

    def test_opcache_not_loaded(self):
        self.check_failure("notloaded", [r"OPcache is not loaded", r"zend_extension=opcache\.so"],
                           state_enabled=0.0, realpath=True)

    def test_limit_extensions_refuses(self):
        self.check_failure("noext", [r"refuses to run %s" % re.escape(SCRIPT), r"HTTP 403",
                                     r"security\.limit_extensions"])

    def test_missing_script(self):
        self.check_failure("missing", [r"cannot find %s \(HTTP 404\)" % re.escape(
            self.missing_path)])

    def test_restrict_api(self):
        self.check_failure("restricted", [r"restrict_api", r"/nonexistent",
                                          re.escape(SCRIPT)], realpath=True)

    def test_restrict_api_per_pool(self):
        """restrict_api set for one pool only (php_admin_value), after another pool of the same
        master has run the script: still named as restrict_api, not as OPcache being off."""
        self.assertEqual(run_script(self.opc.address("padmin"))[0], 200)
        self.check_failure("padmin", [r"restrict_api", r"/nonexistent"], realpath=True)

    def test_realpath_cache_size_per_pool(self):
        """realpath_cache_size set for one pool only: that pool's size, not the master's."""
        rows = self.cd.csv_rows("fcgx-padmin/realpath_cache-size")
        self.assertTrue(rows)
        self.assertEqual({v for _, v in rows}, {float(MIB)})

    def test_recovery(self):
        """The missing script appears while collectd runs: one recovery line, figures come."""
        self.assertEqual(len(self.complaints("late")), 1)
        self.assertRegex(self.complaints("late")[0], r"cannot find %s \(HTTP 404\)"
                         % re.escape(self.late_path))
        recovered = r'fcgx plugin: pool "late": OPcache figures readable again'
        self.assertEqual(self.cd.log_lines(recovered), [])
        tmp = self.late_path + ".tmp"
        shutil.copy(SCRIPT, tmp)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.late_path)
        t = time.time()
        harness.wait_for(lambda: self.cd.log_lines(recovered), 4, interval=0.05,
                         what="the recovery line")
        self.cd.wait_value("fcgx-late/opcache_state-enabled", lambda v: v == 1.0, timeout=3)
        row_after(self.cd, "fcgx-late/opcache_scripts-cached", t + 2 * INTERVAL, timeout=5)
        self.assertEqual(len(self.cd.log_lines(recovered)), 1)
        self.assertEqual(len(self.complaints("late")), 1)
        self.assertEqual(script_metrics(self.cd.identifiers("late")),
                         OPCACHE_METRICS | REALPATH_METRICS | {SCRIPT_TIME})


if __name__ == "__main__":
    unittest.main()
