"""scripts/graphs on what collectd's rrdtool plugin really writes: a real php-fpm pool with some
traffic and OPcache, a pool that is never there, a real collectd with fcgx and rrdtool for a few
intervals; then one PNG per graph, each a valid PNG of rrdtool's size with its series drawn, and
no PNG for a graph whose RRD files do not exist."""
import collections
import os
import re
import shutil
import struct
import subprocess
import threading
import time
import unittest
import zlib

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GRAPHS = os.path.join(SOURCE_DIR, "scripts", "graphs")
STATUS_SCRIPT = harness.status_script()
RRDTOOL_SO = os.path.join(harness.STOCK_PLUGIN_DIR, "rrdtool.so")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Every graph of a pool that has every figure (status with full details, ping, OPcache).
ALL_GRAPHS = {"up", "processes", "process-states", "requests", "problems", "listen-queue",
              "request-duration", "request-cpu", "request-memory", "response-time",
              "opcache-memory", "opcache-hit-rate"}
# Series colours of scripts/graphs, for the pixel checks.
GREEN_UP, RED_DOWN = (0x2c, 0xa0, 0x2c), (0xd6, 0x27, 0x28)
ACCEPTED = (0x1f, 0x77, 0xb4)      # accepted requests per second (area)
IDLE = (0x98, 0xdf, 0x8a)          # idle processes (area)
OPCACHE_FREE = (0xc7, 0xe9, 0xc0)  # free OPcache memory (area)
OPCACHE_LINE = (0x94, 0x67, 0xbd)  # the OPcache script's round trip (line, drawn last)


def rrdtool_missing():
    """Why this test cannot run here, or None."""
    if shutil.which("rrdtool") is None:
        return "the rrdtool command is missing (Debian package rrdtool)"
    if not os.path.exists(RRDTOOL_SO):
        return "%s is missing" % RRDTOOL_SO
    ldd = subprocess.run(["ldd", RRDTOOL_SO], capture_output=True, text=True, timeout=10).stdout
    if "not found" in ldd:
        return "%s cannot load its libraries (Debian package librrd8)" % RRDTOOL_SO
    return None


def read_png(path):
    """(width, height, Counter of (r, g, b) pixels) of an 8-bit RGB or RGBA PNG; checks the
    signature, every chunk's CRC and the image data's length."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != PNG_MAGIC:
        raise AssertionError("%s: not a PNG (starts with %r)" % (path, data[:8]))
    pos, ihdr, idat = 8, None, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise AssertionError("%s: bad CRC in chunk %r" % (path, kind))
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        raise AssertionError("%s: no IEND chunk" % path)
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in (2, 6) or interlace:
        raise AssertionError("%s: unexpected PNG layout %r" % (path, ihdr))
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(idat)
    if len(raw) != height * (stride + 1):
        raise AssertionError("%s: %d bytes of image data for %dx%d" % (
            path, len(raw), width, height))
    pixels, prev = collections.Counter(), bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:
                                                          (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row's filter (PNG spec, section 9)
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xff
            elif kind == 2:
                line[i] = (line[i] + b) & 0xff
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xff
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 0xff
        pixels.update(zip(line[0::bpp], line[1::bpp], line[2::bpp]))
        prev = line
    return width, height, pixels


class Traffic:
    """Requests to the pool until stopped: hello.php in a loop and now and then two workers held
    by sleep.php, so that processes, requests and durations move."""

    def __init__(self, fpm, pool):
        self.fpm, self.pool, self.stop, self.done, self.errors = fpm, pool, threading.Event(), 0, []
        self.threads = [threading.Thread(target=self.hello, daemon=True),
                        threading.Thread(target=self.sleeper, daemon=True)]
        for t in self.threads:
            t.start()

    def hello(self):
        while not self.stop.is_set():
            try:
                self.fpm.request(self.pool, "hello.php")
                self.done += 1
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
            self.stop.wait(0.05)

    def sleeper(self):
        while not self.stop.is_set():
            self.fpm.hold_busy(self.pool, 2, 1.2).join(10)
            self.stop.wait(0.8)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)


@unittest.skipIf(rrdtool_missing(), rrdtool_missing())
class Graphs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # status, ping and the OPcache script through pm.status_listen: the traffic's busy
        # workers never delay the poll, so www is up in every interval
        cls.fpm = harness.start_fpm(cls, [{"name": "www", "pm": "dynamic", "max_children": 4,
                                           "start_servers": 2, "min_spare": 1, "max_spare": 3,
                                           "status_listen": "unix"}])
        cls.gone = os.path.join(cls.fpm.run_dir, "gone.sock")  # never exists
        block = harness.plugin_block(
            harness.pool_block("www", cls.fpm.address("www"), cls.fpm.status_address("www"),
                               OPcacheScript=STATUS_SCRIPT),
            harness.pool_block("gone", cls.gone), timeout=800)
        cls.cd = harness.Collectd(block, interval=1, extra_plugins=["rrdtool"])
        cls.addClassCleanup(cls.cd.cleanup)
        cls.rrd_dir = os.path.join(cls.cd.dir, "rrd")
        cls.cd.extra_config = "\n".join([
            "<Plugin rrdtool>", '  DataDir "%s"' % cls.rrd_dir, "  StepSize 1", "  HeartBeat 3",
            "  RRARows 1200", "  RRATimespan 3600", "</Plugin>"])
        cls.out = harness.make_tmpdir("fcgx-graphs-")
        cls.addClassCleanup(harness.remove_tmpdir, cls.out)

        cls.start = int(time.time())
        traffic = Traffic(cls.fpm, "www")
        try:
            cls.cd.start()
            # 8 intervals with values: accepted (DERIVE) has 7 rates, OPcache is warm
            cls.cd.settle("fcgx-www/fpm_requests-accepted", 8, 20)
        finally:
            traffic.finish()
        cls.traffic = traffic
        cls.alive_before_stop = cls.cd.alive()
        cls.collectd_rc = cls.cd.stop()  # the rrdtool plugin writes what it still holds
        cls.end = int(time.time())
        cls.result = subprocess.run(
            [GRAPHS, "--rrd-dir", os.path.join(cls.rrd_dir, harness.HOSTNAME), "--out", cls.out,
             "--start", str(cls.start), "--end", str(cls.end)],
            capture_output=True, text=True, timeout=60)
        cls.written = {}  # file name -> "WIDTHxHEIGHT" as reported
        for m in re.finditer(r"^wrote (\S+) \((\d+x\d+), ", cls.result.stdout, re.M):
            cls.written[os.path.basename(m.group(1))] = m.group(2)

    def explain(self):
        return "\nscripts/graphs:\n%s%s\ncollectd log:\n%s" % (
            self.result.stdout, self.result.stderr, harness.log_tail(self.cd.log_text(), 20))

    def test_collectd_ran_cleanly(self):
        self.assertTrue(self.alive_before_stop, self.explain())
        self.assertEqual(self.collectd_rc, 0, self.explain())
        self.assertEqual(self.cd.sanitizer_reports(), [])
        self.assertEqual(self.cd.log_lines(r"rrdtool plugin: .*(fail|error|illegal)|rrd_"), [],
                         self.explain())
        self.assertEqual(self.traffic.errors, [])
        self.assertGreater(self.traffic.done, 20)

    def test_one_png_per_graph(self):
        """Every graph of www; of gone, whose poll never answers, only up: its other RRD files
        do not exist and their graphs are skipped."""
        self.assertEqual(self.result.returncode, 0, self.explain())
        expected = {"www-%s.png" % g for g in ALL_GRAPHS} | {"gone-up.png"}
        self.assertEqual(set(os.listdir(self.out)), expected, self.explain())
        self.assertEqual(set(self.written), expected, self.explain())
        self.assertIn("skipped gone-processes.png", self.result.stdout)
        self.assertIn("fcgx graphs: %d PNG files in %s" % (len(expected), self.out),
                      self.result.stdout)

    def test_valid_pngs_of_rrdtools_size(self):
        for name, size in sorted(self.written.items()):
            with self.subTest(png=name):
                path = os.path.join(self.out, name)
                self.assertGreater(os.path.getsize(path), 4000)
                self.assertLess(os.path.getsize(path), 500000)
                with open(path, "rb") as f:
                    head = f.read(24)
                self.assertEqual(head[:8], PNG_MAGIC)
                self.assertEqual(head[12:16], b"IHDR")
                width, height = struct.unpack(">II", head[16:24])
                self.assertEqual("%dx%d" % (width, height), size)
                # the default plot area is 640x180; the image adds axes, title and legend
                self.assertGreater(width, 640)
                self.assertGreater(height, 180)

    def count(self, name, color):
        width, height, pixels = read_png(os.path.join(self.out, name))
        self.assertEqual("%dx%d" % (width, height), self.written[name])
        return pixels[color]

    def test_series_are_drawn(self):
        """The data is really in the pictures: a filled area covers a good part of the 640x180
        plot (a legend box alone is 56 pixels of its colour), a line runs across it."""
        plot = 640 * 180
        self.assertGreater(self.count("www-up.png", GREEN_UP), plot // 2)
        self.assertLess(self.count("www-up.png", RED_DOWN), 200)
        self.assertGreater(self.count("gone-up.png", RED_DOWN), plot // 2)
        self.assertLess(self.count("gone-up.png", GREEN_UP), 200)
        self.assertGreater(self.count("www-requests.png", ACCEPTED), plot // 20)
        self.assertGreater(self.count("www-processes.png", IDLE), plot // 20)
        self.assertGreater(self.count("www-opcache-memory.png", OPCACHE_FREE), plot // 2)
        # the last line drawn, so no other line hides it: at least 2 px along most of 640
        self.assertGreater(self.count("www-response-time.png", OPCACHE_LINE), 400)

    def test_pool_filter(self):
        """--pool draws only that pool's graphs."""
        out = harness.make_tmpdir("fcgx-graphs-")
        self.addCleanup(harness.remove_tmpdir, out)
        run = subprocess.run(
            [GRAPHS, "--rrd-dir", os.path.join(self.rrd_dir, harness.HOSTNAME), "--out", out,
             "--pool", "gone", "--start", str(self.start), "--end", str(self.end)],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(os.listdir(out), ["gone-up.png"])


if __name__ == "__main__":
    unittest.main()
