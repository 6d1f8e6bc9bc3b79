"""The plugin's own collectd notifications, consumed by a real collectd's exec plugin
(NotificationExec hands each one to a small script running as nobody):

- a pool down at the first read: FAILURE, plugin fcgx, plugin instance the pool, type fpm_up,
  the message naming the pool and the cause; only once while it stays down;
- a pool whose php-fpm stops: one FAILURE; php-fpm back: one OKAY "is up again";
- OPcache (a small one: opcache.memory_consumption=8, max_accelerated_files=200, which php rounds
  up to 223 hash slots, max_wasted_percentage=1): every slot taken -> WARNING opcache_state
  cache_full; scripts rewritten until the waste passes 1 % and the next one cannot be stored ->
  OPcache restarts for lack of hash slots -> WARNING opcache_restarts hash, and OKAY cache_full
  (the restart empties the cache); opcache_reset() -> a manual restart, no notification; big
  scripts until the memory is full -> WARNING cache_full, rewritten -> OPcache restarts for lack
  of memory -> WARNING opcache_restarts oom.

php-fpm 8.2 (ZendAccelerator.c): cache_full is ZSMMG(memory_exhausted), set when a script cannot
be stored because the hash is full or shared memory ran out; a restart is scheduled at that
moment only when the wasted memory is at least max_wasted_percentage, and happens at the next
request; a script is invalidated (its memory wasted) when its file's mtime changed
(validate_timestamps, revalidate_freq=0).
"""
import json
import os
import re
import sys
import time
import unittest
import uuid

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = harness.status_script()

INTERVAL = 1
WITHIN = 3 * INTERVAL + 3  # a read, a notification through exec, slack for a loaded host
SFX = uuid.uuid4().hex[:6]


class NotificationCase(harness.NotificationInbox, unittest.TestCase):
    """A collectd with the given fcgx block whose notifications land in cls.inbox."""

    notify_within = WITHIN

    @classmethod
    def start_collectd(cls, block):
        cls.tmp = harness.make_tmpdir("fcgx-notify-")
        cls.addClassCleanup(harness.remove_tmpdir, cls.tmp)
        cls.inbox = os.path.join(cls.tmp, "inbox")
        os.mkdir(cls.inbox)
        os.chmod(cls.inbox, 0o777)  # the script runs as nobody
        script = os.path.join(cls.tmp, "notify.sh")
        with open(script, "w") as f:
            f.write(harness.NOTIFY_SCRIPT)
        os.chmod(script, 0o755)
        extra = "\n".join([
            "<Plugin exec>",
            '  NotificationExec "nobody" "%s" "%s"' % (script, cls.inbox),
            "</Plugin>",
        ])
        cd = harness.Collectd(block, interval=INTERVAL, extra_plugins=["exec"],
                              extra_config=extra)
        cls.cd = cd

        def finish():
            alive = cd.alive()
            rc = cd.stop()
            sys.stderr.write("\n--- collectd log tail (%s) ---\n%s\n--- notifications ---\n%s\n"
                             % (cls.__name__, harness.log_tail(cd.log_text(), 15),
                                "\n".join(cls.summarize(n) for n in cls.notifications())))
            reports = cd.sanitizer_reports()
            harness.remove_tmpdir(cd.dir)
            if reports:
                raise AssertionError("sanitizer reports from collectd:\n" + "\n".join(reports))
            if not alive:
                raise AssertionError("collectd died during the test (exit %s)" % rc)
            if rc != 0:
                raise AssertionError("collectd exited with %s after SIGTERM" % rc)
        cls.addClassCleanup(finish)
        cls.started = time.time()
        cd.start()

    def reads(self, n):
        """Waits for n more reads of the collectd (csv rows of fcgx-POOL/fpm_up)."""
        ident = "fcgx-%s/fpm_up" % self.watch
        self.cd.wait_rows(ident, len(self.cd.csv_rows(ident)) + n, n * INTERVAL + 5)


class PoolDownAndUp(NotificationCase):
    """nu: a php-fpm pool, stopped and started again; nm: a socket nobody ever listens on."""

    UP, MISSING = "nu" + SFX, "nm" + SFX

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": cls.UP, "max_children": 2}])
        cls.missing = os.path.join(cls.fpm.run_dir, "nobody-listens.sock")
        cls.watch = cls.UP
        cls.start_collectd(harness.plugin_block(
            harness.pool_block(cls.UP, cls.fpm.address(cls.UP), OPcache=False),
            harness.pool_block(cls.MISSING, cls.missing, OPcache=False)))
        cls.cd.wait_rows("fcgx-%s/fpm_up" % cls.UP, 2, 8)

    def test_a_down_from_the_first_read(self):
        n = self.wait_notification("FAILURE", self.MISSING, "fpm_up")[0]
        self.assertEqual(n["Host"], harness.HOSTNAME)
        self.assertNotIn("TypeInstance", n)
        self.assertRegex(n["message"], r'^PHP-FPM pool "%s" is down: (status request: )?'
                         r'connect to %s: No such file or directory$'
                         % (self.MISSING, re.escape(self.missing)))
        first = self.cd.csv_rows("fcgx-%s/fpm_up" % self.MISSING)[0]
        self.assertEqual(first[1], 0)
        self.assertAlmostEqual(float(n["Time"]), first[0], delta=0.01,
                               msg="not the first read's notification")
        self.reads(3)
        self.assertEqual(len(self.matching("FAILURE", self.MISSING, "fpm_up")), 1,
                         "a FAILURE each read while down")

    def test_b_healthy_pool_is_quiet(self):
        self.reads(2)
        self.assertEqual([self.summarize(n) for n in self.notifications()
                          if n.get("PluginInstance") == self.UP], [])

    def test_c_pool_down_and_up_again(self):
        def restart_if_stopped():  # when an assertion below fails while php-fpm is stopped
            if self.fpm.proc.poll() is not None:
                self.fpm.start()
        self.addCleanup(restart_if_stopped)
        stopped = time.time()
        self.fpm.stop()
        n = self.wait_notification("FAILURE", self.UP, "fpm_up", after=stopped)[0]
        self.assertRegex(n["message"], r'^PHP-FPM pool "%s" is down: (status request: )?'
                         r'connect to %s: (No such file or directory|Connection refused)$'
                         % (self.UP, re.escape(self.fpm.address(self.UP))))
        # The plugin notifies, then dispatches the read's values: wait (bounded) for fpm_up.
        self.cd.wait_value("fcgx-%s/fpm_up" % self.UP, lambda v: v == 0, timeout=3)
        self.reads(3)
        self.assertEqual(len(self.matching("FAILURE", self.UP, "fpm_up", after=stopped)), 1)
        self.assertEqual(self.matching("OKAY", self.UP, "fpm_up"), [])
        restarted = time.time()
        self.fpm.start()
        ok = self.wait_notification("OKAY", self.UP, "fpm_up", after=restarted)[0]
        self.assertEqual(ok["message"], 'PHP-FPM pool "%s" is up again' % self.UP)
        self.cd.wait_value("fcgx-%s/fpm_up" % self.UP, lambda v: v == 1, timeout=3)
        self.reads(3)
        self.assertEqual(len(self.matching("OKAY", self.UP, "fpm_up")), 1)
        # the other pool is still down: no OKAY for it
        self.assertEqual(self.matching("OKAY", self.MISSING, "fpm_up"), [])


SMALL_OPCACHE = "\n".join([
    "opcache.memory_consumption=8",  # MB, php's minimum
    "opcache.interned_strings_buffer=1",
    "opcache.max_accelerated_files=200",  # 223 hash slots
    "opcache.max_wasted_percentage=1",
    "opcache.validate_timestamps=1",
    "opcache.revalidate_freq=0",
])


class OpcacheNotifications(NotificationCase):
    """oc: a pool of a php-fpm with a small OPcache, filled, wasted and restarted."""

    POOL = "oc" + SFX

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": cls.POOL, "max_children": 2}],
                                    ini=SMALL_OPCACHE)
        cls.write("st.php", "<?php $s = opcache_get_status(false); unset($s['scripts']);\n"
                  "echo json_encode($s);\n")
        cls.write("reset.php", "<?php echo opcache_reset() ? 'reset' : 'no';\n")
        cls.watch = cls.POOL
        cls.start_collectd(harness.plugin_block(
            harness.pool_block(cls.POOL, cls.fpm.address(cls.POOL), OPcacheScript=SCRIPT)))
        cls.cd.wait_rows("fcgx-%s/opcache_state-cache_full" % cls.POOL, 2, 8)
        cls.version = {}

    @classmethod
    def write(cls, name, text, mtime=None):
        path = cls.fpm.script(name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        if mtime is not None:  # OPcache compares whole seconds: make every rewrite visible
            os.utime(path, (mtime, mtime))

    def script(self, prefix, i, lines):
        """Writes (or rewrites, with another mtime) PREFIXnnn.php of `lines` statements and
        requests it."""
        name = "%s%03d.php" % (prefix, i)
        version = self.version.get(name, 0)
        self.version[name] = version + 1
        body = "".join("$a%d = $v + %d; $a%d .= 'x';\n" % (k, k, k) for k in range(lines))
        self.write(name, "<?php\n$v = %d; $w = %d;\n%secho $v;\n" % (i, version, body),
                   mtime=time.time() - 10000 + 100 * version)
        self.assertEqual(self.fpm.request(self.POOL, name).decode(), str(i))

    def status(self):
        return json.loads(self.fpm.request(self.POOL, "st.php"))

    def fill_until(self, prefix, lines, limit, done):
        for i in range(limit):
            self.script(prefix, i, lines)
            st = self.status()
            if done(st):
                return st, i + 1
        self.fail("%s: not reached after %d scripts: %r" % (prefix, limit, self.status()))

    def test_a_every_hash_slot_taken_warns_cache_full(self):
        filled = time.time()
        st, _ = self.fill_until("f", 20, 400, lambda s: s["cache_full"])
        stats = st["opcache_statistics"]
        self.assertEqual(stats["num_cached_keys"], stats["max_cached_keys"], st)
        n = self.wait_notification("WARNING", self.POOL, "opcache_state", "cache_full",
                                   after=filled)[0]
        self.assertEqual(n["message"], 'OPcache of pool "%s" is full: new scripts are not cached'
                         % self.POOL)
        self.cd.wait_value("fcgx-%s/opcache_state-cache_full" % self.POOL, lambda v: v == 1,
                           timeout=3)
        self.reads(2)
        self.assertEqual(len(self.matching("WARNING", self.POOL, "opcache_state", "cache_full")),
                         1, "a WARNING each read while full")
        self.assertEqual(self.matching("WARNING", self.POOL, "opcache_restarts", "hash"), [])

    def test_b_hash_restart_warns_and_full_clears(self):
        self.assertTrue(self.status()["cache_full"], "test_a left the cache full")
        wasting = time.time()
        # Rewritten scripts waste their old copy; once the waste passes 1 % a script that cannot
        # be stored (no free slot) schedules a restart, done at the next request.
        self.fill_until("f", 20, 100,
                        lambda s: s["opcache_statistics"]["hash_restarts"] >= 1)
        n = self.wait_notification("WARNING", self.POOL, "opcache_restarts", "hash",
                                   after=wasting)[0]
        self.assertEqual(n["message"], 'OPcache of pool "%s" restarted for lack of hash slots '
                         '(1 so far): raise opcache.max_accelerated_files' % self.POOL)
        ok = self.wait_notification("OKAY", self.POOL, "opcache_state", "cache_full",
                                    after=wasting)[0]
        self.assertEqual(ok["message"], 'OPcache of pool "%s" is no longer full' % self.POOL)
        self.cd.wait_value("fcgx-%s/opcache_state-cache_full" % self.POOL, lambda v: v == 0,
                           timeout=3)
        self.assertEqual(self.matching("WARNING", self.POOL, "opcache_restarts", "oom"), [])
        self.reads(2)
        self.assertEqual(len(self.matching("WARNING", self.POOL, "opcache_restarts", "hash")), 1)

    def test_c_manual_restart_is_quiet(self):
        ident = "fcgx-%s/opcache_restarts-manual" % self.POOL
        before = max(v for _, v in self.cd.csv_rows(ident))
        reset = time.time()
        self.assertEqual(self.fpm.request(self.POOL, "reset.php").decode(), "reset")
        harness.wait_for(lambda: max(v for _, v in self.cd.csv_rows(ident)) > before, WITHIN,
                         interval=0.1, what="%s to rise" % ident)
        self.reads(2)
        self.assertEqual([self.summarize(n) for n in self.notifications()
                          if n.get("Type") == "opcache_restarts"
                          and float(n["Time"]) > reset], [])

    def test_d_oom_restart_warns(self):
        filling = time.time()
        # Big scripts (~250 KB each) until one no longer fits, long before the 223 slots are
        # taken; then small ones: php calls the cache full only when its largest free block is
        # below 64 KB (MIN_FREE_MEMORY).
        cached = self.status()["opcache_statistics"]["num_cached_scripts"]
        for count in range(1, 80):
            self.script("g", count - 1, 2000)
            now = self.status()["opcache_statistics"]["num_cached_scripts"]
            if now == cached:
                break
            cached = now
        else:
            self.fail("80 big scripts fit in an 8 MB OPcache: %r" % self.status())
        st, _ = self.fill_until("h", 20, 150, lambda s: s["cache_full"])
        stats = st["opcache_statistics"]
        self.assertLess(stats["num_cached_keys"], stats["max_cached_keys"], st)
        self.wait_notification("WARNING", self.POOL, "opcache_state", "cache_full",
                               after=filling)
        wasting = time.time()
        for i in range(count):
            self.script("g", i, 2000)
            if self.status()["opcache_statistics"]["oom_restarts"] >= 1:
                break
        else:
            self.fail("no OOM restart after rewriting %d scripts: %r" % (count, self.status()))
        n = self.wait_notification("WARNING", self.POOL, "opcache_restarts", "oom",
                                   after=wasting)[0]
        self.assertEqual(n["message"], 'OPcache of pool "%s" restarted for lack of memory '
                         '(1 so far): raise opcache.memory_consumption' % self.POOL)
        self.wait_notification("OKAY", self.POOL, "opcache_state", "cache_full", after=wasting)
        self.assertEqual(len(self.matching("WARNING", self.POOL, "opcache_restarts", "hash")), 1)


if __name__ == "__main__":
    unittest.main()
