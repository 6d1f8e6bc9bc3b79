"""A php-fpm in a network namespace of its own (as in a container) beside one on the host, both
with a pool of one name on the same 127.0.0.1 port: AutoDiscover never reports the host's
figures under the container's pool (its 127.0.0.1 is not ours), says in one log line why that
pool is not polled, and still polls the container's pool on a unix socket (reached by path,
whatever the network namespace). Real namespaces: `unshare --net`, as root."""
import os
import shutil
import unittest
import uuid

import harness

SFX = uuid.uuid4().hex[:6]
WEB, SOCK = "nweb" + SFX, "nsock" + SFX
# `ip link set lo up` in the new namespace: its loopback starts down.
NETNS = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"),
                     "needs root, unshare and ip")
class OtherNetworkNamespace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = harness.free_port()
        address = "127.0.0.1:%d" % port
        cls.host = harness.start_fpm(cls, [{"name": WEB, "listen": address, "max_children": 2}])
        cls.container = harness.start_fpm(cls, [
            {"name": WEB, "listen": address, "max_children": 4, "unreachable": True},
            {"name": SOCK, "max_children": 3},
        ], wrap=NETNS)
        cls.cd = harness.start_collectd(
            cls, harness.plugin_block("  AutoDiscover true\n  OPcacheScript \"/nonexistent.php\""),
            interval=1)
        cls.cd.settle("fcgx-%s/fpm_up" % SOCK, 3, timeout=20)

    def test_the_host_pool_reports_its_own_figures(self):
        rows = self.cd.wait_rows("fcgx-%s/fpm_processes-total" % WEB, 3, 15)
        self.assertEqual({v for _, v in rows}, {2.0}, "the host's pool has 2 workers, never 4")
        self.assertEqual(self.cd.getval("fcgx-%s/fpm_up" % WEB), 1)

    def test_the_container_tcp_pool_is_not_polled_and_says_why(self):
        lines = self.cd.log_lines(r"AutoDiscover: pool %s \(master %d\) not polled" % (
            WEB, self.container.proc.pid))
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("in another network namespace", lines[0])
        # No instance names the container's pool: only the host's and the unix socket pool.
        mine = {k.split("/")[0] for k in self.cd.listval() if SFX in k}
        self.assertEqual(mine, {"fcgx-" + WEB, "fcgx-" + SOCK})

    def test_the_container_unix_pool_is_polled_by_path(self):
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_up" % SOCK, lambda v: v == 1), 1)
        self.assertEqual(self.cd.wait_value("fcgx-%s/fpm_processes-total" % SOCK), 3)


if __name__ == "__main__":
    unittest.main()
