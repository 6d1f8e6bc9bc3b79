"""The container examples in contrib/: the Kubernetes DaemonSet asks for the privileges fcgx
needs in a node's pods and no more (hostPID; SYS_PTRACE, SYS_ADMIN, DAC_OVERRIDE, every other
capability dropped; not privileged), and both it and the Docker image's collectd.conf include
the package's drop-in, which turns AutoDiscover on; and that collectd configuration, with the
drop-in, passes `collectd -T` with the built plugin. (No container engine runs here.)"""
import json
import os
import re
import subprocess
import unittest

import harness

SOURCE = os.environ.get("FCGX_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DAEMONSET = os.path.join(SOURCE, "contrib", "kubernetes", "fcgx-daemonset.yaml")
DOCKER_CONF = os.path.join(SOURCE, "contrib", "docker", "collectd.conf")
DROPIN = os.path.join(SOURCE, "contrib", "debian", "fcgx.conf")
# Debian's python3 has python3-yaml (scripts/install-deps); the tests' python may be another.
DEBIAN_PYTHON = "/usr/bin/python3"


def load_yaml_documents(path):
    code = ("import json, sys, yaml; "
            "print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")
    run = subprocess.run([DEBIAN_PYTHON, "-c", code, path], capture_output=True, text=True,
                         timeout=30)
    if run.returncode != 0:
        raise AssertionError("not valid YAML: %s" % run.stderr)
    return json.loads(run.stdout)


def yaml_available():
    return os.path.exists(DEBIAN_PYTHON) and subprocess.run(
        [DEBIAN_PYTHON, "-c", "import yaml"], capture_output=True, timeout=30).returncode == 0


class Contrib(unittest.TestCase):
    @unittest.skipUnless(yaml_available(), "no python3-yaml for Debian's python3")
    def test_daemonset_privileges(self):
        docs = {d["kind"]: d for d in load_yaml_documents(DAEMONSET)}
        self.assertEqual(set(docs), {"ConfigMap", "DaemonSet"})
        pod = docs["DaemonSet"]["spec"]["template"]["spec"]
        self.assertIs(pod["hostPID"], True)
        self.assertNotIn("hostNetwork", pod)  # pods' namespaces are entered, not the node's
        (container,) = pod["containers"]
        sec = container["securityContext"]
        self.assertIs(sec.get("privileged", False), False)
        self.assertEqual(sec["capabilities"]["drop"], ["ALL"])
        self.assertEqual(set(sec["capabilities"]["add"]), {"SYS_PTRACE", "SYS_ADMIN",
                                                           "DAC_OVERRIDE"})
        # Kubernetes refuses allowPrivilegeEscalation false beside SYS_ADMIN
        self.assertNotIn("allowPrivilegeEscalation", sec)
        conf = docs["ConfigMap"]["data"]["collectd.conf"]
        self.assertIn('<Include "/etc/collectd/collectd.conf.d">', conf)

    def test_docker_configuration_passes_collectd_check(self):
        """The image's collectd.conf and the package's drop-in, as collectd -T reads them (the
        Include pointed at a folder holding only the drop-in, write_prometheus left out: its
        port may be taken here)."""
        if not os.path.exists(os.path.join(harness.STOCK_PLUGIN_DIR, "write_prometheus.so")):
            self.skipTest("no write_prometheus.so")
        cd = harness.Collectd(None)
        self.addCleanup(harness.remove_tmpdir, cd.dir)
        dropins = os.path.join(cd.dir, "conf.d")
        os.makedirs(dropins)
        with open(DROPIN) as f:  # the types as built here, not yet installed
            dropin = f.read()
        with open(os.path.join(dropins, "fcgx.conf"), "w") as f:
            f.write(dropin.replace("/usr/share/collectd/types.db.fcgx", harness.types_db_path()))
        with open(DOCKER_CONF) as f:
            text = f.read()
        self.assertIn('<Include "/etc/collectd/collectd.conf.d">', text)
        text = text.replace("/etc/collectd/collectd.conf.d", dropins)
        text = re.sub(r"LoadPlugin write_prometheus\n<Plugin write_prometheus>.*?</Plugin>\n", "",
                      text, flags=re.S)
        text = re.sub(r"TypesDB [^\n]*", "", text)
        rc, out = cd.check_config(text.replace("  File stdout", '  File "stderr"'))
        self.assertEqual(rc, 0, out)
        self.assertIn("AutoDiscover true", dropin)
        self.assertIn('TypesDB "/usr/share/collectd/types.db" "/usr/share/collectd/types.db.fcgx"',
                      dropin)


if __name__ == "__main__":
    unittest.main()
