"""Alerts shipped in contrib/: the Prometheus rules (promtool check rules, promtool test rules,
and mutants of the rules that the rule tests must catch) and collectd's threshold block
(contrib/collectd/thresholds.conf, included as it is) in a real collectd with fcgx, whose
notifications the exec plugin's NotificationExec hands to a small script running as nobody:
a pool whose php-fpm stops gives a FAILURE naming the pool and fpm_up, and an OKAY when it
is back; a pool whose php-fpm has opcache.enable=0 gives a FAILURE for opcache_state-enabled,
and an OKAY once php-fpm is reloaded with OPcache on."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES_DIR = os.path.join(SOURCE_DIR, "contrib", "prometheus")
RULES = os.path.join(RULES_DIR, "fcgx-rules.yml")
RULE_TESTS = os.path.join(RULES_DIR, "fcgx-rules.test.yml")
THRESHOLDS = os.path.join(SOURCE_DIR, "contrib", "collectd", "thresholds.conf")
SCRIPT = harness.status_script()

INTERVAL = 1
HITS = 5  # thresholds.conf: Hits 5 on fpm_up and opcache_state-enabled
# A FAILURE comes on the (HITS + 2)th value out of range in a row (collectd's threshold.c).
FAILURE_WITHIN = (HITS + 2) * INTERVAL + 6
PROMTOOL_TIMEOUT = 60


def promtool(*args, cwd=RULES_DIR):
    exe = shutil.which("promtool")
    if exe is None:
        raise AssertionError("promtool is not installed (Debian package prometheus)")
    try:
        r = subprocess.run([exe] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("promtool %s did not finish in %d s" % (args, PROMTOOL_TIMEOUT)) \
            from exc
    return r.returncode, r.stdout + r.stderr


def alert_names(rules_text):
    return re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", rules_text, re.M)


def rule_test_cases(test_text):
    """{alertname: (evaluations expecting no alert, evaluations expecting alerts)}, read line by
    line from a promtool test file: an `alertname:` line followed by `exp_alerts: []` or by
    `exp_alerts:` and a list."""
    out = {}
    lines = test_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s*alertname:\s*(\S+)\s*$", line)
        if not m:
            continue
        follow = next((ln for ln in lines[i + 1:] if ln.strip() and
                       not ln.strip().startswith("#")), "")
        quiet, firing = out.setdefault(m.group(1), [0, 0])
        if re.match(r"^\s*exp_alerts:\s*\[\]\s*(#.*)?$", follow):
            out[m.group(1)][0] += 1
        elif re.match(r"^\s*exp_alerts:\s*(#.*)?$", follow):
            out[m.group(1)][1] += 1
        else:
            raise AssertionError("alertname %s without exp_alerts: %r" % (m.group(1), follow))
    return out


class PrometheusRules(unittest.TestCase):
    """contrib/prometheus/fcgx-rules.yml and its promtool unit tests."""

    @classmethod
    def setUpClass(cls):
        with open(RULES) as f:
            cls.rules_text = f.read()
        with open(RULE_TESTS) as f:
            cls.tests_text = f.read()

    def test_check_rules(self):
        rc, out = promtool("check", "rules", RULES)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS: %d rules found" % len(alert_names(self.rules_text)), out)

    def test_the_alerts_operators_use(self):
        self.assertEqual(set(alert_names(self.rules_text)), {
            "FcgxPoolDown", "FcgxListenQueue", "FcgxMaxChildrenReached", "FcgxOpcacheDisabled",
            "FcgxOpcacheHitRateLow", "FcgxOpcacheWasted", "FcgxOpcacheRestarts",
            "FcgxOpcacheFull"})
        exprs = dict(zip(alert_names(self.rules_text),
                         re.findall(r"^\s*expr:\s*(.+?)\s*$", self.rules_text, re.M)))
        self.assertIn('collectd_fcgx_fpm_up == 0', exprs["FcgxPoolDown"])
        self.assertIn('collectd_fcgx_opcache_percent{type="hit_rate"} < 95',
                      exprs["FcgxOpcacheHitRateLow"])
        self.assertIn('collectd_fcgx_opcache_percent{type="wasted"} > 5',
                      exprs["FcgxOpcacheWasted"])
        self.assertIn('type=~"oom|hash"', exprs["FcgxOpcacheRestarts"])
        self.assertIn('collectd_fcgx_fpm_queue{type="current"} > 0', exprs["FcgxListenQueue"])

    def test_every_alert_is_tested_firing_and_quiet(self):
        cases = rule_test_cases(self.tests_text)
        for name in alert_names(self.rules_text):
            quiet, firing = cases.get(name, (0, 0))
            self.assertGreaterEqual(quiet, 1, "%s is never tested quiet" % name)
            self.assertGreaterEqual(firing, 1, "%s is never tested firing" % name)

    def test_rule_unit_tests_pass(self):
        rc, out = promtool("test", "rules", RULE_TESTS)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    # Each mutant changes one threshold or duration of the rules; the unit tests must fail.
    MUTANTS = [
        ("collectd_fcgx_fpm_up == 0", "collectd_fcgx_fpm_up < 1 or collectd_fcgx_fpm_up > 0"),
        ("for: 1m\n        labels:\n          severity: critical\n        annotations:\n"
         "          summary: \"PHP-FPM pool",
         "for: 3m\n        labels:\n          severity: critical\n        annotations:\n"
         "          summary: \"PHP-FPM pool"),
        ('{type="hit_rate"} < 95', '{type="hit_rate"} < 90'),
        (" and ignoring (type) collectd_fcgx_uptime > 600", ""),
        ('{type="wasted"} > 5', '{type="wasted"} >= 5'),
        ('type=~"oom|hash"', 'type=~"oom|hash|manual"'),
        ('{type="current"} > 0\n        for: 5m', '{type="current"} > 0\n        for: 1m'),
        ('[5m]) > 0', '[1m]) > 0'),
        ('{type="enabled"} == 0', '{type="enabled"} == 1'),
        ('{type="cache_full"} == 1', '{type="cache_full"} == 0'),
    ]

    def test_rule_unit_tests_catch_mutants(self):
        tmp = harness.make_tmpdir("fcgx-rules-")
        self.addCleanup(harness.remove_tmpdir, tmp)
        shutil.copy(RULE_TESTS, tmp)
        for old, new in self.MUTANTS:
            with self.subTest(mutant=old):
                self.assertEqual(self.rules_text.count(old), 1, old)
                with open(os.path.join(tmp, os.path.basename(RULES)), "w") as f:
                    f.write(self.rules_text.replace(old, new))
                rc, out = promtool("test", "rules", os.path.basename(RULE_TESTS), cwd=tmp)
                self.assertNotEqual(rc, 0, "the rule tests pass with %r -> %r:\n%s"
                                    % (old, new, out))
                self.assertIn("FAILED", out)


# --------------------------------------------------------------------------------------------
# collectd's threshold plugin

class ThresholdCollectd(harness.Collectd):
    """collectd with threshold.so in its PluginDir: thresholds.conf loads it itself."""

    def _install_plugins(self, with_fcgx):
        super()._install_plugins(with_fcgx)
        shutil.copy(os.path.join(harness.STOCK_PLUGIN_DIR, "threshold.so"), self.plugin_dir)


class CollectdThresholds(harness.NotificationInbox, unittest.TestCase):
    """www: a pool whose php-fpm is stopped and started again; cold: a pool whose php-fpm
    master has OPcache loaded and opcache.enable=0, reloaded later with opcache.enable=1."""

    notify_within = FAILURE_WITHIN

    @staticmethod
    def keep_notification(n):
        """The threshold plugin's notifications (they carry the value and the limit); fcgx's own
        (PHP-FPM pool "www" is down, tested in test_notifications) are left out."""
        return "CurrentValue" in n

    @staticmethod
    def summarize(n):
        return "%s %s %s %s-%s %s" % (n.get("Time"), n.get("Severity"), n.get("PluginInstance"),
                                      n.get("Type"), n.get("TypeInstance", ""),
                                      n.get("CurrentValue"))

    @classmethod
    def setUpClass(cls):
        cls.www = harness.start_fpm(cls, [{"name": "www", "max_children": 2}])
        cls.cold = harness.start_fpm(cls, [{"name": "cold", "max_children": 2}],
                                     ini="opcache.enable=0")
        cls.tmp = harness.make_tmpdir("fcgx-notify-")
        cls.addClassCleanup(harness.remove_tmpdir, cls.tmp)
        cls.inbox = os.path.join(cls.tmp, "inbox")
        os.mkdir(cls.inbox)
        os.chmod(cls.inbox, 0o777)  # the script runs as nobody
        script = os.path.join(cls.tmp, "notify.sh")
        with open(script, "w") as f:
            f.write(harness.NOTIFY_SCRIPT)
        os.chmod(script, 0o755)
        block = harness.plugin_block(
            harness.pool_block("www", cls.www.address("www"), OPcacheScript=SCRIPT),
            harness.pool_block("cold", cls.cold.address("cold"), OPcacheScript=SCRIPT),
            timeout=800)
        extra = "\n".join([
            'Include "%s"' % THRESHOLDS,
            "<Plugin exec>",
            '  NotificationExec "nobody" "%s" "%s"' % (script, cls.inbox),
            "</Plugin>",
        ])
        cd = ThresholdCollectd(block, interval=INTERVAL, extra_plugins=["exec"],
                               extra_config=extra)
        cls.cd = cd

        def finish():
            alive = cd.alive()
            rc = cd.stop()
            sys.stderr.write("\n--- collectd log tail (%s) ---\n%s\n--- notifications ---\n%s\n"
                             % (cls.__name__, harness.log_tail(cd.log_text(), 15),
                                "\n".join(cls.summarize(n) for n in cls.notifications())))
            harness.remove_tmpdir(cd.dir)
            if not alive:
                raise AssertionError("collectd died during the test (exit %s)" % rc)
            if rc != 0:
                raise AssertionError("collectd exited with %s after SIGTERM" % rc)
        cls.addClassCleanup(finish)
        cd.start()
        cd.wait_rows("fcgx-www/fpm_up", 2, 8)

    def test_a_opcache_off_fails(self):
        """cold: opcache.enable=0 -> opcache_state-enabled 0 -> FAILURE, after Hits values."""
        n = self.wait_notification("FAILURE", "cold", "opcache_state", "enabled")[0]
        self.assertIn("cold", n["message"])
        self.assertIn("opcache_state", n["message"])
        self.assertEqual(float(n["CurrentValue"]), 0.0, n)
        self.assertEqual(self.cd.getval("fcgx-cold/opcache_state-enabled"), 0.0)
        # Not on the first 0: Hits 5 (about a minute at Interval 10 s).
        zeros = [v for t, v in self.cd.csv_rows("fcgx-cold/opcache_state-enabled")
                 if t < float(n["Time"]) and v == 0.0]
        self.assertGreaterEqual(len(zeros), HITS, zeros)

    def test_b_healthy_pool_is_quiet(self):
        """www is up, with OPcache: no notification about its fpm_up or OPcache state, and none
        at all above OKAY for cold's fpm_up."""
        self.cd.wait_rows("fcgx-www/fpm_up", HITS + 3, FAILURE_WITHIN)
        bad = [n for n in self.notifications() if n.get("Severity") != "OKAY" and (
            n.get("PluginInstance") == "www" or n.get("Type") == "fpm_up")]
        self.assertEqual(bad, [])

    def test_c_pool_down_fails_and_recovers(self):
        """php-fpm of www stops: one FAILURE naming www and fpm_up; it starts again: OKAY."""
        def restart_if_stopped():  # when an assertion below fails while www is stopped
            if self.www.proc.poll() is not None:
                self.www.start()
        self.addCleanup(restart_if_stopped)
        stopped = time.time()
        self.www.stop()
        n = self.wait_notification("FAILURE", "www", "fpm_up", after=stopped)[0]
        self.assertIn("www", n["message"])
        self.assertIn("fpm_up", n["message"])
        self.assertEqual(float(n["CurrentValue"]), 0.0, n)
        self.assertEqual(float(n["FailureMin"]), 1.0, n)
        zeros = [v for t, v in self.cd.csv_rows("fcgx-www/fpm_up")
                 if stopped < t < float(n["Time"]) and v == 0.0]
        self.assertGreaterEqual(len(zeros), HITS, zeros)
        # Down for a while longer: still one FAILURE (Persist false), no "missing" ones for the
        # values a down pool no longer reports (Interesting false).
        self.cd.wait_rows("fcgx-www/fpm_up", len(self.cd.csv_rows("fcgx-www/fpm_up")) + 3, 6)
        self.assertEqual(len(self.matching("FAILURE", "www", "fpm_up", after=stopped)), 1)
        restarted = time.time()
        self.www.start()
        ok = self.wait_notification("OKAY", "www", "fpm_up", after=restarted, timeout=8)[0]
        self.assertIn("www", ok["message"])
        self.assertEqual(float(ok["CurrentValue"]), 1.0, ok)
        missing = [m for m in self.notifications() if "not been updated" in m["message"]]
        self.assertEqual(missing, [])

    def test_d_opcache_on_again_clears(self):
        """cold's php-fpm is reloaded with opcache.enable=1: OKAY for opcache_state-enabled."""
        self.wait_notification("FAILURE", "cold", "opcache_state", "enabled")
        with open(self.cold.ini, "a") as f:
            f.write("opcache.enable=1\n")  # the last setting wins
        reloaded = time.time()
        self.cold.reload()
        ok = self.wait_notification("OKAY", "cold", "opcache_state", "enabled", after=reloaded,
                                    timeout=8)[0]
        self.assertEqual(float(ok["CurrentValue"]), 1.0, ok)
        self.assertEqual(self.cd.getval("fcgx-cold/opcache_state-enabled"), 1.0)


if __name__ == "__main__":
    unittest.main()
