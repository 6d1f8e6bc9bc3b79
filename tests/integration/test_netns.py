"""PHP-FPM in containers: a host php-fpm and two in mount, network and UTS namespaces of their own
(each with its own host name and its own tmpfs over the socket's folder), all three with the
same pool names on the same 127.0.0.1 port and the same unix socket path. One collectd with
AutoDiscover reports every pool's own figures (2, 3 and 4 workers: never one's figures under
another's name) under distinct names: the containers' after their host names, the host's pools
(a name the containers share) after their master. Real namespaces (`unshare`), as root."""
import os
import re
import shutil
import unittest
import uuid

import harness

SFX = uuid.uuid4().hex[:6]
TCP, SOCK = "ntcp" + SFX, "nsock" + SFX
SHARED = "/run/fcgx-test-" + SFX  # the socket's folder: the host's, and a tmpfs in each container
# The workers of each master's pools, and the host names of the containers.
WORKERS = {"host": 2, "cA" + SFX: 3, "cB" + SFX: 4}


def container(hostname):
    """unshare into new namespaces: the socket folder a tmpfs of its own, loopback up, a host
    name; then exec php-fpm."""
    return ["unshare", "--mount", "--propagation", "private", "--net", "--uts", "sh", "-c",
            'mount -t tmpfs tmpfs %s && ip link set lo up && hostname %s && exec "$0" "$@"'
            % (SHARED, hostname)]


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"),
                     "needs root, unshare and ip")
class Containers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(SHARED, exist_ok=True)
        cls.addClassCleanup(shutil.rmtree, SHARED, True)
        tcp = "127.0.0.1:%d" % harness.free_port()
        sock = os.path.join(SHARED, "www.sock")
        cls.masters = {}
        for name, workers in WORKERS.items():
            in_container = name != "host"
            cls.masters[name] = harness.start_fpm(cls, [
                {"name": TCP, "listen": tcp, "max_children": workers,
                 "unreachable": in_container},
                {"name": SOCK, "listen": sock, "max_children": workers,
                 "unreachable": in_container},
            ], wrap=container(name) if in_container else ())
        cls.cd = harness.start_collectd(
            cls, harness.plugin_block("  AutoDiscover true\n  OPcacheScript \"/nonexistent.php\""),
            interval=1)

    def instance(self, master, pool):
        """The plugin instance of a master's pool: a container's after its host name; the
        host's after its master, whose name holds its configuration's directory."""
        if master != "host":
            return "fcgx-%s-%s" % (master, pool)
        tag = os.path.basename(self.masters["host"].dir)
        found = harness.wait_for(
            lambda: {k.split("/")[0] for k in self.cd.listval()
                     if k.split("/")[0].endswith("-" + pool) and tag in k}, 20,
            what="the host's pool %s" % pool)
        self.assertEqual(len(found), 1, found)
        return found.pop()

    def test_every_pool_reports_its_own_figures_under_its_own_name(self):
        names = set()
        for master, workers in WORKERS.items():
            for pool in (TCP, SOCK):
                with self.subTest(master=master, pool=pool):
                    instance = self.instance(master, pool)
                    names.add(instance)
                    rows = self.cd.wait_rows("%s/fpm_processes-total" % instance, 3, 20)
                    self.assertEqual({v for _, v in rows}, {float(workers)}, instance)
                    self.assertEqual(self.cd.getval("%s/fpm_up" % instance), 1)
        self.assertEqual(len(names), 6, names)

    def test_the_log_names_container_master_and_pool(self):
        for name in WORKERS:
            if name == "host":
                continue
            pid = self.masters[name].proc.pid
            master = self.cd.log_lines(r'AutoDiscover: master %d \(.*\) in container "%s": 2 '
                                       r'pool\(s\); its OPcache as "%s"' % (pid, name, name))
            tcp = self.cd.log_lines(r"AutoDiscover: pool %s \(master %d\): 127\.0\.0\.1:\d+ in "
                                    r"net:\[\d+\]" % (TCP, pid))
            sock = self.cd.log_lines(r"AutoDiscover: pool %s \(master %d\): /proc/%d/root%s" % (
                SOCK, pid, pid, re.escape(SHARED)))
            self.assertEqual((len(master), len(tcp), len(sock)), (1, 1, 1), name)

    def test_no_kernel_figures_of_ours_under_a_container(self):
        """The table of listening sockets is of our network namespace: a container's TCP pool
        gets none of it (ours at 127.0.0.1:PORT is the host's pool)."""
        host_tcp = self.instance("host", TCP)
        self.cd.wait_value("%s/fpm_queue-kernel" % host_tcp)
        for name in WORKERS:
            if name != "host":
                have = self.cd.identifiers(self.instance(name, TCP)[len("fcgx-"):])
                self.assertNotIn("fpm_queue-kernel", have, name)


if __name__ == "__main__":
    unittest.main()
