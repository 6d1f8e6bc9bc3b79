"""Status pages that other monitoring projects keep in their test suites (Telegraf, Netdata, the
hipages exporter, Metricbeat, Datadog, Diamond), served by a FastCGI peer (hostile_peer.py, mode
"page") to a real collectd with the built fcgx.so, and to fcgx-probe.

The pages are read from ../shared/peer_fixtures beside the repository (see its MANIFEST.md),
never copied here; without that folder the test is skipped. For every page, what the plugin
wrote must be what php-fpm's fields mean, computed here from the page by the README's rules
(expected_values): the pool counters one to one; the worker serving our own request counted
idle; request duration in µs, reported in seconds; last request cpu and memory only from Idle
processes; a figure outside the range php-fpm can print (a duration longer than its worker has
lived: php bug 62382) left out and logged once. A page that is no status is a clear error, and
a `full` page that is no JSON falls back to plain `?json`.
"""
import json
import os
import re
import subprocess
import unittest

import harness
from test_hostile import HostilePeer

PROBE = os.environ.get("FCGX_PROBE")
SOURCE_DIR = os.environ.get("FCGX_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PEER_FIXTURES = os.path.realpath(os.path.join(SOURCE_DIR, "..", "shared", "peer_fixtures"))

# pool name -> (page, options): status_socket reads through StatusSocket (the same peer), so
# no process of the page is our own request; status_path is the pool's pm.status_path.
PAGES = {
    "beats_pool": ("beats/pool-docs.json", {}),
    "beats_process": ("beats/process-docs.json", {}),
    "datadog": ("datadog/conftest-payload.json", {}),
    "diamond": ("diamond/stats", {}),
    "hipages_overflow": ("hipages/issue10-request-duration-overflow.json", {}),
    "hipages_overflow_ss": ("hipages/issue10-request-duration-overflow.json",
                            {"status_socket": True}),
    "hipages_unescaped": ("hipages/json-response-fixer-unescaped-uri.json", {}),
    "netdata_empty": ("netdata/empty-data.txt", {}),
    "netdata_invalid": ("netdata/invalid-data.txt", {}),
    "netdata_full": ("netdata/status-full.json", {}),
    "netdata_full_ss": ("netdata/status-full.json", {"status_socket": True}),
    "netdata_no_idle": ("netdata/status-full-no-idle.json", {}),
    "netdata_full_txt": ("netdata/status-full.txt", {}),
    "netdata_json": ("netdata/status.json", {}),
    "netdata_txt": ("netdata/status.txt", {}),
    "telegraf_invalid": ("telegraf/invalidJSON.txt", {}),
    "telegraf_text": ("telegraf/outputSample.txt", {}),
    "telegraf_full": ("telegraf/phpfpm.json", {"status_path": "/fpm-status"}),
}

# What the log and fcgx-probe must say of a page that is no status (a regular expression).
NO_STATUS = {
    "netdata_empty": r"status page is empty: no JSON",
    "netdata_invalid": r'status page is no JSON object: it begins "hello and goodbye"',
    "netdata_full_txt": r"status page is php-fpm's plain text, not JSON",
    "netdata_txt": r"status page is php-fpm's plain text, not JSON",
    "telegraf_invalid": r'status page is no JSON object: it begins "X"',
    "telegraf_text": r"status page is php-fpm's plain text, not JSON: the query string "
                     r"\"json\" did not reach php-fpm",
}
# Pages with figures outside their range, when read as configured: how many, and the first.
OUT_OF_RANGE = {
    "hipages_overflow_ss": (1, r"request duration 18446744073709551616 µs of pid 24 \(Running"),
    "netdata_full": (2, r"request duration 18446744073709551616 µs of pid 67860 \(Idle"),
    "netdata_full_ss": (2, r"request duration 18446744073709551616 µs of pid 67860 \(Idle"),
    "netdata_no_idle": (1, r"request duration 18446744073709551616 µs of pid 67860 \(Running"),
}

STATES = {"Idle": "idle", "Running": "running", "Reading headers": "reading_headers",
          "Getting request information": "info", "Finishing": "finishing", "Ending": "ending"}
POOL_COUNTERS = {"fpm_requests-accepted": "accepted conn", "fpm_requests-slow": "slow requests",
                 "fpm_events-max_children_reached": "max children reached"}
POOL_GAUGES = {"fpm_processes-total": "total processes",
               "fpm_processes-max_active": "max active processes",
               "fpm_queue-current": "listen queue", "fpm_queue-max": "max listen queue",
               "fpm_queue-length": "listen queue len", "uptime": "start since"}


def plain_page(page):
    """php-fpm's plain ?json: the full page without its processes (as the peer serves it)."""
    head = re.split(rb',\s*"processes"\s*:', page, maxsplit=1)
    return head[0].rstrip() + b"\n}" if len(head) == 2 else page


def expected_values(doc, self_uri):
    """{identifier: value} the plugin must dispatch from a parsed page, by the README's rules
    (pool figures, per-process aggregates); None for one that must not be dispatched."""
    values = {k: doc[f] for k, f in {**POOL_COUNTERS, **POOL_GAUGES}.items()}
    active, idle = doc["active processes"], doc["idle processes"]
    procs = doc.get("processes")
    own = None
    if self_uri is not None and procs is not None:
        own = next((p for p in procs if p["state"] != "Idle" and p["request uri"] == self_uri),
                   None)
    if self_uri is not None and (own is not None or procs is None) and active >= 1:
        active, idle = active - 1, idle + 1  # the worker serving our request is not load
    values["fpm_processes-active"], values["fpm_processes-idle"] = active, idle
    if procs is None:
        return values
    counts = {s: 0 for s in STATES.values()}
    durations, running, cpus, memories = [], [], [], []
    for p in procs:
        if p is own:
            counts["idle"] += 1
            continue
        counts[STATES[p["state"]]] += 1
        # no request lasts longer than its worker has lived (start since, whole seconds)
        duration_ok = 0 <= p["request duration"] <= (p["start since"] + 1) * 1e6
        if duration_ok:
            durations.append(p["request duration"] / 1e6)
            if p["state"] == "Running":
                running.append(p["request duration"] / 1e6)
        if p["state"] == "Idle":
            if duration_ok:  # cpu is computed over that duration (all of these are in range)
                cpus.append(p["last request cpu"])
            memories.append(p["last request memory"])
    for state, n in counts.items():
        values["fpm_processes-state_" + state] = n
    any_running = any(p["state"] == "Running" and p is not own for p in procs)
    values["fpm_request_duration-running_max"] = (max(running) if running else
                                                  None if any_running else 0)
    for name, samples in (("fpm_request_duration", durations), ("fpm_request_cpu", cpus),
                          ("fpm_request_memory", memories)):
        values[name + "-avg"] = sum(samples) / len(samples) if samples else None
        values[name + "-max"] = max(samples) if samples else None
    return values


def expectation(name):
    """(values, process_details) the plugin must report for pool name; values is None for a
    page that is no status."""
    path, options = PAGES[name]
    with open(os.path.join(PEER_FIXTURES, path), "rb") as f:
        page = f.read()
    if name in NO_STATUS:
        return None, False
    status_path = options.get("status_path", "/status")
    self_full = None if options.get("status_socket") else status_path + "?json&full"
    try:
        doc = json.loads(page)
        return expected_values(doc, self_full), "processes" in doc
    except ValueError:  # `full` is no JSON: the plugin falls back to plain ?json
        self_plain = None if options.get("status_socket") else status_path + "?json"
        return expected_values(json.loads(plain_page(page)), self_plain), False


def close(a, b, csv=False):
    """a equals b; the csv plugin writes gauges with 6 decimals."""
    return abs(a - b) <= (5e-7 if csv else 0) + 1e-9 * max(1.0, abs(b))


@unittest.skipUnless(os.path.isdir(PEER_FIXTURES),
                     "no peer fixtures at %s (the shared folder beside the repository)"
                     % PEER_FIXTURES)
class PeerPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = harness.make_tmpdir("fcgx-pages-")
        cls.peers = {}
        for name, (path, _) in PAGES.items():
            peer = HostilePeer("page", unix=os.path.join(cls.dir, name + ".sock"),
                               args=["--page", os.path.join(PEER_FIXTURES, path)])
            cls.peers[name] = peer.start()
            cls.addClassCleanup(peer.stop)
        for peer in cls.peers.values():
            peer.wait_ready()
        pools = []
        for name, (_, options) in PAGES.items():
            sock = cls.peers[name].address
            extra = {"StatusPath": options["status_path"]} if "status_path" in options else {}
            pools.append(harness.pool_block(
                name, sock, sock if options.get("status_socket") else None, OPcache=False,
                **extra))
        cls.cd = harness.start_collectd(cls, harness.plugin_block(*pools), interval=1)
        for name in PAGES:
            # every pool polled at least twice: a log line said once is not said again
            cls.cd.settle("fcgx-%s/fpm_up" % name, 3, timeout=30)

    def last(self, name, ident):
        rows = self.cd.csv_rows("fcgx-%s/%s" % (name, ident))
        return rows[-1][1] if rows else None

    def test_figures_are_what_php_fpm_meant(self):
        for name in PAGES:
            with self.subTest(pool=name):
                want, _ = expectation(name)
                if want is None:
                    continue
                got = self.cd.csv_type_instances(name)
                for ident, value in want.items():
                    if value is None:
                        self.assertNotIn(ident, got, "%s must not be dispatched" % ident)
                        continue
                    self.assertIn(ident, got)
                    self.assertTrue(close(self.last(name, ident), value, csv=True),
                                    "%s: %r, expected %r" % (ident, self.last(name, ident),
                                                             value))

    def test_nothing_else_is_dispatched(self):
        """Beside the page's figures: fpm_up 1 (ping answers), the plugin's round trips and
        the kernel's view of the socket; never a figure the page does not give."""
        for name in PAGES:
            with self.subTest(pool=name):
                want, _ = expectation(name)
                allowed = {"fpm_up", "fpm_response_time-ping", "fpm_queue-kernel",
                           "fpm_queue-kernel_max"}
                if want is not None:
                    allowed |= {k for k, v in want.items() if v is not None}
                    allowed.add("fpm_response_time-status")
                got = self.cd.csv_type_instances(name)
                self.assertLessEqual(got, allowed)
                self.assertEqual(self.last(name, "fpm_up"), 1.0)

    def test_no_duration_or_cpu_beyond_its_range_is_ever_written(self):
        """Every row, not only the last: no real request on these pages took 16 ms, and none
        shows more than 110.28 % cpu (one 10 ms clock tick over a 9 ms request)."""
        for name in PAGES:
            for ident in self.cd.csv_type_instances(name):
                limit = {"fpm_request_duration": 0.016, "fpm_request_cpu": 110.28}.get(
                    ident.split("-")[0])
                for _, value in self.cd.csv_rows("fcgx-%s/%s" % (name, ident)) if limit else []:
                    self.assertLessEqual(value, limit, "%s %s" % (name, ident))

    def test_a_page_that_is_no_status_is_a_clear_error(self):
        for name, cause in NO_STATUS.items():
            with self.subTest(pool=name):
                lines = self.cd.log_lines(r'pool "%s": no status figures' % name)
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], cause)

    def test_unreadable_full_page_falls_back_to_plain_json(self):
        lines = self.cd.log_lines(r'pool "hipages_unescaped": reporting pool figures without '
                                  r'process details')
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("status JSON is not valid JSON (at byte 509 of 1075)", lines[0])
        self.assertFalse(any(i.startswith("fpm_processes-state_")
                             for i in self.cd.csv_type_instances("hipages_unescaped")))

    def test_figures_out_of_range_are_logged_once(self):
        for name in PAGES:
            with self.subTest(pool=name):
                lines = self.cd.log_lines(r'pool "%s": \d+ figure\(s\) out of range' % name)
                if name not in OUT_OF_RANGE:
                    self.assertEqual(lines, [])
                    continue
                count, first = OUT_OF_RANGE[name]
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], r": %d figure\(s\) out of range left out of this "
                                           r"poll, e\.g\. %s" % (count, first))

    @unittest.skipUnless(PROBE, "FCGX_PROBE is not set")
    def test_probe_reads_every_page_alike(self):
        for name, (_, options) in PAGES.items():
            with self.subTest(pool=name):
                sock = self.peers[name].address
                args = ["-s", sock, "--json", "status"]
                if options.get("status_socket"):
                    args += ["-S", sock]
                if "status_path" in options:
                    args += ["--status-path", options["status_path"]]
                run = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=20)
                doc = json.loads(run.stdout)
                want, details = expectation(name)
                if want is None:
                    self.assertEqual((run.returncode, doc["verdict"]), (2, "CRITICAL"))
                    self.assertRegex(doc["message"], NO_STATUS[name])
                    self.assertNotIn("pool", doc)
                    continue
                self.assertEqual((run.returncode, doc["pool"]), (0, "www"), run.stdout)
                self.assertEqual(doc["process_details"], details)
                self.assertEqual("fallback_reason" in doc, name == "hipages_unescaped")
                if name == "hipages_unescaped":
                    self.assertIn("is not valid JSON (at byte 509 of 1075)",
                                  doc["fallback_reason"])
                self.assertEqual(doc.get("out_of_range", 0), OUT_OF_RANGE.get(name, (0,))[0])
                for ident, value in want.items():
                    if value is None:
                        self.assertNotIn(ident, doc["values"])
                    else:
                        self.assertTrue(close(doc["values"][ident], value),
                                        "%s: %r, expected %r" % (ident, doc["values"].get(ident),
                                                                 value))


if __name__ == "__main__":
    unittest.main()
