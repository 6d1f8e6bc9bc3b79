"""Fixtures for the integration tests: a real php-fpm 8.2 and a real collectd loading fcgx.so.

Python 3 standard library only. Every process runs in its own process group and is registered
for clean-up (tearDown, atexit, and PR_SET_PDEATHSIG as a last resort); every wait is bounded.

Environment (set by ctest):
  FCGX_PLUGIN      path of the built fcgx.so
  FCGX_TYPES_DB    path of types.db.fcgx
  FCGX_SOURCE_DIR  the source tree (informational)
  FCGX_PRELOAD     optional library to LD_PRELOAD into collectd (e.g. libasan.so or libtsan.so
                   for a sanitizer build); when unset and fcgx.so links libasan or libtsan, that
                   is preloaded.
  FCGX_KEEP_TMP    when set, temporary directories are kept for inspection.
"""
import atexit
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import fcgi_client

PHP_FPM = "php-fpm8.2"
COLLECTD = "collectd"
STOCK_PLUGIN_DIR = "/usr/lib/collectd"
STOCK_TYPES_DB = "/usr/share/collectd/types.db"
HOSTNAME = "test"

_live = []  # (Popen, name) of every process started and not yet reaped
_tmpdirs = []


def _cleanup_all():
    for proc, _ in list(_live):
        _kill_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    _live.clear()
    if not os.environ.get("FCGX_KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_all)


def _on_term(signum, _frame):
    _cleanup_all()
    os._exit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)

_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # If the test runner dies (even SIGKILL by a ctest timeout), the fixture dies with it.
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _spawn(argv, name, out_path, env=None):
    out = open(out_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, preexec_fn=_child_setup)
    finally:
        out.close()
    _live.append((proc, name))
    return proc


def _stop(proc, sig, grace):
    """Sends sig to the process group, waits up to grace s, then SIGKILLs; returns the exit
    code."""
    if proc.poll() is None:
        _kill_group(proc, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
    # Reap stragglers of the group (php-fpm workers) too.
    _kill_group(proc, signal.SIGKILL)
    for entry in list(_live):
        if entry[0] is proc:
            _live.remove(entry)
    return proc.returncode


def read_text(path):
    """A file's text, or "" while it does not exist (a log not written yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def make_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)  # php-fpm workers run as nobody and must read the docroot
    _tmpdirs.append(d)
    return d


def status_script():
    """src/fcgx-status.php where a pool's workers (user nobody) can read it."""
    return _readable_copy(os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "src", "fcgx-status.php")), "fcgx-script-")


def remove_tmpdir(d):
    if os.environ.get("FCGX_KEEP_TMP"):
        return
    shutil.rmtree(d, ignore_errors=True)
    if d in _tmpdirs:
        _tmpdirs.remove(d)


class FixtureDied(Exception):
    """A fixture process exited while a test waited on it: no point in waiting longer."""


def wait_for(predicate, timeout, interval=0.01, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it. Raises TimeoutError
    (FixtureDied at once when the predicate raises it)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except FixtureDied:
            raise
        except Exception as exc:  # noqa: BLE001 - report the last one on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s%s" % (
                timeout, what, " (last error: %r)" % (last_exc,) if last_exc else ""))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HungServer:
    """A listening TCP socket that never accepts: connect succeeds, no reply ever comes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------------------------
# php-fpm

SCRIPTS = {
    "hello.php": "<?php echo 'hello';\n",
    "sleep.php": "<?php $s = isset($_GET['s']) ? (float)$_GET['s'] : 1.0;\n"
                 "usleep((int)($s * 1000000)); echo 'slept';\n",
    "mem.php": "<?php $a = str_repeat('x', 4 * 1024 * 1024); echo strlen($a);\n",
}


class Busy:
    """k client threads each holding one php-fpm worker with sleep.php."""

    def __init__(self, address, k, seconds, script_filename):
        self.errors = []
        self.results = []
        self.threads = []
        for _ in range(k):
            t = threading.Thread(target=self._run, args=(address, seconds, script_filename),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, address, seconds, script_filename):
        try:
            out, _ = fcgi_client.get(address, "/sleep.php", "s=%g" % seconds,
                                     script_filename=script_filename, timeout=seconds + 15)
            self.results.append(out)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(exc)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


class PhpFpm:
    """One php-fpm master with the given pools, in a temporary directory.

    A pool is a dict: name (required); listen: "unix" (default), "tcp", a path or "127.0.0.1:PORT";
    unreachable: True for one the test cannot reach to see it ready (another network namespace);
    pm ("static"), max_children (3), start_servers/min_spare/max_spare (dynamic),
    status_listen: None, "unix" or "tcp"; extra: dict of more pool directives.
    opcache: False leaves OPcache out of php.ini; ini: more php.ini lines (text).
    """

    def __init__(self, pools, opcache=True, ini="", wrap=()):
        self.wrap = list(wrap)  # a command php-fpm runs under (e.g. unshare into namespaces)
        self.opcache = opcache
        self.ini_extra = ini
        self.dir = make_tmpdir("fcgx-fpm-")
        self.run_dir = os.path.join(self.dir, "run")
        self.docroot = os.path.join(self.dir, "www")
        os.makedirs(self.run_dir, mode=0o755)
        os.makedirs(self.docroot, mode=0o755)
        for name, text in SCRIPTS.items():
            path = os.path.join(self.docroot, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
        self.conf = os.path.join(self.dir, "php-fpm.conf")
        self.ini = os.path.join(self.dir, "php.ini")
        self.log = os.path.join(self.dir, "php-fpm.log")
        self.pools = {}
        for spec in pools:
            p = dict(spec)
            p.setdefault("listen", "unix")
            p.setdefault("pm", "static")
            p.setdefault("max_children", 3)
            p["address"] = self._address(p["name"], p["listen"])
            sl = p.get("status_listen")
            p["status_address"] = self._address(p["name"] + "-status", sl) if sl else None
            self.pools[p["name"]] = p
        self.proc = None

    def _address(self, name, kind):
        if kind == "unix":
            return os.path.join(self.run_dir, name + ".sock")
        if kind == "tcp":
            return ("127.0.0.1", free_port())
        if kind.startswith("/"):
            return kind
        host, port = kind.rsplit(":", 1)
        return (host, int(port))

    @staticmethod
    def _listen_text(address):
        return address if isinstance(address, str) else "%s:%d" % address

    def _write_config(self):
        with open(self.ini, "w") as f:
            if self.opcache:
                f.write("zend_extension=opcache.so\nopcache.enable=1\n"
                        "opcache.file_update_protection=0\n")
            if self.ini_extra:
                f.write(self.ini_extra.rstrip("\n") + "\n")
        lines = ["[global]", "pid = %s/php-fpm.pid" % self.run_dir, "error_log = /proc/self/fd/2",
                 "log_level = notice", "daemonize = no", ""]
        for p in self.pools.values():
            lines += ["[%s]" % p["name"], "user = nobody", "group = nogroup",
                      "listen = " + self._listen_text(p["address"]), "listen.mode = 0666",
                      "pm = " + p["pm"], "pm.max_children = %d" % p["max_children"]]
            if p["pm"] == "dynamic":
                lines += ["pm.start_servers = %d" % p.get("start_servers", 2),
                          "pm.min_spare_servers = %d" % p.get("min_spare", 1),
                          "pm.max_spare_servers = %d" % p.get("max_spare", 3)]
            lines += ["pm.status_path = /status", "ping.path = /ping", "ping.response = pong",
                      "catch_workers_output = yes", "security.limit_extensions = .php"]
            if p["status_address"]:
                lines.append("pm.status_listen = " + self._listen_text(p["status_address"]))
            for k, v in p.get("extra", {}).items():
                lines.append("%s = %s" % (k, v))
            lines.append("")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def start(self, timeout=10):
        self._write_config()
        env = dict(os.environ, PHP_INI_SCAN_DIR="")
        self.proc = _spawn(self.wrap + [PHP_FPM, "-F", "-O", "-y", self.conf, "-c", self.ini],
                           "php-fpm", self.log, env=env)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        if all(p.get("unreachable") for p in self.pools.values()):
            def logged():
                if self.proc.poll() is not None:
                    raise FixtureDied("php-fpm exited with %s:\n%s" % (
                        self.proc.returncode, self.log_text()[-2000:]))
                return "ready to handle connections" in self.log_text()
            wait_for(logged, timeout, what="php-fpm to say it is ready")
        for p in self.pools.values():
            if p.get("unreachable"):  # e.g. TCP in another network namespace
                continue
            for addr in filter(None, (p["address"], p["status_address"])):
                def answers(addr=addr):
                    if self.proc.poll() is not None:
                        raise FixtureDied("php-fpm exited with %s:\n%s" % (
                            self.proc.returncode, self.log_text()[-2000:]))
                    if isinstance(addr, str) and not os.path.exists(addr):
                        return False
                    return self.ping_address(addr, timeout=1) == "pong"
                wait_for(answers, max(0.1, deadline - time.monotonic()),
                         what="php-fpm pool %s at %s" % (p["name"], addr))

    def log_text(self):
        return read_text(self.log)

    def address(self, pool):
        return self.pools[pool]["address"]

    def status_address(self, pool):
        return self.pools[pool]["status_address"]

    def script(self, name):
        return os.path.join(self.docroot, name)

    @staticmethod
    def ping_address(addr, timeout=2):
        out, _ = fcgi_client.get(addr, "/ping", script_filename="/ping", timeout=timeout)
        status, _, body = fcgi_client.split_response(out)
        return body.decode() if status == 200 else None

    def ping(self, pool, timeout=2):
        return self.ping_address(self.address(pool), timeout)

    def status(self, pool, full=False, via_status_listen=False, timeout=2, retries=3):
        """php-fpm's own status JSON of the pool, read with the independent fcgi_client."""
        addr = self.status_address(pool) if via_status_listen else self.address(pool)
        query = "json&full" if full else "json"
        last = None
        for _ in range(retries):
            out, _ = fcgi_client.get(addr, "/status", query, script_filename="/status",
                                     timeout=timeout)
            status, _, body = fcgi_client.split_response(out)
            if status == 200:
                return json.loads(body.decode("utf-8", errors="replace"))
            last = status  # scoreboard lock race: 500/503, retry
            time.sleep(0.01)
        raise RuntimeError("status of pool %s answered HTTP %s" % (pool, last))

    def request(self, pool, script="hello.php", query="", timeout=5):
        out, err = fcgi_client.get(self.address(pool), "/" + script, query,
                                   script_filename=self.script(script), timeout=timeout)
        status, _, body = fcgi_client.split_response(out)
        if status != 200:
            raise RuntimeError("%s on pool %s: HTTP %d %r %r" % (script, pool, status, body, err))
        return body

    def send(self, pool, n, script="hello.php", query=""):
        """n sequential requests to script; raises if any fails."""
        return [self.request(pool, script, query) for _ in range(n)]

    def hold_busy(self, pool, k, seconds):
        """Starts k requests to sleep.php?s=seconds; returns a Busy to join."""
        return Busy(self.address(pool), k, seconds, self.script("sleep.php"))

    def reload(self, timeout=10):
        """SIGUSR2: php-fpm re-executes itself, keeps its sockets and resets every counter."""
        marker = "ready to handle connections"
        before = self.log_text().count(marker)
        os.kill(self.proc.pid, signal.SIGUSR2)
        wait_for(lambda: self.log_text().count(marker) > before, timeout,
                 what="php-fpm to finish reloading")
        self.wait_ready(timeout)

    def stop(self, grace=5):
        if self.proc is None:
            return None
        rc = _stop(self.proc, signal.SIGQUIT, grace)
        return rc

    def cleanup(self):
        self.stop()
        remove_tmpdir(self.dir)


# --------------------------------------------------------------------------------------------
# collectd

def plugin_path():
    path = os.environ.get("FCGX_PLUGIN")
    if not path:
        raise RuntimeError("FCGX_PLUGIN is not set (path of the built fcgx.so)")
    return path


def _readable_copy(path, prefix):
    """path copied into a directory anyone may enter (mode 0644), once per test process: the
    source tree may sit where only its owner can enter (a clone in `mktemp -d`, mode 0700), and
    php-fpm's workers and an unprivileged collectd read these files."""
    copies = _readable_copy.done
    if path not in copies:
        dest = os.path.join(make_tmpdir(prefix), os.path.basename(path))
        shutil.copyfile(path, dest)
        os.chmod(dest, 0o644)
        copies[path] = dest
    return copies[path]


_readable_copy.done = {}


def types_db_path():
    path = os.environ.get("FCGX_TYPES_DB")
    if not path:
        src = os.environ.get("FCGX_SOURCE_DIR",
                             os.path.join(os.path.dirname(__file__), "..", ".."))
        path = os.path.join(src, "types.db.fcgx")
    return _readable_copy(os.path.abspath(path), "fcgx-types-")


def _preload():
    """What to LD_PRELOAD into collectd: FCGX_PRELOAD, else libasan if fcgx.so needs it."""
    explicit = os.environ.get("FCGX_PRELOAD")
    if explicit:
        return explicit
    plugin = os.environ.get("FCGX_PLUGIN")
    if not plugin or not os.path.exists(plugin):
        return None
    try:
        out = subprocess.run(["ldd", plugin], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"lib[at]san\.so[.\d]*\s+=>\s+(\S+)", out)
    return m.group(1) if m else None


def collectd_env():
    env = dict(os.environ)
    pre = _preload()
    if pre and "libtsan" in os.path.basename(pre):
        env["LD_PRELOAD"] = pre
        # Not halt_on_error: a run shows every report (sanitizer_reports), and collectd then
        # exits non-zero (TSan's exitcode, 66), which the tests check too.
        opts = env.get("TSAN_OPTIONS", "")
        env["TSAN_OPTIONS"] = (opts + ":" if opts else "") + "second_deadlock_stack=1"
    elif pre:
        env["LD_PRELOAD"] = pre
        # collectd itself is not built for leak checking: its exit-time leaks are not ours.
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    return env


# A notification consumer for collectd's exec plugin (NotificationExec "nobody" SCRIPT DIR): the
# notification comes on stdin; one file per notification, renamed into place once complete.
NOTIFY_SCRIPT = """#!/bin/sh
tmp=$(mktemp "$1/.n.XXXXXXXX") || exit 1
cat > "$tmp" && mv "$tmp" "$tmp.txt"
"""


def parse_notification(text):
    """The exec plugin's format: "Key: value" header lines, an empty line, the message."""
    head, _, message = text.partition("\n\n")
    n = {"message": message.strip()}
    for line in head.splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            n[k] = v
    return n


class NotificationInbox:
    """A mixin for a TestCase class whose collectd hands its notifications to NOTIFY_SCRIPT in
    cls.inbox (cls.cd is the collectd). Subclasses may set notify_within (a wait's bound),
    keep_notification(n) (which ones count) and summarize(n) (one line in failure messages)."""

    notify_within = 8

    @staticmethod
    def keep_notification(n):
        return True

    @staticmethod
    def summarize(n):
        return "%s %s %s %s-%s: %s" % (n.get("Time"), n.get("Severity"), n.get("PluginInstance"),
                                       n.get("Type"), n.get("TypeInstance", ""), n.get("message"))

    @classmethod
    def notifications(cls):
        """Every complete notification so far, oldest first."""
        out = []
        for path in os.listdir(cls.inbox):
            if path.endswith(".txt"):
                out.append(parse_notification(read_text(os.path.join(cls.inbox, path))))
        return sorted(out, key=lambda n: float(n.get("Time", "0")))

    @classmethod
    def matching(cls, severity, pool, type_, type_instance=None, after=0.0):
        return [n for n in cls.notifications()
                if cls.keep_notification(n)
                and n.get("Severity") == severity and n.get("Plugin") == "fcgx"
                and n.get("PluginInstance") == pool and n.get("Type") == type_
                and n.get("TypeInstance") == type_instance
                and float(n.get("Time", "0")) > after]

    def wait_notification(self, severity, pool, type_, type_instance=None, after=0.0,
                          timeout=None):
        def found():
            self.cd.check_alive()
            return self.matching(severity, pool, type_, type_instance, after)
        try:
            return wait_for(found, timeout or self.notify_within, interval=0.1,
                            what="%s notification for %s %s-%s" % (severity, pool, type_,
                                                                   type_instance))
        except TimeoutError as exc:
            raise AssertionError("%s\nnotifications:\n%s\nlog:\n%s" % (
                exc, "\n".join(self.summarize(n) for n in self.notifications()),
                log_tail(self.cd.log_text(), 20))) from None


# What a pool that cannot be read dispatches when its socket listens on this host: fpm_up 0 and
# the kernel's view of its accept queue, nothing from php-fpm.
DOWN_LISTENING = {"fpm_up", "fpm_queue-kernel", "fpm_queue-kernel_max"}

SANITIZER_PATTERNS = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer"
                                r"|WARNING: ThreadSanitizer|FATAL: ThreadSanitizer")


class Collectd:
    """A collectd -f with logfile, unixsock, csv and (unless fcgx_block is None) fcgx."""

    def __init__(self, fcgx_block, interval=1, extra_plugins=(), extra_config="",
                 log_level="info"):
        self.dir = make_tmpdir("fcgx-cd-")
        self.plugin_dir = os.path.join(self.dir, "plugins")
        self.data_dir = os.path.join(self.dir, "csv")
        self.sock = os.path.join(self.dir, "collectd.sock")
        self.log = os.path.join(self.dir, "collectd.log")
        self.out = os.path.join(self.dir, "collectd.out")
        self.conf = os.path.join(self.dir, "collectd.conf")
        self.interval = interval
        self.fcgx_block = fcgx_block
        self.extra_plugins = list(extra_plugins)
        self.extra_config = extra_config
        self.log_level = log_level
        self.wrapper = []  # a command collectd runs under, e.g. valgrind and its options
        self.proc = None

    def _install_plugins(self, with_fcgx):
        os.makedirs(self.plugin_dir, exist_ok=True)
        for name in ["logfile", "unixsock", "csv"] + self.extra_plugins:
            shutil.copy(os.path.join(STOCK_PLUGIN_DIR, name + ".so"), self.plugin_dir)
        if with_fcgx:
            # collectd refuses symbolic links in PluginDir: copy the real file.
            shutil.copy(os.path.realpath(plugin_path()), os.path.join(self.plugin_dir, "fcgx.so"))

    def config_text(self, fcgx_block, log_file, with_store=True):
        lines = [
            'Hostname "%s"' % HOSTNAME,
            "FQDNLookup false",
            'BaseDir "%s"' % self.dir,
            'PIDFile "%s/collectd.pid"' % self.dir,
            'PluginDir "%s"' % self.plugin_dir,
            'TypesDB "%s" "%s"' % (STOCK_TYPES_DB, types_db_path()),
            "Interval %g" % self.interval,
            "LoadPlugin logfile",
            "<Plugin logfile>",
            '  File "%s"' % log_file,
            '  LogLevel "%s"' % self.log_level,
            "  Timestamp true",
            "</Plugin>",
        ]
        if with_store:
            lines += [
                "LoadPlugin unixsock",
                "<Plugin unixsock>",
                '  SocketFile "%s"' % self.sock,
                '  SocketGroup "root"',
                "</Plugin>",
                "LoadPlugin csv",
                "<Plugin csv>",
                '  DataDir "%s"' % self.data_dir,
                "  StoreRates false",
                "</Plugin>",
            ]
        for name in self.extra_plugins:
            lines.append("LoadPlugin %s" % name)
        if self.extra_config:
            lines.append(self.extra_config)
        if fcgx_block is not None:
            lines += ["LoadPlugin fcgx", fcgx_block]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10):
        self._install_plugins(self.fcgx_block is not None)
        with open(self.conf, "w") as f:
            f.write(self.config_text(self.fcgx_block, self.log))
        self.proc = _spawn(self.wrapper + [COLLECTD, "-f", "-C", self.conf], "collectd",
                           self.out, env=collectd_env())

        def ready():
            self.check_alive()
            return os.path.exists(self.sock) and self.command("LISTVAL") is not None
        wait_for(ready, timeout, what="collectd's unixsock")
        return self

    # -- state of the process

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise FixtureDied("collectd exited with %s:\n%s\n%s" % (
                self.proc.returncode, self.output_text()[-4000:], self.log_text()[-3000:]))

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def log_text(self):
        return read_text(self.log)

    def output_text(self):
        return read_text(self.out)

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [line for line in self.log_text().splitlines() if rx.search(line)]

    def sanitizer_reports(self):
        return [line for line in (self.output_text() + self.log_text()).splitlines()
                if SANITIZER_PATTERNS.search(line)]

    # -- unixsock

    def command(self, line, timeout=5):
        """Sends one unixsock command; returns (status, [lines]) where status is the count
        (negative on error)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            f = s.makefile("rb")
            first = f.readline().decode()
            if not first:
                raise RuntimeError("unixsock closed without reply to %r" % line)
            status = int(first.split(" ", 1)[0])
            lines = [f.readline().decode().rstrip("\n") for _ in range(max(status, 0))]
            return status, lines

    def listval(self):
        """{identifier without host: last update epoch}"""
        status, lines = self.command("LISTVAL")
        if status < 0:
            raise RuntimeError("LISTVAL failed: %d" % status)
        out = {}
        for line in lines:
            t, ident = line.split(" ", 1)
            host, rest = ident.split("/", 1)
            if host == HOSTNAME:
                out[rest] = float(t)
        return out

    def identifiers(self, plugin_instance):
        """Type-instances collectd holds for fcgx-POOL, e.g. {'fpm_up', 'fpm_processes-total'}."""
        prefix = "fcgx-%s/" % plugin_instance
        return {k[len(prefix):] for k in self.listval() if k.startswith(prefix)}

    def getval(self, ident):
        """Value of "fcgx-POOL/TYPE-INSTANCE" (host is added); None when collectd has none.

        For DERIVE types collectd answers a rate here; use csv_rows for the raw counter."""
        status, lines = self.command('GETVAL "%s/%s"' % (HOSTNAME, ident))
        if status < 0:
            return None
        values = {}
        for line in lines:
            k, v = line.split("=", 1)
            values[k] = float(v)
        return values["value"] if list(values) == ["value"] else values

    def wait_value(self, ident, predicate=lambda v: v is not None, timeout=8):
        """Waits until getval(ident) satisfies predicate; returns the value."""
        holder = {}

        def check():
            self.check_alive()
            holder["v"] = self.getval(ident)
            return holder["v"] is not None and predicate(holder["v"])
        try:
            wait_for(check, timeout, interval=0.05, what="%s (last %r)" % (ident, holder))
        except TimeoutError as exc:
            raise AssertionError("%s: last value %r" % (exc, holder.get("v"))) from None
        return holder["v"]

    # -- csv

    def csv_files(self, ident):
        """The csv files of "fcgx-POOL/TYPE-INSTANCE", oldest day first."""
        plugin_dir, name = ident.split("/", 1)
        base = os.path.join(self.data_dir, HOSTNAME, plugin_dir)
        rx = re.compile(r"^%s-\d{4}-\d{2}-\d{2}$" % re.escape(name))
        return sorted(p for p in glob.glob(os.path.join(base, name + "-*"))
                      if rx.match(os.path.basename(p)))

    def csv_rows(self, ident):
        """[(epoch, value)] as written by the csv plugin (raw counters: StoreRates false)."""
        rows = []
        for path in self.csv_files(ident):
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("epoch"):
                        continue
                    parts = line.split(",")
                    try:
                        rows.append((float(parts[0]), float(parts[1])))
                    except (ValueError, IndexError):
                        continue  # a line being written right now
        return rows

    def csv_type_instances(self, plugin_instance):
        base = os.path.join(self.data_dir, HOSTNAME, "fcgx-%s" % plugin_instance)
        if not os.path.isdir(base):
            return set()
        return {re.sub(r"-\d{4}-\d{2}-\d{2}$", "", n) for n in os.listdir(base)}

    def settle(self, ident, count, timeout):
        """Like wait_rows, but returns quietly on timeout: for a setUpClass, so that the tests
        themselves fail with their own messages (row counts, gaps) rather than a setup error."""
        try:
            return self.wait_rows(ident, count, timeout)
        except TimeoutError:
            return self.csv_rows(ident)  # FixtureDied is not caught: a dead collectd is fatal

    def wait_rows(self, ident, count, timeout):
        """Waits until ident has at least count csv rows; returns them."""
        def enough():
            self.check_alive()
            return len(self.csv_rows(ident)) >= count and self.csv_rows(ident)
        return wait_for(enough,
                        timeout, interval=0.05, what="%d csv rows of %s" % (count, ident))

    # -- lifecycle

    def stop(self, grace=10):
        if self.proc is None:
            return None
        return _stop(self.proc, signal.SIGTERM, grace)

    def cleanup(self):
        self.stop()
        remove_tmpdir(self.dir)

    def check_config(self, fcgx_block, timeout=20):
        """Runs `collectd -T -C FILE` on a config with fcgx_block; returns (exit code, output).
        Log lines go to stderr so they are part of the output."""
        self._install_plugins(fcgx_block is not None)
        path = os.path.join(self.dir, "check.conf")
        with open(path, "w") as f:
            f.write(self.config_text(fcgx_block, "stderr", with_store=False))
        try:
            r = subprocess.run([COLLECTD, "-T", "-C", path], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, errors="replace", timeout=timeout,
                               env=collectd_env(), start_new_session=True,
                               preexec_fn=_child_setup)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("collectd -T did not finish within %d s" % timeout) from exc
        return r.returncode, r.stdout + r.stderr


def check_config(fcgx_block, timeout=20, **collectd_kwargs):
    """(exit code, output) of `collectd -T` on a config holding fcgx_block."""
    cd = Collectd(None, **collectd_kwargs)
    try:
        return cd.check_config(fcgx_block, timeout)
    finally:
        remove_tmpdir(cd.dir)


# --------------------------------------------------------------------------------------------
# config text helpers

def pool_block(name, address=None, status_address=None, **options):
    """A <Pool> block. address: a unix path or (host, port); options are written as given
    (True/False as booleans, ints bare, strings quoted)."""
    lines = ['  <Pool "%s">' % name]
    if address is not None:
        if isinstance(address, str):
            lines.append('    Socket "%s"' % address)
        else:
            lines.append('    Host "%s"' % address[0])
            lines.append('    Port "%d"' % address[1])
    if status_address is not None:
        if isinstance(status_address, str):
            lines.append('    StatusSocket "%s"' % status_address)
        else:
            lines.append('    StatusHost "%s"' % status_address[0])
            lines.append('    StatusPort "%d"' % status_address[1])
    for k, v in options.items():
        if isinstance(v, bool):
            lines.append("    %s %s" % (k, "true" if v else "false"))
        elif isinstance(v, (int, float)):
            lines.append("    %s %g" % (k, v))
        else:
            lines.append('    %s "%s"' % (k, v))
    lines.append("  </Pool>")
    return "\n".join(lines)


def plugin_block(*pools, timeout=None):
    lines = ["<Plugin fcgx>"]
    if timeout is not None:
        lines.append("  Timeout %d" % timeout)
    lines += list(pools)
    lines.append("</Plugin>")
    return "\n".join(lines)


def gaps(rows):
    """Differences between consecutive epochs of csv rows."""
    times = [t for t, _ in rows]
    return [b - a for a, b in zip(times, times[1:])]


# --------------------------------------------------------------------------------------------
# unittest glue

def log_tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def start_fpm(case_cls, pools, **fpm_kwargs):
    """Starts php-fpm for a TestCase class; stopped and removed by a class cleanup.
    fpm_kwargs go to PhpFpm (opcache, ini)."""
    fpm = PhpFpm(pools, **fpm_kwargs)

    def finish():
        alive = fpm.proc is not None and fpm.proc.poll() is None
        try:
            fpm.stop()
            sys.stderr.write("\n--- php-fpm log tail (%s) ---\n%s\n" % (
                case_cls.__name__, log_tail(fpm.log_text(), 15)))
            if fpm.proc is not None and not alive:
                raise AssertionError("php-fpm died during the test (exit %s)"
                                     % fpm.proc.returncode)
        finally:
            remove_tmpdir(fpm.dir)
    case_cls.addClassCleanup(finish)
    return fpm.start()


def start_collectd(case_cls, fcgx_block, factory=None, start_timeout=10, **kwargs):
    """Starts collectd for a TestCase class. The class cleanup stops it, prints its log tail
    (shown by ctest --output-on-failure) and fails when collectd did not exit cleanly or a
    sanitizer reported something. factory: a Collectd subclass to use instead (kwargs go to it);
    a test that stops it itself sets its `stopped_rc` to the exit code it got."""
    cd = (factory or Collectd)(fcgx_block, **kwargs)

    def finish():
        try:
            stopped_rc = getattr(cd, "stopped_rc", None)
            alive = cd.alive() or stopped_rc is not None
            rc = cd.stop() if stopped_rc is None else stopped_rc
            sys.stderr.write("\n--- collectd log tail (%s) ---\n%s\n--- collectd output ---"
                             "\n%s\n" % (
                case_cls.__name__, log_tail(cd.log_text()), log_tail(cd.output_text(), 20)))
            reports = cd.sanitizer_reports()
            if reports:
                raise AssertionError("sanitizer reports from collectd:\n" + "\n".join(reports))
            if not alive:
                raise AssertionError("collectd died during the test (exit %s)" % rc)
            if rc != 0:
                raise AssertionError("collectd exited with %s after SIGTERM" % rc)
        finally:
            remove_tmpdir(cd.dir)
    case_cls.addClassCleanup(finish)
    return cd.start(start_timeout)
