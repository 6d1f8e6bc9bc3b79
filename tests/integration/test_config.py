"""Config errors stop collectd at start-up with one clear line (`collectd -T -C FILE`); every
documented option is accepted."""
import re
import unittest

import harness

GOOD_POOL = '    Socket "/tmp/fcgx-test-nothing-here.sock"\n'


def block(body, plugin_options=""):
    return "<Plugin fcgx>\n%s%s</Plugin>" % (plugin_options, body)


def pool(name, body):
    return '  <Pool "%s">\n%s  </Pool>\n' % (name, body)


def fcgx_lines(output):
    """Lines the plugin itself logged (not collectd's own about the plugin)."""
    return [ln for ln in output.splitlines() if re.search(r"\bfcgx plugin:", ln)]


class ConfigErrors(unittest.TestCase):
    def assert_rejected(self, text, *patterns):
        rc, out = harness.check_config(text)
        self.assertNotEqual(rc, 0, "collectd -T accepted:\n%s\n---\n%s" % (text, out))
        lines = fcgx_lines(out)
        self.assertGreaterEqual(len(lines), 1, out)
        self.assertLessEqual(len(lines), 2, "one clear line, not a flood:\n" + out)
        for pat in patterns:
            self.assertTrue(any(re.search(pat, ln, re.I) for ln in lines),
                            "no fcgx line matches %r:\n%s" % (pat, out))

    def test_control_valid_configs_pass(self):
        """The contract's example, every option; and the TCP variant. If these fail, the error
        cases below prove nothing."""
        full = block(pool("www", '''\
    Socket "/tmp/fcgx-test-nothing-here.sock"
    StatusSocket "/tmp/fcgx-test-nothing-status.sock"
    StatusPath "/status"
    PingPath "/ping"
    PingResponse "pong"
    ProcessDetails true
    OPcache true
    OPcacheScript "/usr/share/collectd/fcgx/fcgx-status.php"
    OPcacheInstance "php-fpm8.2"
    KernelQueue false
    Workers false
    MaxChildren 5
    MaxReplySize 65536
    Timeout 300
    Interval 10
'''), "  Timeout 300\n  AutoDiscover false\n  MaxConnections 64\n"
              '  OPcacheScript "/usr/share/collectd/fcgx/fcgx-status.php"\n')
        tcp = block(pool("api", '''\
    Host "127.0.0.1"
    Port "1"
    StatusHost "127.0.0.1"
    StatusPort "2"
    PingPath ""
    ProcessDetails false
''') + "")
        two = block(pool("a", GOOD_POOL) + pool("b-1.x_y", '    Host "localhost"\n    Port "9"\n'))
        for text in (full, tcp, two):
            with self.subTest(text=text):
                rc, out = harness.check_config(text)
                self.assertEqual(rc, 0, "%s\n---\n%s" % (text, out))

    def test_bad_new_options(self):
        self.assert_rejected(block(pool("www", GOOD_POOL + '    OPcacheInstance "a/b"\n')),
                             "OPcacheInstance")
        self.assert_rejected(block(pool("www", GOOD_POOL + "    MaxChildren 0\n")), "MaxChildren")
        self.assert_rejected(block(pool("www", GOOD_POOL + "    MaxReplySize 100\n")),
                             "MaxReplySize")
        self.assert_rejected(block(pool("www", GOOD_POOL), '  OPcacheScript "relative.php"\n'),
                             "OPcacheScript")
        for value in ("0", "-1"):
            self.assert_rejected(block(pool("www", GOOD_POOL), "  MaxConnections %s\n" % value),
                                 "MaxConnections")

    def test_unknown_option(self):
        self.assert_rejected(block(pool("www", GOOD_POOL + "    Bogus 1\n")), "Bogus")
        self.assert_rejected(block(pool("www", GOOD_POOL), "  Frobnicate true\n"), "Frobnicate")

    def test_no_address(self):
        self.assert_rejected(block(pool("www", '    StatusPath "/status"\n')), '"?www"?')

    def test_socket_and_host(self):
        self.assert_rejected(
            block(pool("www", GOOD_POOL + '    Host "127.0.0.1"\n    Port "9000"\n')),
            "Socket", "Host")

    def test_bad_port(self):
        for port in ('"70000"', '"abc"', '"0"', '"-1"'):
            with self.subTest(port=port):
                self.assert_rejected(
                    block(pool("www", '    Host "127.0.0.1"\n    Port %s\n' % port)),
                    r"port|%s" % re.escape(port.strip('"')))

    def test_bad_timeout(self):
        for where in ("plugin", "pool"):
            for value in ("0", "-5"):
                with self.subTest(where=where, value=value):
                    if where == "plugin":
                        text = block(pool("www", GOOD_POOL), "  Timeout %s\n" % value)
                    else:
                        text = block(pool("www", GOOD_POOL + "    Timeout %s\n" % value))
                    self.assert_rejected(text, "Timeout")

    def test_duplicate_pool_names(self):
        self.assert_rejected(block(pool("www", GOOD_POOL) + pool("www", GOOD_POOL)), "www")

    def test_socket_path_too_long(self):
        path = "/tmp/" + "p" * 110 + ".sock"  # AF_UNIX holds 107 bytes and a NUL
        self.assert_rejected(block(pool("www", '    Socket "%s"\n' % path)),
                             r"long|107|108|sun_path")
        self.assert_rejected(block(pool("www", GOOD_POOL + '    StatusSocket "%s"\n' % path)),
                             r"long|107|108|sun_path")

    def test_path_of_108_bytes_is_too_long(self):
        path = "/tmp/" + "r" * (108 - len("/tmp/"))  # no room left for the NUL
        self.assertEqual(len(path), 108)
        self.assert_rejected(block(pool("www", '    Socket "%s"\n' % path)),
                             r"long|107|108|sun_path")

    def test_path_of_exactly_107_bytes_is_fine(self):
        path = "/tmp/" + "q" * (107 - len("/tmp/"))
        self.assertEqual(len(path), 107)
        rc, out = harness.check_config(block(pool("www", '    Socket "%s"\n' % path)))
        self.assertEqual(rc, 0, out)

    def test_unusable_pool_name(self):
        for name in ("a/b", "x" * 200):
            with self.subTest(name=name):
                self.assert_rejected(block(pool(name, GOOD_POOL)),
                                     r"name|" + re.escape(name[:20]))


if __name__ == "__main__":
    unittest.main()
