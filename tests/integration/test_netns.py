"""A php-fpm in network and UTS namespaces of its own (as in a container, host name set) beside
one on the host, both with a pool of one name on the same 127.0.0.1 port: AutoDiscover polls
each inside its own namespace and reports each pool's own figures under its own name (the host's
2 workers, the container's 4: never the host's figures under the container's name), the
container's pools named after its host name, its pool on a unix socket reached by path. Real
namespaces: `unshare --net --uts`, as root."""
import os
import re
import shutil
import unittest
import uuid

import harness

SFX = uuid.uuid4().hex[:6]
WEB, SOCK, HOST = "nweb" + SFX, "nsock" + SFX, "cont" + SFX
# `ip link set lo up` in the new namespace: its loopback starts down.
NETNS = ["unshare", "--net", "--uts", "sh", "-c",
         'ip link set lo up && hostname %s && exec "$0" "$@"' % HOST]


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
        cls.cd.settle("fcgx-%s-%s/fpm_up" % (HOST, SOCK), 3, timeout=20)

    def instance_of(self, fpm):
        """The plugin instance of fpm's pool WEB: the container's named after its host name;
        the host's after its master, whose name holds its configuration's directory."""
        if fpm is self.container:
            return "fcgx-%s-%s" % (HOST, WEB)
        tag = os.path.basename(fpm.dir)
        found = {k.split("/")[0] for k in self.cd.listval()
                 if k.split("/")[0].endswith("-" + WEB) and tag in k}
        self.assertEqual(len(found), 1, (tag, sorted(self.cd.listval())))
        return found.pop()

    def test_each_pool_reports_its_own_figures(self):
        for fpm, total in ((self.host, 2), (self.container, 4)):
            with self.subTest(total=total):
                instance = self.instance_of(fpm)
                rows = self.cd.wait_rows("%s/fpm_processes-total" % instance, 3, 15)
                self.assertEqual({v for _, v in rows}, {float(total)}, instance)
                self.assertEqual(self.cd.getval("%s/fpm_up" % instance), 1)

    def test_the_log_names_the_namespace(self):
        lines = self.cd.log_lines(r"AutoDiscover: pool %s \(master %d\): 127\.0\.0\.1:\d+ in "
                                  r"net:\[\d+\]" % (WEB, self.container.proc.pid))
        self.assertEqual(len(lines), 1, lines)

    def test_no_kernel_figures_of_our_namespace_under_the_container(self):
        """Our sock_diag table is of our namespace: its 127.0.0.1:PORT is the host's pool."""
        have = self.cd.identifiers(self.instance_of(self.container).split("-", 1)[1])
        self.assertNotIn("fpm_queue-kernel", have)
        self.assertIn("fpm_queue-kernel", self.cd.identifiers(self.instance_of(self.host)
                                                              .split("-", 1)[1]))

    def test_the_container_unix_pool_is_polled_by_path(self):
        sock = "fcgx-%s-%s" % (HOST, SOCK)
        self.assertEqual(self.cd.wait_value("%s/fpm_up" % sock, lambda v: v == 1), 1)
        self.assertEqual(self.cd.wait_value("%s/fpm_processes-total" % sock), 3)

    def test_the_container_opcache_is_named_after_it(self):
        lines = self.cd.log_lines(r"AutoDiscover: master %d \(.*\) in container \"%s\": 2 "
                                  r"pool\(s\); its OPcache as \"%s\"" % (self.container.proc.pid,
                                                                        HOST, HOST))
        self.assertEqual(len(lines), 1, lines)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"),
                     "needs root, unshare and ip")
class SameSocketPathInAnotherMountNamespace(unittest.TestCase):
    """A host php-fpm and a container's (mount, network and UTS namespaces of its own, its own
    tmpfs over the socket's folder) both listening on the same unix socket path: each pool is
    reached by its own socket (the container's through its master's root) and reports its own
    workers under its own name."""

    @classmethod
    def setUpClass(cls):
        cls.shared = "/run/fcgx-test-%s" % SFX
        os.makedirs(cls.shared, exist_ok=True)
        cls.addClassCleanup(shutil.rmtree, cls.shared, True)
        path = os.path.join(cls.shared, "www.sock")
        cls.host = harness.start_fpm(cls, [{"name": "mweb" + SFX, "listen": path,
                                            "max_children": 2}])
        container = ["unshare", "--mount", "--propagation", "private", "--net", "--uts", "sh",
                     "-c", 'mount -t tmpfs tmpfs %s && ip link set lo up && hostname m%s && '
                     'exec "$0" "$@"' % (cls.shared, HOST)]
        cls.container = harness.start_fpm(cls, [{"name": "mweb" + SFX, "listen": path,
                                                 "max_children": 4, "unreachable": True}],
                                          wrap=container)
        cls.cd = harness.start_collectd(
            cls, harness.plugin_block("  AutoDiscover true\n  OPcacheScript \"/nonexistent.php\""),
            interval=1)

    def test_each_socket_is_its_own_pool(self):
        mine = "fcgx-m%s-mweb%s" % (HOST, SFX)  # the container's, named after it
        rows = self.cd.wait_rows("%s/fpm_processes-total" % mine, 3, 20)
        self.assertEqual({v for _, v in rows}, {4.0})
        tag = os.path.basename(self.host.dir)
        host = {k.split("/")[0] for k in self.cd.listval()
                if k.split("/")[0].endswith("-mweb" + SFX) and tag in k}
        self.assertEqual(len(host), 1, sorted(self.cd.listval()))
        rows = self.cd.wait_rows("%s/fpm_processes-total" % host.pop(), 3, 20)
        self.assertEqual({v for _, v in rows}, {2.0})
        lines = self.cd.log_lines(r"AutoDiscover: pool mweb%s \(master %d\): /proc/%d/root%s" % (
            SFX, self.container.proc.pid, self.container.proc.pid, re.escape(self.shared)))
        self.assertEqual(len(lines), 1, "\n".join(self.cd.log_lines("AutoDiscover")))


if __name__ == "__main__":
    unittest.main()
