"""AutoDiscover with a real php-fpm and a real collectd that has no <Pool> block for the pools it
finds: every pool of a running master with pm.status_path is polled (unix, TCP, pm.status_listen),
a pool without it is named in the log with what to add; pm.max_children gives
fpm_processes-limit and fpm_utilization-active; /proc gives the workers' count, CPU and memory;
OPcache is read through one pool of the master and dispatched under the master's name; an
explicit <Pool> block wins over the discovered pool of its name; a master started later is
picked up, its reload noticed (the pools keep reporting) and its stop logged (its pools go).

Other php-fpm masters may run on this host (other tests, benchmarks): AutoDiscover sees them
too, so every assertion is about this test's masters, found by their configuration path, their
PID and pool names carrying a random suffix, never about how many masters there are.
"""
import os
import re
import shutil
import sys
import time
import unittest
import uuid

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT_SOURCE = os.path.join(SOURCE_DIR, "src", "fcgx-status.php")
# The plugin's default OPcacheScript (cmake --install puts it there); AutoDiscover has no option
# to point elsewhere, so the test installs it for its duration when it is missing.
DEFAULT_SCRIPT = "/usr/share/collectd/fcgx/fcgx-status.php"

INTERVAL = 1
RESCAN = 5  # DISCOVERY_RESCAN in fcgx.c
NOTICED_WITHIN = RESCAN + 3 * INTERVAL + 2  # a rescan, a read, and slack for a loaded host

SFX = uuid.uuid4().hex[:6]
U, T, S, N, X = ("du" + SFX, "dt" + SFX, "ds" + SFX, "dn" + SFX, "dx" + SFX)
B1, B2, BX = ("db1" + SFX, "db2" + SFX, "dbx" + SFX)
P_POOLS = ["dp%02d%s" % (i, SFX) for i in range(12)]


class Fpm(harness.PhpFpm):
    """PhpFpm where a pool spec with "no_status": True has no pm.status_path."""

    def _write_config(self):
        super()._write_config()
        with open(self.conf) as f:
            text = f.read()
        for name, p in self.pools.items():
            if not p.get("no_status"):
                continue
            head, sep, rest = text.partition("[%s]\n" % name)
            section, nxt, tail = rest.partition("\n[")
            assert "pm.status_path = /status\n" in section, section
            text = head + sep + section.replace("pm.status_path = /status\n", "") + nxt + tail
        with open(self.conf, "w") as f:
            f.write(text)


def start_master(case_cls, pools, start=True):
    """An Fpm for the class, stopped and removed by a class cleanup (started unless start is
    False)."""
    fpm = Fpm(pools)

    def finish():
        fpm.stop()
        sys.stderr.write("\n--- php-fpm log tail (%s, %s) ---\n%s\n" % (
            case_cls.__name__, fpm.conf, harness.log_tail(fpm.log_text(), 10)))
        harness.remove_tmpdir(fpm.dir)
    case_cls.addClassCleanup(finish)
    return fpm.start() if start else fpm


def install_default_script(case_cls):
    """Installs src/fcgx-status.php at the default OPcacheScript path (mode 0444) unless it is
    there already; a class cleanup removes only what this installed."""
    if os.path.exists(DEFAULT_SCRIPT):
        return
    folder = os.path.dirname(DEFAULT_SCRIPT)
    made_folder = not os.path.isdir(folder)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    tmp = DEFAULT_SCRIPT + ".%s.tmp" % SFX
    shutil.copy(SCRIPT_SOURCE, tmp)
    os.chmod(tmp, 0o444)
    os.rename(tmp, DEFAULT_SCRIPT)

    def remove():
        try:
            os.unlink(DEFAULT_SCRIPT)
            if made_folder:
                os.rmdir(folder)
        except OSError:
            pass
    case_cls.addClassCleanup(remove)


def discover_message(line):
    """The text of an AutoDiscover log line after its prefix."""
    return line.split("fcgx plugin: AutoDiscover: ", 1)[-1]


def master_segment(lines, pid, conf):
    """What the AutoDiscover lines say about master PID (CONF): its line and the pool lines that
    follow it, up to the next master or scan; None when no line names it."""
    head = "master %d (%s):" % (pid, conf)
    for i, line in enumerate(lines):
        if discover_message(line).startswith(head):
            block = [discover_message(line)]
            for follower in lines[i + 1:]:
                text = discover_message(follower)
                if text.startswith("master ") or text.endswith("php-fpm master(s)"):
                    break
                block.append(text)
            return "\n".join(block) + "\n"
    return None


def find_segment(lines, pid, conf):
    """The last report about master PID (CONF) in lines, or None."""
    found = None
    for i, line in enumerate(lines):
        if discover_message(line).startswith("master %d (%s):" % (pid, conf)):
            found = master_segment(lines[i:], pid, conf)
    return found


def notifications(cd, severity, pool, type_="fpm_up"):
    """(log time, message) of the notifications collectd's logfile plugin wrote for pool."""
    rx = re.compile(r"^\[([^\]]+)\] Notification: severity = %s, host = [^,]*, plugin = fcgx, "
                    r"plugin_instance = %s, type = %s, (?:type_instance = [^,]*, )?"
                    r"message = (.*)$" % (severity, re.escape(pool), re.escape(type_)))
    out = []
    for line in cd.log_text().splitlines():
        m = rx.match(line)
        if m:
            out.append((time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")),
                        m.group(2)))
    return out


def master_instances(fpm):
    """The names the plugin may give this master (src/autodiscover.c master_instance): the binary's
    basename when it reads Debian's default configuration, else with the configuration path
    ('/' as '_'); with the pid added when two masters would share a name."""
    base = os.path.basename(os.readlink("/proc/%d/exe" % fpm.proc.pid))
    name = base + "_" + fpm.conf.lstrip("/").replace("/", "_")
    if fpm.conf == "/etc/php/%s/fpm/php-fpm.conf" % base[len("php-fpm"):]:
        name = base
    return {name, "%s_%d" % (name, fpm.proc.pid)}


def accepted_deltas(cd, pool, after, count, timeout):
    """Differences between consecutive raw accepted-conn counters (csv) of rows polled after
    `after`: count of them, waited for."""
    ident = "fcgx-%s/fpm_requests-accepted" % pool

    def enough():
        cd.check_alive()
        rows = [v for t, v in cd.csv_rows(ident) if t > after]
        return rows if len(rows) > count else None
    rows = harness.wait_for(enough, timeout, interval=0.1, what="%d csv rows of %s"
                            % (count + 1, ident))
    return [b - a for a, b in zip(rows, rows[1:])][:count]


class AutoDiscover(unittest.TestCase):
    """Master P: 12 ondemand pools without pm.status_path. Master A: du (unix, static 3, first:
    reads OPcache), dt (TCP, dynamic up to 4), ds (unix, pm.status_listen, static 2), dn (no
    pm.status_path), dx (unix; also an explicit <Pool> block with ProcessDetails false and
    OPcache false). Master B, started once collectd runs: dbx
    (first; an explicit <Pool> block, OPcache false), db1 (unix), db2 (TCP)."""

    @classmethod
    def setUpClass(cls):
        install_default_script(cls)
        # Master P, started first (so listed before A): a dozen ondemand pools (no workers)
        # without pm.status_path, each named in the log with what to add.
        cls.p = start_master(cls, [{"name": name, "pm": "ondemand", "max_children": 1,
                                    "no_status": True} for name in P_POOLS])
        cls.a = start_master(cls, [
            {"name": U, "max_children": 3},
            {"name": T, "listen": "tcp", "pm": "dynamic", "max_children": 4,
             "start_servers": 2, "min_spare": 1, "max_spare": 3},
            {"name": S, "max_children": 2, "status_listen": "unix"},
            {"name": N, "max_children": 1, "no_status": True},
            {"name": X, "max_children": 2},
        ])
        cls.b = start_master(cls, [
            {"name": BX, "max_children": 1},
            {"name": B1, "max_children": 2},
            {"name": B2, "listen": "tcp", "max_children": 2},
        ], start=False)
        block = harness.plugin_block(
            "  AutoDiscover true",
            harness.pool_block(X, cls.a.address(X), ProcessDetails=False, OPcache=False),
            harness.pool_block(BX, cls.b.address(BX), OPcache=False))
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_rows("fcgx-%s/fpm_up" % U, 2, 10)
        cls.lines_at_start = len(cls.cd.log_lines(r"fcgx plugin: AutoDiscover: "))
        cls.b.start()
        cls.b_started = time.time()

    # -- helpers

    def discover_lines(self, after_count=0):
        return self.cd.log_lines(r"fcgx plugin: AutoDiscover: ")[after_count:]

    def fresh(self, ident, within=3 * INTERVAL + 1):
        t = self.cd.listval().get(ident)
        return t is not None and time.time() - t <= within

    def opcache_instance(self, fpm, timeout=NOTICED_WITHIN):
        """The plugin instance under which fpm's OPcache is being dispatched now."""
        names = master_instances(fpm)

        def find():
            self.cd.check_alive()
            now = time.time()
            found = [k.split("/", 1)[0][len("fcgx-"):] for k, t in self.cd.listval().items()
                     if k.endswith("/opcache_state-enabled") and now - t <= 3 * INTERVAL + 1
                     and k.split("/", 1)[0][len("fcgx-"):] in names]
            return found[0] if len(found) == 1 else None
        try:
            return harness.wait_for(find, timeout, interval=0.2,
                                    what="OPcache of master %s under one of %s" % (fpm.conf, names))
        except TimeoutError as exc:
            held = sorted(k for k in self.cd.listval() if "/opcache_state-enabled" in k)
            raise AssertionError("%s; collectd holds %s" % (exc, held)) from None

    # -- master A, as found at start

    def test_a0_start_log_names_the_master_and_its_pools(self):
        lines = self.discover_lines()[:self.lines_at_start]
        self.assertTrue(lines, "no AutoDiscover line:\n" + harness.log_tail(self.cd.log_text()))
        segment = find_segment(lines, self.a.proc.pid, self.a.conf)
        self.assertIsNotNone(segment, "no AutoDiscover line at start names master %d (%s) "
                             "(collectd cuts a log message at 1023 bytes):\n%s" % (
                                 self.a.proc.pid, self.a.conf, "\n".join(lines)))
        pid = self.a.proc.pid
        self.assertIn("pool %s (master %d): %s, reads the master's OPcache\n"
                      % (U, pid, self.a.address(U)), segment)
        self.assertRegex(segment, r"pool %s \(master %d\): 127\.0\.0\.1:%d\n"
                         % (T, pid, self.a.address(T)[1]))
        self.assertIn("pool %s (master %d): %s, status through pm.status_listen\n"
                      % (S, pid, self.a.address(S)), segment)
        self.assertIn("pool %s (master %d) not polled: add `pm.status_path = /status` to [%s] "
                      "in %s\n" % (N, pid, N, self.a.conf), segment)
        self.assertEqual(segment.count("reads the master's OPcache"), 1, segment)

    def test_a_every_pool_without_status_path_is_named(self):
        """Master P has 12 pools without pm.status_path: each is named, with what to add, in
        what is logged at start (however long that is)."""
        text = "\n".join(self.discover_lines()[:self.lines_at_start])
        missing = [name for name in P_POOLS
                   if "pool %s (master %d) not polled: add `pm.status_path = /status` to [%s] "
                   "in %s" % (name, self.p.proc.pid, name, self.p.conf) not in text]
        self.assertEqual(missing, [], "pools of master %d (%s) not named in the log:\n%s"
                         % (self.p.proc.pid, self.p.conf, text))
        for name in P_POOLS[:2]:
            self.assertEqual(self.cd.identifiers(name), set())

    def test_b_every_pool_with_a_status_path_reports(self):
        cd = self.cd
        for pool, static in ((U, True), (T, False), (S, True)):
            with self.subTest(pool=pool):
                spec = self.a.pools[pool]
                self.assertEqual(cd.wait_value("fcgx-%s/fpm_up" % pool), 1)
                self.assertEqual(cd.wait_value("fcgx-%s/fpm_processes-limit" % pool),
                                 spec["max_children"])

                def same_total(pool=pool):
                    ours = cd.getval("fcgx-%s/fpm_processes-total" % pool)
                    theirs = self.a.status(pool)["total processes"]
                    workers = cd.getval("fcgx-%s/fpm_workers-count" % pool)
                    return ours == theirs == workers and (ours, workers)
                total, workers = harness.wait_for(same_total, 6, interval=0.2,
                                                  what="%s: processes-total == php-fpm's total "
                                                  "== workers-count" % pool)
                if static:
                    self.assertEqual(total, spec["max_children"])
                self.assertGreater(cd.wait_value("fcgx-%s/fpm_workers_memory-rss" % pool), 0)
                have = cd.identifiers(pool)
                for ident in ("fpm_workers_cpu", "fpm_processes-state_idle",
                              "fpm_utilization-active", "fpm_queue-kernel",
                              "fpm_queue-kernel_max", "uptime"):
                    self.assertIn(ident, have)
        self.assertEqual(cd.identifiers(N), set(), "a pool without pm.status_path is polled")

    def test_c_utilization_while_workers_are_busy(self):
        busy = self.a.hold_busy(U, 2, 4)
        self.addCleanup(busy.join, 15)

        def two_active():
            active = self.cd.getval("fcgx-%s/fpm_processes-active" % U)
            util = self.cd.getval("fcgx-%s/fpm_utilization-active" % U)
            return active == 2 and util is not None and abs(util - 200.0 / 3) < 0.01 and util
        util = harness.wait_for(two_active, 4, interval=0.1,
                                what="%s: 2 active of 3, utilization 66.7 %%" % U)
        self.assertAlmostEqual(util, 100.0 * 2 / 3, places=3)
        self.assertEqual(self.cd.getval("fcgx-%s/fpm_workers-count" % U), 3)
        self.assertTrue(busy.join(15), "the busy requests did not finish")
        self.assertEqual(busy.errors, [])
        self.cd.wait_value("fcgx-%s/fpm_utilization-active" % U, lambda v: v == 0, timeout=4)

    def test_d_opcache_once_per_master(self):
        instance = self.opcache_instance(self.a)
        have = self.cd.identifiers(instance)
        for ident in ("opcache_state-enabled", "opcache_memory-used", "opcache_scripts-cached",
                      "opcache_lookups-hits", "opcache_restarts-oom"):
            self.assertIn(ident, have)
        self.assertEqual(self.cd.getval("fcgx-%s/opcache_state-enabled" % instance), 1)
        self.assertGreater(self.cd.getval("fcgx-%s/opcache_memory-used" % instance), 0)
        # Nothing but the cache under the master's name; the cache under no pool's name.
        self.assertEqual({i for i in have if not i.startswith(("opcache_", "apcu_"))}, set())
        for pool in (U, T, S, X):
            cache = {i for i in self.cd.identifiers(pool) if i.startswith(("opcache_", "apcu_"))}
            self.assertEqual(cache, set(), pool)
        # The realpath cache is per worker: it stays under the reader pool's own name.
        self.assertIn("realpath_cache-used", self.cd.identifiers(U))
        self.assertNotIn("realpath_cache-used", self.cd.identifiers(T))
        # Only the reader runs the script: status, ping and script on du, status and ping on dt,
        # nothing on ds's own socket (status_listen).
        after = time.time()
        for pool, per_read in ((U, 3), (T, 2), (S, 0)):
            with self.subTest(pool=pool):
                deltas = accepted_deltas(self.cd, pool, after, 4, 4 * INTERVAL + 6)
                # a 500/503 from php-fpm's scoreboard race adds a retry now and then
                self.assertEqual(min(deltas), per_read, deltas)
                self.assertGreaterEqual(deltas.count(per_read), 3, deltas)

    def test_e_explicit_pool_block_wins(self):
        """dx has an explicit <Pool> block (ProcessDetails false, OPcache false): it is polled
        once, as configured (no per-process figures); like any local pool, its master is found
        by its address, for its workers and pm.max_children."""
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_up" % X), 1)
        self.cd.wait_value("fcgx-%s/fpm_processes-total" % X, lambda v: v == 2)
        have = self.cd.identifiers(X)
        for ident in ("fpm_processes-state_idle", "fpm_request_duration-avg"):
            self.assertNotIn(ident, have)
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_workers-count" % X), 2)
        # polled by one callback only: status and ping per read
        deltas = accepted_deltas(self.cd, X, time.time(), 4, 4 * INTERVAL + 6)
        self.assertEqual(min(deltas), 2, deltas)
        self.assertGreaterEqual(deltas.count(2), 3, deltas)

    # -- master B, started once collectd was running

    def test_f_master_started_later_is_noticed(self):
        for pool in (B1, B2):
            ident = "fcgx-%s/fpm_up" % pool
            rows = self.cd.wait_rows(ident, 1, max(1, self.b_started + NOTICED_WITHIN
                                                   - time.time()))
            self.assertLessEqual(rows[0][0] - self.b_started, NOTICED_WITHIN, rows)
            self.assertEqual(self.cd.wait_value(ident), 1)
            self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_processes-limit" % pool), 2)
            self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_workers-count" % pool), 2)
        # The explicit block's pool is B's first; the one explicitly configured is polled once.
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_up" % BX), 1)
        segment = find_segment(self.discover_lines(self.lines_at_start), self.b.proc.pid,
                               self.b.conf)
        self.assertIsNotNone(segment, "no AutoDiscover line names master %d (%s):\n%s" % (
            self.b.proc.pid, self.b.conf, "\n".join(self.discover_lines())))
        self.assertIn("pool %s (master %d): %s" % (B1, self.b.proc.pid, self.b.address(B1)),
                      segment)
        self.assertIn("pool %s (master %d): configured by a <Pool> block" % (BX, self.b.proc.pid),
                      segment)

    def test_g_opcache_of_a_master_whose_first_pool_is_explicit(self):
        """B's first pool (dbx) is configured explicitly with OPcache false: B's OPcache must
        still be read once, through another of its pools."""
        instance = self.opcache_instance(self.b)
        self.assertEqual(self.cd.getval("fcgx-%s/opcache_state-enabled" % instance), 1)
        self.assertNotEqual(instance, self.opcache_instance(self.a))

    def test_y_reload_is_noticed_and_pools_keep_reporting(self):
        before = len(self.discover_lines())
        reloaded = time.time()
        self.a.reload()
        # The start time changed: logged once per pool, not again.
        for pool in (U, T):
            rx = r'pool "%s": php-fpm was restarted or reloaded' % pool
            harness.wait_for(lambda rx=rx: self.cd.log_lines(rx), 4 * INTERVAL + 2,
                             interval=0.1, what=rx)
        # A rescan notices the reload (the master re-executed itself)...
        harness.wait_for(lambda: len(self.discover_lines()) > before, NOTICED_WITHIN,
                         interval=0.1, what="an AutoDiscover line after the reload of master %d"
                         % self.a.proc.pid)
        # ... and the pools are still polled, as the same pools, after it.
        for pool in (U, T, S):
            ident = "fcgx-%s/fpm_up" % pool
            rows = self.cd.wait_rows(ident, len(self.cd.csv_rows(ident)) + 3, 3 * INTERVAL + 6)
            after = [v for t, v in rows if t > reloaded + 2]
            self.assertTrue(after and all(v == 1 for v in after[-3:]), (pool, rows[-6:]))
            self.assertLess(self.cd.wait_value("fcgx-%s/uptime" % pool),
                            time.time() - reloaded + 2)
        self.assertTrue(self.fresh("fcgx-%s/opcache_state-enabled" % self.opcache_instance(
            self.a)))
        for pool in (U, T):
            self.assertEqual(len(self.cd.log_lines(
                r'pool "%s": php-fpm was restarted or reloaded' % pool)), 1)
        lines = self.discover_lines(before)
        self.assertIsNotNone(find_segment(lines, self.a.proc.pid, self.a.conf),
                             "no AutoDiscover line after the reload names master %d (%s):\n%s"
                             % (self.a.proc.pid, self.a.conf, "\n".join(lines)))

    def test_z_master_stopped_is_noticed(self):
        before = len(self.discover_lines())
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_up" % B1), 1)
        # db1 fails first, while its master still runs (its socket file is removed): a FAILURE
        # for a discovered pool, whatever the timing of the rescan after the stop.
        os.unlink(self.b.address(B1))
        harness.wait_for(lambda: notifications(self.cd, "FAILURE", B1), 3 * INTERVAL + 2,
                         interval=0.1, what="a FAILURE notification for %s" % B1)
        message = notifications(self.cd, "FAILURE", B1)[-1][1]
        self.assertIn('PHP-FPM pool "%s" is down: ' % B1, message)
        self.assertIn("No such file or directory", message)
        stopped = time.time()
        self.b.stop()

        # B's discovered pools are no longer polled once a rescan saw B gone.
        def not_polled():
            now = time.time()
            last = [self.cd.listval().get("fcgx-%s/fpm_up" % p) for p in (B1, B2)]
            return all(t is None or t < now - 2 * INTERVAL for t in last)  # None: expired
        harness.wait_for(not_polled, NOTICED_WITHIN + 2 * INTERVAL, interval=0.2,
                         what="%s and %s no longer reported after B stopped" % (B1, B2))
        for pool in (B1, B2):
            after = [v for t, v in self.cd.csv_rows("fcgx-%s/fpm_up" % pool) if t > stopped]
            self.assertTrue(all(v == 0 for v in after[1:]), (pool, after))
        # A's pools are unaffected.
        self.assertTrue(self.fresh("fcgx-%s/fpm_up" % U))
        self.assertEqual(self.cd.getval("fcgx-%s/fpm_up" % U), 1)

        # The change is logged: the latest line about A comes after the latest naming B (a
        # rescan while B was finishing may still list it).
        lines = self.discover_lines(before)
        last_a = max([i for i, ln in enumerate(lines) if discover_message(ln).startswith(
            "master %d (%s):" % (self.a.proc.pid, self.a.conf))], default=-1)
        last_b = max([i for i, ln in enumerate(lines) if self.b.conf in ln], default=-1)
        self.assertGreater(last_a, last_b, "no AutoDiscover line names master A %d and not B %d "
                           "after B stopped:\n%s" % (self.a.proc.pid, self.b.proc.pid,
                                                     "\n".join(lines)))

    def test_zz_failure_of_a_stopped_master_is_cleared(self):
        """B stopped (test_z) after db1 was reported down (a FAILURE), and db2 too when a read
        came before the rescan that dropped it. B starts again: every such FAILURE is followed by
        an OKAY, when the pool is dropped or when it answers again, so that no alert stays
        open."""
        self.assertIsNotNone(self.b.proc.poll(), "B is still running")
        failed = [p for p in (B1, B2) if notifications(self.cd, "FAILURE", p)]
        self.assertIn(B1, failed)
        restarted = time.time()
        self.b.start()
        for pool in (B1, B2):
            harness.wait_for(lambda pool=pool: self.fresh("fcgx-%s/fpm_up" % pool, 2 * INTERVAL)
                             and self.cd.getval("fcgx-%s/fpm_up" % pool) == 1,
                             NOTICED_WITHIN + 2, interval=0.2,
                             what="%s reported up after B started again" % pool)
        for pool in failed:
            def cleared(pool=pool):
                last_failure = notifications(self.cd, "FAILURE", pool)[-1][0]
                return [t for t, _ in notifications(self.cd, "OKAY", pool) if t >= last_failure]
            # The OKAY is logged before the read that brings the pool back dispatches fpm_up 1:
            # it is there already; the bound only covers a read still being written out.
            try:
                harness.wait_for(cleared, 2 * INTERVAL + 2, interval=0.1,
                                 what="an OKAY after the last FAILURE of %s" % pool)
            except TimeoutError:
                self.fail("%s: FAILURE at %s, no OKAY since (B restarted at %s):\n%s"
                          % (pool, time.ctime(notifications(self.cd, "FAILURE", pool)[-1][0]),
                             time.ctime(restarted),
                             "\n".join(self.cd.log_lines(r"Notification: .*%s" % pool))))


if __name__ == "__main__":
    unittest.main()


class PoolWithItsOwnOPcache(unittest.TestCase):
    """One master, two pools: OPcache is read once, through the first, and the second, which
    turns OPcache off for itself (php_admin_value[opcache.enable] = 0), is looked at once and
    named in a warning: it does not use the cache reported for its master."""

    @classmethod
    def setUpClass(cls):
        suffix = os.urandom(3).hex()
        cls.on, cls.off = "oon" + suffix, "ooff" + suffix
        cls.fpm = harness.start_fpm(cls, [
            {"name": cls.on, "max_children": 1},
            {"name": cls.off, "max_children": 1,
             "extra": {"php_admin_value[opcache.enable]": "0"}},
        ])
        script = harness.status_script()
        cls.cd = harness.start_collectd(cls, '<Plugin fcgx>\n  AutoDiscover true\n'
                                        '  Timeout 800\n  OPcacheScript "%s"\n</Plugin>' % script,
                                        interval=INTERVAL)

    def test_the_differing_pool_is_named_once(self):
        rx = r'pool "%s": its OPcache differs from its master.s' % self.off
        lines = harness.wait_for(lambda: self.cd.log_lines(rx), NOTICED_WITHIN, interval=0.1,
                                 what="a warning about %s" % self.off)
        self.assertIn("OPcache is off in this pool", lines[0])
        self.assertEqual(self.cd.log_lines(r'pool "%s": its OPcache differs' % self.on), [])
        # Read once, not every interval: its accepted conn grows by 2 (status, ping) per read.
        self.cd.wait_rows("fcgx-%s/fpm_up" % self.off, 4, NOTICED_WITHIN)
        rows = [v for _, v in self.cd.csv_rows("fcgx-%s/fpm_requests-accepted" % self.off)]
        self.assertEqual(rows[-1] - rows[-2], 2, rows)
        self.assertEqual(len(self.cd.log_lines(rx)), 1)
