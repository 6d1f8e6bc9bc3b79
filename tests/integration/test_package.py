"""The Debian package: `cpack -G DEB` builds it, it declares what it needs, and a real collectd
loads the plugin from where the package installs it (extracted into a fresh root) and polls a
real php-fpm pool with the packaged types and in-pool script.

StockDebianCollectd: Debian's own /etc/collectd/collectd.conf (from the `collectd` package,
unedited) with only the package's files added, in a mount namespace of its own where they stand
at their Debian paths: the packaged drop-in alone makes collectd report a php-fpm pool."""
import glob
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness

BUILD = os.environ.get("FCGX_BUILD_DIR")


@unittest.skipUnless(BUILD and shutil.which("cpack"), "FCGX_BUILD_DIR or cpack missing")
@unittest.skipIf(harness._preload(), "packages are built from the plain build")
class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="fcgx-deb-")
        run = subprocess.run(["cpack", "-G", "DEB", "-B", cls.out], cwd=BUILD,
                             capture_output=True, text=True, timeout=180)
        if run.returncode != 0:
            raise AssertionError("cpack failed:\n" + run.stdout + run.stderr)
        debs = [f for f in os.listdir(cls.out) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.out, debs[0])
        cls.root = os.path.join(cls.out, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()

    def test_control(self):
        self.assertEqual(self.field("Package"), "collectd-fcgx")
        depends = self.field("Depends")
        self.assertIn("collectd-core", depends)
        self.assertIn("libcjson1", depends)

    def test_files_in_debian_paths(self):
        for path, mode in [("usr/lib/collectd/fcgx.so", None),
                           ("usr/share/collectd/types.db.fcgx", None),
                           ("usr/share/collectd/fcgx/fcgx-status.php", 0o444),
                           ("usr/bin/fcgx-probe", None),
                           ("usr/share/doc/collectd-fcgx/collectd.conf.example", None),
                           ("etc/collectd/collectd.conf.d/fcgx.conf", None),
                           ("usr/share/doc/collectd-fcgx/examples/fcgx-rules.yml", None),
                           ("usr/share/doc/collectd-fcgx/examples/thresholds.conf", None),
                           ("usr/share/doc/collectd-fcgx/examples/fcgx-graphite.json", None)]:
            full = os.path.join(self.root, path)
            self.assertTrue(os.path.isfile(full), path)
            if mode is not None:
                self.assertEqual(os.stat(full).st_mode & 0o777, mode, path)

    def test_dropin_is_a_conffile(self):
        conffiles = subprocess.run(["dpkg-deb", "--info", self.deb, "conffiles"],
                                   capture_output=True, text=True, check=True, timeout=30).stdout
        self.assertEqual(conffiles.split(), ["/etc/collectd/collectd.conf.d/fcgx.conf"])
        self.assertIn("collectd", self.field("Recommends"))

    def test_stock_debian_collectd_reports_a_pool_with_no_edit(self):
        stock = "/etc/collectd/collectd.conf"  # Debian's, from the collectd package
        if not os.path.isfile(stock):
            self.skipTest("no %s: install the collectd package (scripts/install-deps)" % stock)
        pool = "pkg%d" % os.getpid()  # AutoDiscover sees every master: find ours by name
        fpm = harness.PhpFpm([{"name": pool, "max_children": 2}]).start()
        self.addCleanup(fpm.cleanup)
        # What the host would have after `apt-get install collectd collectd-fcgx`: collectd's
        # files, then the package's over them. Each is mounted at its Debian path below.
        tree = {"/etc/collectd": "etc", "/usr/lib/collectd": "lib", "/usr/share/collectd": "share"}
        for path, name in tree.items():
            shutil.copytree(path, os.path.join(self.out, name), symlinks=True)
            packaged = os.path.join(self.root, path.lstrip("/"))
            shutil.copytree(packaged, os.path.join(self.out, name), dirs_exist_ok=True)
        var = os.path.join(self.out, "var")
        os.makedirs(var)
        os.makedirs("/var/lib/collectd", exist_ok=True)
        mounts = " && ".join("mount --bind %s %s" % (os.path.join(self.out, name), path)
                             for path, name in tree.items())
        script = ("%s && mount --bind %s /var/lib/collectd && "
                  "exec collectd -f -C /etc/collectd/collectd.conf" % (mounts, var))
        log = os.path.join(self.out, "collectd.out")
        with open(log, "wb") as out:
            proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                     script], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=harness.collectd_env())

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait(timeout=10)
        self.addCleanup(stop)

        # Debian's configuration writes rrdtool files under /var/lib/collectd/rrd/HOST/.
        def last_update(name):
            if proc.poll() is not None:
                raise harness.FixtureDied("collectd exited %s:\n%s" % (
                    proc.returncode, harness.read_text(log)[-3000:]))
            for rrd in glob.glob(os.path.join(var, "rrd", "*", "fcgx-" + pool, name + ".rrd")):
                out = subprocess.run(["rrdtool", "lastupdate", rrd], capture_output=True,
                                     text=True, timeout=10).stdout.split()
                if len(out) >= 3 and out[-1] not in ("U", "nan"):
                    return float(out[-1])
            return None
        try:
            up = harness.wait_for(lambda: last_update("fpm_up"), 30, interval=0.5,
                                  what="fcgx-%s/fpm_up.rrd from the stock collectd" % pool)
            total = harness.wait_for(lambda: last_update("fpm_processes-total"), 30,
                                     interval=0.5, what="fpm_processes-total")
        except TimeoutError as exc:
            raise AssertionError("%s\n%s" % (exc, harness.read_text(log)[-3000:])) from None
        self.assertEqual(up, 1)
        self.assertEqual(total, 2)

    def test_collectd_loads_the_packaged_plugin(self):
        fpm = harness.PhpFpm([{"name": "www", "max_children": 2}]).start()
        self.addCleanup(fpm.cleanup)
        plugin_dir = os.path.join(self.root, "usr/lib/collectd")
        script = os.path.join(self.root, "usr/share/collectd/fcgx/fcgx-status.php")
        os.chmod(self.out, 0o755)  # php-fpm's workers (nobody) read the packaged script
        collectd = harness.Collectd(harness.plugin_block(
            harness.pool_block("www", fpm.address("www"), OPcacheScript=script)))
        collectd.plugin_dir = plugin_dir  # load fcgx.so where the package put it
        collectd._install_plugins = lambda with_fcgx: [
            shutil.copy(os.path.join(harness.STOCK_PLUGIN_DIR, name + ".so"), plugin_dir)
            for name in ("logfile", "unixsock", "csv")]
        os.environ["FCGX_TYPES_DB"] = os.path.join(self.root, "usr/share/collectd/types.db.fcgx")
        self.addCleanup(collectd.cleanup)
        collectd.start()
        self.assertEqual(collectd.wait_value("fcgx-www/fpm_processes-total"), 2)
        self.assertEqual(collectd.wait_value("fcgx-www/opcache_state-enabled"), 1)
        probe = subprocess.run([os.path.join(self.root, "usr/bin/fcgx-probe"), "-s",
                                fpm.address("www"), "live"], timeout=10)
        self.assertEqual(probe.returncode, 0)


if __name__ == "__main__":
    unittest.main()
