"""PHP-FPM in containers: a host php-fpm and two in mount, network and UTS namespaces of their own
(each with its own host name and its own tmpfs over the socket's folder), all three with the
same pool names on the same 127.0.0.1 port and the same unix socket path. One collectd with
AutoDiscover reports every pool's own figures (2, 3 and 4 workers; kernel queue figures read in
each one's network namespace: never one's figures under another's name) under distinct names:
the containers' after their host names, the host's under their own names (which the containers'
pools share). Real namespaces (`unshare`), as root."""
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
# listen.backlog of each master's pools: the kernel's queue figures tell whose socket they are.
BACKLOG = {"host": 200, "cA" + SFX: 300, "cB" + SFX: 400}


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
            backlog = {"listen.backlog": BACKLOG[name]}
            cls.masters[name] = harness.start_fpm(cls, [
                {"name": TCP, "listen": tcp, "max_children": workers,
                 "unreachable": in_container, "extra": backlog},
                {"name": SOCK, "listen": sock, "max_children": workers,
                 "unreachable": in_container, "extra": backlog},
            ], wrap=container(name) if in_container else ())
        cls.cd = harness.start_collectd(
            cls, harness.plugin_block("  AutoDiscover true\n  OPcacheScript \"/nonexistent.php\""),
            interval=1)

    @staticmethod
    def instance(master, pool):
        """The plugin instance of a master's pool: a container's after its host name; the
        host's its own name, whatever containers have pools of that name."""
        return "fcgx-%s" % pool if master == "host" else "fcgx-%s-%s" % (master, pool)

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

    def test_kernel_queue_figures_from_each_namespace(self):
        """Each pool's kernel figures are of its own socket, read in its own network namespace:
        its own listen.backlog, never the host's socket at the same port or path."""
        for master, backlog in BACKLOG.items():
            for pool in (TCP, SOCK):
                with self.subTest(master=master, pool=pool):
                    instance = self.instance(master, pool)
                    self.assertEqual(self.cd.wait_value("%s/fpm_queue-kernel_max" % instance,
                                                        timeout=15), backlog)
                    self.assertEqual(self.cd.getval("%s/fpm_queue-kernel" % instance), 0)


if __name__ == "__main__":
    unittest.main()
