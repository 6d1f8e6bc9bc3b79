"""The Debian package: `cpack -G DEB` builds it, it declares what it needs, and a real collectd
loads the plugin from where the package installs it (extracted into a fresh root) and polls a
real php-fpm pool with the packaged types and in-pool script."""
import os
import shutil
import subprocess
import tempfile
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
                           ("usr/share/doc/collectd-fcgx/collectd.conf.example", None)]:
            full = os.path.join(self.root, path)
            self.assertTrue(os.path.isfile(full), path)
            if mode is not None:
                self.assertEqual(os.stat(full).st_mode & 0o777, mode, path)

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
