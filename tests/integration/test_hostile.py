"""Fault injection: a real collectd with the built fcgx.so polls a real php-fpm pool beside
hostile FastCGI peers (hostile_peer.py, every mode on a unix socket, a few also on TCP), and
a real php-fpm that is reloaded and stopped while it is polled, and a socket collectd's user
may not open.

The promises checked for every hostile peer, all in one collectd (Interval 1, Timeout 500 ms,
OPcache false on the hostile pools):
  * collectd keeps running (and exits cleanly on SIGTERM, without sanitizer reports);
  * the healthy php-fpm pool is reported every interval while the others misbehave;
  * a bad pool dispatches fpm_up 0 and nothing else (csv files and LISTVAL);
  * one log line names the pool, its address and the specific cause, and it is not repeated;
  * when the peer is replaced by a healthy one on the same address, the pool comes up, and the
    recovery is logged once;
  * the peers that send valid replies (max_lengths, status_500_once) are up with the peer's
    figures and never logged;
  * each read returns within the Timeout plus a small margin;
  * collectd's file descriptors do not leak, and its memory stays bounded (the reply cap is
    1 MiB: a 50 MB JSON or an endless STDOUT must not grow collectd's RSS by tens of MB).

FpmReloadAndStop: a real php-fpm pool polled every 0.2 s is reloaded (SIGUSR2) and stopped
(SIGQUIT) mid-polling, then started again: collectd survives, the stopped pool is fpm_up 0 with
one log line, and it comes back with its recovery logged once. (A pool with every worker busy
is test_saturation's; the intermittent `Status: 500` is the status_500_once peer above.)

SocketWithoutPermission: collectd runs as root in every other test, and root connects to any
unix socket whatever its mode, so a permission failure cannot be shown by it. This class runs
a second collectd as nobody:nogroup (setpriv --clear-groups) in a directory it owns, beside a
root-owned 0600 socket: the pool is down with "Permission denied", and recovers once the
socket is opened up.
"""
import ctypes
import grp
import os
import pwd
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "hostile_peer.py")
INTERVAL = 1
TIMEOUT_MS = 500
WATCH = 8  # intervals to watch the hostile pools misbehave for
# A read must end within the Timeout plus this, counted from the read's start (the time its
# rows carry, and the base of every pool's deadline) to the moment the in-process ClockPeer
# sees its connection closed. What may add to the Timeout: poll()'s wake-up after the deadline,
# closing some thirty sockets under ASan, and the ClockPeer thread's own wake-up (a Python
# thread sharing the GIL with the test's polling loops). On a 2-core machine with both cores
# busy each of these is a few ms to a few tens of ms; 0.3 s leaves room for all of them at once
# and still fails a read that waits out a second Timeout, or one pool after another.
READ_MARGIN = 0.3
# A row's time is printed with 3 decimals by the csv plugin: the read's start is known to 1 ms.
CSV_TIME_RESOLUTION = 0.001

# Mode -> what the log line must say (a regular expression).
DOWN_MODES = {
    "silent": r"no reply within 500 ms",
    "drip": r"no reply within 500 ms \([1-9]\d* bytes received\)",
    "garbage": r"FastCGI protocol version \d+ in a record header",
    "short_content": r"connection closed before the end of the reply",
    "bad_version": r"FastCGI protocol version 2 in a record header",
    "bad_request_id": r"request id 2 \(expected 1\)",
    "unknown_type": r"record type 42",
    "stdout_flood": r"reply larger than 1048576 bytes",
    "stderr_flood": r"reply larger than 1048576 bytes",
    "cant_mpx_conn": r"protocolStatus 1 \(CANT_MPX_CONN\)",
    "overloaded": r"protocolStatus 2 \(OVERLOADED\)",
    "json_truncated": r"status JSON is not valid JSON",
    "json_deep": r"status JSON is not valid JSON",  # cJSON's nesting limit (1000)
    "json_wrong_types": r"status JSON field \"[a-z ]+\" is not a number",
    "json_huge": r"reply larger than 1048576 bytes",
    # A unix socket has no RST: a close mid-reply reads as an early end of the stream.
    "reset_mid_reply": r"connection closed before the end of the reply",
}
# The same misbehaviour over TCP (pool name -> mode, cause).
TCP_MODES = {
    "tcp_silent": ("silent", r"no reply within 500 ms"),
    "tcp_garbage": ("garbage", r"FastCGI protocol version \d+ in a record header"),
    "tcp_flood": ("stdout_flood", r"reply larger than 1048576 bytes"),
    # SO_LINGER 0: a real RST. Whether the half reply is read before it depends on timing.
    "tcp_reset": ("reset_mid_reply",
                  r"Connection reset by peer|connection closed before the end of the reply"),
}
# Valid replies; "control" is the peer's healthy mode (the php-fpm pool is "healthy").
UP_MODES = {"max_lengths": "max_lengths", "status_500_once": "status_500_once",
            "control": "healthy"}

_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the test runner


# ASan keeps freed memory in a quarantine of 256 MiB by default, and the capped replies free a
# few MiB per read: RSS would climb to the quarantine's size and hide a real leak. A smaller
# quarantine (still many reads' worth) makes RSS growth meaningful under ASan too.
ASAN_QUARANTINE_MB = 16


class asan_quarantine:
    """Sets ASAN_OPTIONS quarantine_size_mb for the processes started within (harness'
    collectd_env() copies os.environ); does nothing without an ASan build."""

    def __init__(self, mb):
        self.mb = mb
        self.saved = None

    def __enter__(self):
        self.saved = os.environ.get("ASAN_OPTIONS")
        if harness._preload():
            os.environ["ASAN_OPTIONS"] = ((self.saved + ":") if self.saved else "") + \
                "quarantine_size_mb=%d" % self.mb
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = self.saved
        return False


def values(rows):
    return [v for _, v in rows]


def fd_floor(cd, seconds):
    """Fewest fds collectd held over `seconds`: a read holds one socket per request in flight,
    so the minimum is the count between reads."""
    counts = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        counts.append(cd.fd_count())
        time.sleep(0.02)
    return min(counts)


def rss_kib(pid, field="VmRSS"):
    """VmRSS (resident now) or VmHWM (peak resident) of a process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for %d" % (field, pid))


class HostilePeer:
    """One hostile_peer.py process (its own process group), on a unix path or a TCP port."""

    def __init__(self, mode, unix=None, port=None, args=()):
        self.mode, self.unix, self.port = mode, unix, port
        self.args = list(args)  # more options of hostile_peer.py, e.g. ["--page", FILE]
        self.proc = None

    @property
    def address(self):
        return self.unix if self.unix else ("127.0.0.1", self.port)

    def start(self):
        where = ["--unix", self.unix] if self.unix else ["--tcp", str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, PEER, *where, self.mode, "--lifetime", "240", *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_child_setup)
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("hostile peer %s %s not ready (exit %s)" % (
                    self.mode, self.address, self.proc.poll()))
            if select.select([self.proc.stdout], [], [], left)[0]:
                byte = os.read(self.proc.stdout.fileno(), 1)
                if not byte:
                    continue
                line += byte
        if line.strip() != b"ready":
            raise RuntimeError("hostile peer said %r" % line)
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc.stdout.close()
        self.proc = None


def start_peers(case_cls, peers):
    for p in peers:
        p.start()
        case_cls.addClassCleanup(p.stop)
    for p in peers:
        p.wait_ready()


class ClockPeer:
    """An in-process listener that accepts and never answers, noting when each connection
    arrives and when fcgx gives up on it (closes it): fcgx opens every pool's status connection
    at the start of a read, and the read ends when its last pool's deadline passes, so each
    connection's life is the length of a read that has a hung pool in it."""

    def __init__(self, path):
        self.path = path
        self.accepts = []
        self.lifetimes = []  # (accepted, closed by fcgx)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            accepted = time.time()
            self.accepts.append(accepted)
            threading.Thread(target=self._watch, args=(conn, accepted), daemon=True).start()

    def _watch(self, conn, accepted):
        conn.settimeout(30)
        try:
            while conn.recv(65536):  # the request, then EOF when fcgx closes
                pass
            self.lifetimes.append((accepted, time.time()))
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Checks:
    """Assertions shared by the classes below (a mixin)."""

    def pool_log_lines(self, pool):
        return self.cd.log_lines(r'fcgx plugin: pool "%s"' % re.escape(pool))

    def assert_every_interval(self, ident, min_rows, interval=INTERVAL, rows=None):
        rows = self.cd.csv_rows(ident) if rows is None else rows
        self.assertGreaterEqual(len(rows), min_rows, (ident, rows))
        late = harness.gaps(rows)[1:]  # the first read may come at any point of the interval
        self.assertTrue(all(g <= 1.5 * interval for g in late), (ident, harness.gaps(rows)))
        return rows

    def assert_down_only_up(self, pool, min_rows):
        rows = self.assert_every_interval("fcgx-%s/fpm_up" % pool, min_rows,
                                          rows=self.watched["fcgx-%s/fpm_up" % pool])
        self.assertEqual(values(rows), [0.0] * len(rows))
        # Every peer listens on this host: the kernel's queue figures come too.
        self.assertEqual(self.watched_listval[pool], harness.DOWN_LISTENING)
        self.assertEqual(self.watched_csv[pool], harness.DOWN_LISTENING)

    def assert_down_logged_once(self, pool, address, cause):
        lines = self.watched_log[pool]
        self.assertEqual(len(lines), 1, (pool, lines))
        line = lines[0]
        self.assertIn("down:", line)
        shown = address if isinstance(address, str) else "%s:%d" % address
        self.assertIn(shown, line)
        self.assertRegex(line, cause)
        return line


class HostileMatrix(Checks, unittest.TestCase):
    """healthy: a real php-fpm pool; one pool per hostile mode on a unix socket; four of them
    again on TCP; clock: an in-process silent listener timing the reads."""

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "healthy", "max_children": 2}])
        cls.peer_dir = harness.make_tmpdir("fcgx-hostile-")
        cls.addClassCleanup(harness.remove_tmpdir, cls.peer_dir)
        cls.peers = {}
        unix = dict({mode: mode for mode in DOWN_MODES}, **UP_MODES)
        for name, mode in unix.items():
            cls.peers[name] = HostilePeer(mode, unix=os.path.join(cls.peer_dir, name + ".sock"))
        for name, (mode, _) in TCP_MODES.items():
            cls.peers[name] = HostilePeer(mode, port=harness.free_port())
        start_peers(cls, cls.peers.values())
        cls.clock = ClockPeer(os.path.join(cls.peer_dir, "clock.sock"))
        cls.addClassCleanup(cls.clock.close)

        pools = [harness.pool_block("healthy", cls.fpm.address("healthy"), OPcache=False)]
        pools += [harness.pool_block(name, p.address, OPcache=False)
                  for name, p in cls.peers.items()]
        pools.append(harness.pool_block("clock", cls.clock.path, OPcache=False))
        with asan_quarantine(ASAN_QUARANTINE_MB):
            cls.cd = harness.start_collectd(
                cls, harness.plugin_block(*pools, timeout=TIMEOUT_MS), interval=INTERVAL)
        pid = cls.cd.proc.pid
        cls.rss_start = rss_kib(pid)

        # Warm-up: two reads (buffers allocated, csv files open), then the baseline.
        cls.cd.wait_rows("fcgx-healthy/fpm_up", 2, 10)
        cls.fds_early, _ = cls.fd_sample()
        cls.rss_early = rss_kib(pid)
        cls.watch_start = time.time()
        cls.cd.settle("fcgx-healthy/fpm_up", 2 + WATCH, WATCH + 6)
        cls.fds_late, cls.fds_max = cls.fd_sample()
        cls.rss_late = rss_kib(pid)
        cls.rss_peak = rss_kib(pid, "VmHWM")

        # Snapshot everything the watch tests look at, before the recovery test changes it.
        cls.watched = {}
        cls.watched_listval, cls.watched_csv, cls.watched_log = {}, {}, {}
        names = list(cls.peers) + ["healthy", "clock"]
        for name in names:
            cls.watched["fcgx-%s/fpm_up" % name] = cls.cd.csv_rows("fcgx-%s/fpm_up" % name)
            cls.watched_listval[name] = cls.cd.identifiers(name)
            cls.watched_csv[name] = cls.cd.csv_type_instances(name)
            cls.watched_log[name] = cls.cd.log_lines(r'fcgx plugin: pool "%s"' % re.escape(name))
        cls.watched_healthy_total = cls.cd.csv_rows("fcgx-healthy/fpm_processes-total")

    @classmethod
    def fd_sample(cls):
        """(min, max) of collectd's fd count over ~1 interval: a read holds one socket per
        request in flight (for about the Timeout), so the minimum is the count between reads."""
        counts = []
        end = time.monotonic() + 1.2 * INTERVAL
        while time.monotonic() < end:
            counts.append(cls.cd.fd_count())
            time.sleep(0.02)
        return min(counts), max(counts)

    # -- the watch

    def test_a_collectd_alive_and_not_slowed(self):
        self.cd.check_alive()
        for pattern in (r"Not sleeping because", r"read-function of plugin .fcgx. failed",
                        r"above its read interval", r"fcgx.*(suspend|took)"):
            self.assertEqual(self.cd.log_lines(pattern), [], pattern)

    def test_a_healthy_pool_every_interval(self):
        rows = self.assert_every_interval("fcgx-healthy/fpm_up", WATCH,
                                          rows=self.watched["fcgx-healthy/fpm_up"])
        self.assertEqual(values(rows), [1.0] * len(rows))
        total = self.assert_every_interval("fcgx-healthy/fpm_processes-total", WATCH,
                                           rows=self.watched_healthy_total)
        self.assertEqual(values(total), [2.0] * len(total))
        self.assertEqual(self.watched_log["healthy"], [])

    def test_a_reads_end_within_the_timeout(self):
        """A hung pool's connection is given up at its Timeout, not earlier and not later: the
        read that holds it ends then (and the healthy pool's rows, one per interval, show none
        is late). Each connection is timed from the start of its read (the time of the clock
        pool's row for that read, which is also the base of fcgx's deadline), not from when the
        ClockPeer got round to accepting it: on a loaded machine the accept comes late by an
        unknown amount, and the connection is opened only after the pools before it."""
        starts = [t for t, _ in self.cd.csv_rows("fcgx-clock/fpm_up")]
        lives = []
        for accepted, closed in list(self.clock.lifetimes):
            if accepted < self.watch_start:
                continue
            before = [t for t in starts if t <= accepted]
            # A later read's row is written, so this read's row is too.
            if before and any(t > closed for t in starts):
                lives.append((before[-1], closed))
        self.assertGreaterEqual(len(lives), WATCH - 2, (self.clock.lifetimes, starts))
        durations = [c - s for s, c in lives]
        sys.stderr.write("\nread durations (s): %s\n" % " ".join("%.3f" % d for d in durations))
        self.assertTrue(all(TIMEOUT_MS / 1000 - CSV_TIME_RESOLUTION <= d
                            <= TIMEOUT_MS / 1000 + READ_MARGIN for d in durations),
                        ["%.3f" % d for d in durations])

    def test_a_bad_pools_down_only_fpm_up_logged_once(self):
        causes = dict(DOWN_MODES)
        causes.update({name: cause for name, (_, cause) in TCP_MODES.items()})
        for name, cause in causes.items():
            with self.subTest(pool=name):
                self.assert_down_only_up(name, WATCH)
                self.assert_down_logged_once(name, self.peers[name].address, cause)
        with self.subTest(pool="clock"):
            self.assert_down_only_up("clock", WATCH)
            self.assert_down_logged_once("clock", self.clock.path, r"no reply within 500 ms")

    def test_a_valid_replies_are_up(self):
        """max_lengths: a STDERR record of 65535 bytes with 255 of padding before a valid
        reply; status_500_once: every poll's first status request answers 500, the retry 200;
        control: the peer's healthy mode. Figures are the peer's: 2 processes, 7 accepted."""
        for name in UP_MODES:
            with self.subTest(pool=name):
                rows = self.assert_every_interval("fcgx-%s/fpm_up" % name, WATCH,
                                                  rows=self.watched["fcgx-%s/fpm_up" % name])
                self.assertEqual(values(rows), [1.0] * len(rows))
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_processes-total" % name), 2.0)
                accepted = self.cd.csv_rows("fcgx-%s/fpm_requests-accepted" % name)
                self.assertTrue(accepted and set(values(accepted)) == {7.0}, accepted)
                self.assertIn("fpm_response_time-ping", self.watched_listval[name])
                self.assertEqual(self.watched_log[name], [])

    def test_a_no_fd_leak(self):
        """Between reads collectd holds as many fds after WATCH reads as after the warm-up;
        within a read, at most one socket per pool (status, then ping, one at a time), plus
        the files collectd's own write threads and logfile open for a moment."""
        sys.stderr.write("\nfds: %d after warm-up, %d after %d reads, at most %d mid-read\n" % (
            self.fds_early, self.fds_late, WATCH, self.fds_max))
        self.assertLessEqual(self.fds_late, self.fds_early, "collectd's fds grew")
        pools = len(self.peers) + 2  # hostile peers + healthy + clock
        self.assertLessEqual(self.fds_max, self.fds_early + pools + 8,
                             (self.fds_early, self.fds_max))

    def test_a_memory_bounded(self):
        """RSS after WATCH reads is within a few MiB of RSS after the warm-up, and the peak
        (VmHWM, which also covers the first reads) stays far below the 50 MB that buffering
        json_huge would take: json_huge and the endless floods are cut at the 1 MiB reply cap.
        Under ASan, freed memory sits in the allocator's quarantine (ASAN_QUARANTINE_MB here)
        and the shadow memory adds to RSS, so the bounds are looser there."""
        asan = bool(harness._preload())
        grown_mib = (self.rss_late - self.rss_early) / 1024
        peak_over_start_mib = (self.rss_peak - self.rss_start) / 1024
        sys.stderr.write("\nRSS KiB: start %d, after warm-up %d, after %d reads %d, peak %d\n" % (
            self.rss_start, self.rss_early, WATCH, self.rss_late, self.rss_peak))
        self.assertLess(grown_mib, ASAN_QUARANTINE_MB + 8 if asan else 4,
                        "RSS grew over the watch")
        if not asan:
            self.assertLess(peak_over_start_mib, 32, "RSS peak: a reply was not capped")

    # -- the recovery (runs last: it replaces the peers)

    def test_b_recovery_logged_once(self):
        """Each hostile peer is replaced by a healthy one on the same address: the pool comes
        up with the peer's figures, 'up again' is logged once, and the down line is not
        repeated."""
        down = list(DOWN_MODES) + list(TCP_MODES)
        replaced = time.time()
        for name in down:
            peer = self.peers[name]
            peer.stop()
            self.peers[name] = HostilePeer("healthy", unix=peer.unix, port=peer.port)
        start_peers(type(self), [self.peers[name] for name in down])
        # Rows carry their read's start time: a read that started once every new peer was ready
        # must find it up. (Starting twenty peers takes a while on a loaded machine: a fixed
        # delay after `replaced` could still catch one not listening yet.)
        ready = time.time()
        for name in down:
            self.cd.wait_value("fcgx-%s/fpm_up" % name, lambda v: v == 1.0, timeout=6)
        # Two more reads, so that a repeated line would show.
        t0 = time.time()
        harness.wait_for(lambda: len([r for r in self.cd.csv_rows("fcgx-healthy/fpm_up")
                                      if r[0] > t0]) >= 2, 4, what="two more reads")
        for name in down:
            with self.subTest(pool=name):
                lines = self.pool_log_lines(name)
                self.assertEqual(len([ln for ln in lines if "down:" in ln]), 1, lines)
                ups = [ln for ln in lines if "up again" in ln]
                self.assertEqual(len(ups), 1, lines)
                self.assertIn("up again", lines[-1], lines)
                self.assertEqual(self.cd.getval("fcgx-%s/fpm_processes-total" % name), 2.0)
                after = [r for r in self.cd.csv_rows("fcgx-%s/fpm_up" % name)
                         if r[0] > max(ready, replaced + 1.5)]
                self.assertTrue(after and set(values(after)) == {1.0}, after)
        # The healthy pool never missed a read, through the whole run.
        rows = self.assert_every_interval("fcgx-healthy/fpm_up", WATCH + 4)
        self.assertEqual(set(values(rows)), {1.0})
        self.cd.check_alive()


class FpmReloadAndStop(Checks, unittest.TestCase):
    """www: a real php-fpm pool polled every 0.2 s, reloaded (SIGUSR2) twice and stopped
    (SIGQUIT) while it is polled, then started again; ok: a pool of another php-fpm master at
    the global Interval, which must not notice."""

    FAST = 0.2

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": "www", "max_children": 2}])
        cls.other = harness.start_fpm(cls, [{"name": "ok", "max_children": 2}])
        block = harness.plugin_block(
            harness.pool_block("www", cls.fpm.address("www"), Interval=cls.FAST, OPcache=False),
            harness.pool_block("ok", cls.other.address("ok"), OPcache=False),
            timeout=TIMEOUT_MS)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL)
        cls.cd.wait_rows("fcgx-www/fpm_up", 5, 8)
        cls.cd.wait_rows("fcgx-ok/fpm_up", 2, 8)

    def test_reload_stop_start(self):
        cd, www = self.cd, "fcgx-www/fpm_up"
        fds_before = fd_floor(cd, 0.5)

        # Reloads: the sockets stay; a poll caught in the middle may fail (ECONNRESET, EOF),
        # and then its outage and its recovery are logged once each.
        for _ in range(2):
            self.fpm.send("www", 5)
            self.fpm.reload()
            reloaded = time.time()
            cd.wait_value(www, lambda v: v == 1.0, timeout=2)
            harness.wait_for(lambda: [r for r in cd.csv_rows(www)
                                      if r[0] > reloaded and r[1] == 1.0], 2,
                             what="a read after the reload")
            cd.check_alive()
        lines = self.pool_log_lines("www")
        downs = [ln for ln in lines if "down:" in ln]
        ups = [ln for ln in lines if "up again" in ln]
        self.assertEqual(len(downs), len(ups), lines)
        self.assertLessEqual(len(downs), 2, lines)
        logged_before_stop = len(lines)

        # SIGQUIT: php-fpm removes its socket; the pool is down, with one line, and nothing
        # but fpm_up is dispatched for it.
        self.fpm.stop()
        stopped = time.time()
        harness.wait_for(lambda: len([r for r in cd.csv_rows(www) if r[0] > stopped + 0.3])
                         >= 8, 4, what="8 reads of the stopped pool")
        cd.check_alive()
        after = [r for r in cd.csv_rows(www) if r[0] > stopped + 0.3]
        self.assertEqual(set(values(after)), {0.0}, after)
        self.assertTrue(all(g <= 1.5 * self.FAST for g in harness.gaps(after)), after)
        others = [t for t in cd.csv_type_instances("www") if t != "fpm_up"
                  for r in cd.csv_rows("fcgx-www/" + t) if r[0] > stopped + 0.3]
        self.assertEqual(others, [])
        new = self.pool_log_lines("www")[logged_before_stop:]
        self.assertEqual(len(new), 1, new)
        self.assertIn("down:", new[0])
        self.assertIn(self.fpm.address("www"), new[0])
        self.assertRegex(new[0], r"No such file or directory|Connection refused")

        # Started again on the same socket: up, with its figures, the recovery logged once.
        self.fpm.start()
        started = time.time()
        cd.wait_value(www, lambda v: v == 1.0, timeout=3)
        cd.wait_value("fcgx-www/fpm_processes-total", lambda v: v == 2.0, timeout=3)
        harness.wait_for(lambda: len([r for r in cd.csv_rows(www) if r[0] > started + 0.5])
                         >= 5, 3, what="5 reads after the restart")
        self.assertEqual(set(values([r for r in cd.csv_rows(www) if r[0] > started + 0.5])),
                         {1.0})
        new = self.pool_log_lines("www")[logged_before_stop:]
        self.assertEqual(len(new), 3, new)
        self.assertIn("up again", new[1])
        self.assertIn("php-fpm was restarted or reloaded", new[2])

        # Through it all: the other pool every interval, no read late, no fd kept.
        rows = self.assert_every_interval("fcgx-ok/fpm_up", 4)
        self.assertEqual(set(values(rows)), {1.0})
        self.assertEqual(self.pool_log_lines("ok"), [])
        for pattern in (r"Not sleeping because", r"read-function of plugin .fcgx. failed",
                        r"above its read interval"):
            self.assertEqual(cd.log_lines(pattern), [], pattern)
        fds_after = fd_floor(cd, 0.5)
        self.assertLessEqual(fds_after, fds_before)


NOBODY_UID, NOGROUP_GID = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid


class NobodyCollectd(harness.Collectd):
    """A collectd run as nobody:nogroup (setpriv, no supplementary groups), in a temporary
    directory it owns. collectd in the other tests runs as root, and root opens any socket
    whatever its mode: a permission failure can only be seen by a collectd that is not root."""

    def start(self, timeout=10):
        self._install_plugins(True)
        with open(self.conf, "w") as f:
            f.write(self.config_text(self.fcgx_block, self.log))
        for root, dirs, files in os.walk(self.dir):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, NOBODY_UID, NOGROUP_GID)
        out = open(self.out, "ab")
        try:
            self.proc = subprocess.Popen(
                ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                 harness.COLLECTD, "-f", "-C", self.conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=harness.collectd_env(), start_new_session=True, preexec_fn=_child_setup)
        finally:
            out.close()

        def ready():
            self.check_alive()
            return os.path.exists(self.sock) and self.command("LISTVAL") is not None
        harness.wait_for(ready, timeout, what="collectd's unixsock")
        return self


class SocketWithoutPermission(Checks, unittest.TestCase):
    """locked: a healthy peer whose socket is root's, mode 0600; open: the same peer, mode
    0666 (so collectd-as-nobody is shown to work). collectd runs as nobody; once the locked
    socket is opened up (chmod 0666), the pool recovers."""

    @classmethod
    def setUpClass(cls):
        cls.peer_dir = harness.make_tmpdir("fcgx-perm-")  # 0755: nobody may traverse it
        cls.addClassCleanup(harness.remove_tmpdir, cls.peer_dir)
        cls.locked = HostilePeer("healthy", unix=os.path.join(cls.peer_dir, "locked.sock"))
        cls.open = HostilePeer("healthy", unix=os.path.join(cls.peer_dir, "open.sock"))
        start_peers(cls, [cls.locked, cls.open])
        os.chmod(cls.locked.unix, 0o600)
        block = harness.plugin_block(
            harness.pool_block("locked", cls.locked.unix, OPcache=False),
            harness.pool_block("open", cls.open.unix, OPcache=False),
            timeout=TIMEOUT_MS)
        cls.cd = NobodyCollectd(block, interval=INTERVAL)

        def finish():
            try:
                alive = cls.cd.alive()
                rc = cls.cd.stop()
                sys.stderr.write("\n--- collectd (nobody) log tail ---\n%s\n%s\n" % (
                    harness.log_tail(cls.cd.log_text()), harness.log_tail(cls.cd.output_text())))
                reports = cls.cd.sanitizer_reports()
                if reports:
                    raise AssertionError("sanitizer reports:\n" + "\n".join(reports))
                if not alive or rc != 0:
                    raise AssertionError("collectd (nobody) died or exited with %s" % rc)
            finally:
                harness.remove_tmpdir(cls.cd.dir)
        cls.addClassCleanup(finish)
        cls.cd.start()
        cls.cd.settle("fcgx-open/fpm_up", 4, 8)

    def test_runs_as_nobody(self):
        with open("/proc/%d/status" % self.cd.proc.pid) as f:
            uids = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
        self.assertEqual(set(uids), {str(NOBODY_UID)})

    def test_permission_denied_then_recovery(self):
        rows = self.assert_every_interval("fcgx-locked/fpm_up", 3)
        self.assertEqual(set(values(rows)), {0.0})
        self.assertEqual(self.cd.identifiers("locked"), harness.DOWN_LISTENING)
        lines = self.pool_log_lines("locked")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("connect to %s: Permission denied" % self.locked.unix, lines[0])
        up = self.assert_every_interval("fcgx-open/fpm_up", 3)
        self.assertEqual(set(values(up)), {1.0})
        self.assertEqual(self.pool_log_lines("open"), [])

        os.chmod(self.locked.unix, 0o666)
        self.cd.wait_value("fcgx-locked/fpm_up", lambda v: v == 1.0, timeout=3)
        self.cd.wait_value("fcgx-locked/fpm_processes-total", lambda v: v == 2.0, timeout=3)
        lines = self.pool_log_lines("locked")
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("up again", lines[1])


if __name__ == "__main__":
    unittest.main()
