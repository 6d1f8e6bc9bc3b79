"""End to end through collectd's own writers into the real servers operators run: one php-fpm
pool (static, 3 workers) polled by one real collectd with fcgx, which writes
  - with write_graphite (StoreRates, SeparateInstances) into a real carbon-cache, read back with
    whisper-fetch;
  - with the network plugin into a real InfluxDB 1.x collectd listener (types.db.fcgx loaded),
    read back through InfluxDB's HTTP query API;
  - with write_prometheus, scraped by a real Prometheus server, read back through its query API.
Every value list collectd holds for the pool (unixsock LISTVAL) must arrive in each server under
the documented name, with the right values; DERIVE counters arrive as rates in Graphite and as
raw counters (`_total`, type counter) in InfluxDB and Prometheus, where the query language's
rate functions give the same rates as collectd's own arithmetic on the raw counters (csv).

The servers come from Debian (graphite-carbon, python3-whisper, influxdb, prometheus,
libmicrohttpd12, libprotobuf-c1): installed when missing (as root, unless FCGX_NO_INSTALL is
set); a test is skipped only when its packages cannot be installed."""
import math
import os
import subprocess
import sys
import time
import unittest

import harness
import servers

INTERVAL = 1
POOL = "www"
PREFIX = "collectd."  # write_graphite Prefix: paths are collectd.HOST.fcgx.POOL.TYPE.INSTANCE
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
SCRIPT = harness.status_script()
WAIT = 20  # bound of every wait for data to show up in a server


def parse_types(*paths):
    """{type: [(ds name, ds kind)]} from types.db files."""
    types = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                name, rest = line.split(None, 1)
                types[name] = [(ds.split(":")[0], ds.split(":")[1])
                               for ds in rest.replace(",", " ").split()]
    return types


TYPES = parse_types(harness.STOCK_TYPES_DB, harness.types_db_path())


def split_ident(ident):
    """"fpm_processes-total" -> ("fpm_processes", "total"); "uptime" -> ("uptime", "")."""
    typ, _, inst = ident.partition("-")
    return typ, inst


def is_counter(typ):
    kinds = [k for _, k in TYPES[typ]]
    assert len(kinds) == 1, (typ, kinds)
    return kinds[0] in ("DERIVE", "COUNTER")


def csv_rates(rows):
    """[(epoch, rate)] computed from raw counter rows like collectd does: delta / delta t."""
    return [(t1, (v1 - v0) / (t1 - t0)) for (t0, v0), (t1, v1) in zip(rows, rows[1:])]


def write_prometheus_problem():
    """Why write_prometheus.so cannot be loaded (a missing library), or None."""
    so = os.path.join(harness.STOCK_PLUGIN_DIR, "write_prometheus.so")
    if not os.path.exists(so):
        return "%s is missing" % so
    out = subprocess.run(["ldd", so], capture_output=True, text=True, timeout=10).stdout
    bad = [line.strip() for line in out.splitlines() if "not found" in line]
    return "write_prometheus.so: " + "; ".join(bad) if bad else None


def server_cleanup(case_cls, server):
    def finish():
        alive = server.proc is not None and server.proc.poll() is None
        try:
            server.stop()
            sys.stderr.write("\n--- %s log tail (%s) ---\n%s\n" % (
                server.name, case_cls.__name__, harness.log_tail(server.log_text(), 15)))
            if server.proc is not None and not alive and server.name not in case_cls.errors:
                raise AssertionError("%s died during the test (exit %s)"
                                     % (server.name, server.proc.returncode))
        finally:
            harness.remove_tmpdir(server.dir)
    case_cls.addClassCleanup(finish)


class Writers(unittest.TestCase):
    """One collectd writing one pool to carbon-cache, InfluxDB and Prometheus at once."""

    @classmethod
    def setUpClass(cls):
        cls.skips = servers.missing_reasons(list(servers.PACKAGES))
        if cls.skips["prometheus"] is None:
            cls.skips["prometheus"] = write_prometheus_problem()
        cls.errors = {}  # server name -> why it did not start
        cls.carbon = cls.influx = cls.prom = None

        cls.fpm = harness.start_fpm(cls, [{"name": POOL}])

        prom_target = harness.free_port()
        started = []
        if cls.skips["graphite"] is None:
            cls.carbon = servers.Carbon()
            started.append(cls.carbon)
        if cls.skips["influxdb"] is None:
            cls.influx = servers.InfluxDB([harness.STOCK_TYPES_DB, harness.types_db_path()])
            started.append(cls.influx)
        if cls.skips["prometheus"] is None:
            cls.prom = servers.Prometheus(prom_target)
            started.append(cls.prom)
        for server in started:  # all start together: carbon and prometheus take seconds
            server_cleanup(cls, server)
            server.spawn()
        for server in started:
            try:
                server.wait_ready()
            except (TimeoutError, harness.FixtureDied) as exc:
                cls.errors[server.name] = "%s\n%s" % (exc, harness.log_tail(server.log_text()))
                server.stop()

        plugins, config = [], []
        if cls.carbon and "carbon" not in cls.errors:
            plugins.append("write_graphite")
            config.append("\n".join([
                "<Plugin write_graphite>",
                '  <Node "carbon">',
                '    Host "127.0.0.1"',
                '    Port "%d"' % cls.carbon.port,
                '    Protocol "tcp"',
                '    Prefix "%s"' % PREFIX,
                "    StoreRates true",
                "    SeparateInstances true",
                "    AlwaysAppendDS false",
                '    EscapeCharacter "_"',
                "    LogSendErrors true",
                "  </Node>",
                "</Plugin>"]))
        if cls.influx and "influxdb" not in cls.errors:
            plugins.append("network")
            config.append("\n".join([
                "<Plugin network>",
                '  Server "127.0.0.1" "%d"' % cls.influx.udp_port,
                "</Plugin>"]))
        if cls.prom and "prometheus" not in cls.errors:
            plugins.append("write_prometheus")
            config.append("\n".join([
                "<Plugin write_prometheus>",
                '  Host "127.0.0.1"',
                '  Port "%d"' % prom_target,
                "</Plugin>"]))

        block = harness.plugin_block(
            harness.pool_block(POOL, cls.fpm.address(POOL), ProcessDetails=True,
                               OPcacheScript=SCRIPT),
            timeout=800)
        cls.cd = harness.start_collectd(cls, block, interval=INTERVAL, extra_plugins=plugins,
                                        extra_config="\n".join(config))
        cls.cd.wait_value("fcgx-%s/fpm_processes-total" % POOL, timeout=10)
        cls.cd.wait_rows("fcgx-%s/fpm_up" % POOL, 2, 8)
        if cls.prom and "prometheus" not in cls.errors:
            # Prometheus applies new scrape targets only about 5 s after it starts: wait for
            # the first good scrape, so that the traffic below is scraped too.
            try:
                harness.wait_for(cls.prom.targets_up, servers.START_TIMEOUT, interval=0.2,
                                 what="Prometheus to scrape collectd")
            except TimeoutError as exc:
                cls.errors["prometheus"] = "%s: %s" % (exc, cls.prom.api("targets"))
        # Traffic, so that the request counter's rate is well above the plugin's own requests.
        for _ in range(3):
            cls.fpm.send(POOL, 30)
            time.sleep(1.0)
        cls.cd.wait_rows("fcgx-%s/fpm_up" % POOL, 6, 8)
        cls.expected = cls.cd.identifiers(POOL)

    def setUp(self):
        self.assertIn("fpm_processes-total", self.expected)
        self.assertIn("opcache_lookups-hits", self.expected)  # the in-pool script's too
        self.assertGreaterEqual(len(self.expected), 40, sorted(self.expected))

    def need(self, kind, server_name):
        if self.skips[kind]:
            self.skipTest(self.skips[kind])
        if server_name in self.errors:
            self.fail("%s did not start: %s" % (server_name, self.errors[server_name]))

    def csv(self, ident):
        return self.cd.csv_rows("fcgx-%s/%s" % (POOL, ident))

    def fpm_total(self):
        return float(self.fpm.status(POOL)["total processes"])

    def assert_rates_match(self, got, same_time, what, min_matches=3):
        """got: [(epoch, rate)] from a server; same_time(csv epoch, server epoch) tells which
        rows are of the same value list. Each matched rate must equal the one collectd's own
        arithmetic gives from the raw counters (csv), and the traffic must show."""
        expected = csv_rates(self.csv("fpm_requests-accepted"))
        matched = []
        for t, rate in expected:
            values = [v for tg, v in got if same_time(t, tg)]
            if values:
                self.assertEqual(len(values), 1, (what, t, values))
                self.assertTrue(math.isclose(values[0], rate, rel_tol=0.01, abs_tol=0.01),
                                "%s at %s: %r, collectd's rate from the raw counters %r"
                                % (what, t, values[0], rate))
                matched.append(values[0])
        self.assertGreaterEqual(len(matched), min_matches, (what, got, expected))
        self.assertGreaterEqual(max(matched), 15.0, "the traffic (30 requests/s) is not seen "
                                "in %s: %r" % (what, matched))

    # ----------------------------------------------------------------------------------------

    def test_graphite(self):
        """write_graphite (StoreRates, SeparateInstances, AlwaysAppendDS false) into carbon-cache:
        collectd.test.fcgx.www.TYPE.INSTANCE for every value list, read back with whisper-fetch:
        the values are php-fpm's and the DERIVE counters arrive as per-second rates."""
        self.need("graphite", "carbon")
        base = "%s%s.fcgx.%s" % (PREFIX, harness.HOSTNAME, POOL)
        want = {ident.replace("-", ".", 1) for ident in self.expected}

        def arrived():
            self.cd.check_alive()
            self.carbon.check_alive()
            got = self.carbon.metrics_under(base)
            return want <= got and got
        try:
            got = harness.wait_for(arrived, WAIT, interval=0.2, what="every whisper file")
        except TimeoutError:
            got = self.carbon.metrics_under(base)
            self.fail("missing in Graphite under %s: %s (has %s; carbon tree %s)" % (
                base, sorted(want - got), sorted(got),
                sorted(self.carbon.metrics_under(""))[:20]))
        self.assertEqual(got, want)
        # Nothing else than the pool's metrics (e.g. no host-level duplicates, no ".value").
        self.assertEqual(self.carbon.metrics_under(""),
                         {"%s.%s" % (base, m) for m in want})

        def last(metric):
            rows = self.carbon.fetch("%s.%s" % (base, metric))
            return rows[-1][1] if rows else None
        total = harness.wait_for(lambda: last("fpm_processes.total"), WAIT, interval=0.2,
                                 what="a value of fpm_processes.total")
        self.assertEqual(total, 3.0)
        self.assertEqual(total, self.fpm_total())
        self.assertEqual(last("fpm_up"), 1.0)
        self.assertEqual({v for _, v in self.carbon.fetch(base + ".fpm_processes.total")}, {3.0})
        self.assertEqual({v for _, v in self.carbon.fetch(base + ".fpm_up")}, {1.0})
        self.assertEqual(last("opcache_state.enabled"), 1.0)
        self.assertAlmostEqual(last("uptime"), self.fpm.status(POOL)["start since"], delta=5)

        # DERIVE: a rate per second, not the counter. write_graphite stamps each value with
        # the value list's time rounded to the second.
        rows = self.carbon.fetch(base + ".fpm_requests.accepted")
        self.assertGreater(self.csv("fpm_requests-accepted")[-1][1], 90)  # the raw counter
        # (collectd rounds half up; a csv time within 2 ms of a half second is left out.)
        self.assert_rates_match(rows, lambda t, tg: abs(t % 1 - 0.5) > 0.002
                                and math.floor(t + 0.5) == tg, "Graphite fpm_requests.accepted")
        for _, v in self.carbon.fetch(base + ".fpm_events.max_children_reached"):
            self.assertEqual(v, 0.0)

    def test_influxdb(self):
        """network plugin into InfluxDB's collectd listener (typesdb: collectd's types.db and
        types.db.fcgx): measurement fcgx_value, tags host/instance/type/type_instance, one series
        per value list; values are php-fpm's; DERIVE counters are stored raw and
        non_negative_derivative() gives collectd's rate."""
        self.need("influxdb", "influxdb")
        self.influx.check_alive()
        where = "\"host\" = '%s' AND \"instance\" = '%s'" % (harness.HOSTNAME, POOL)

        def series():
            self.cd.check_alive()
            self.influx.check_alive()
            out = {}
            for s in self.influx.query(
                    'SELECT last("value") FROM "fcgx_value" WHERE %s '
                    'GROUP BY "type", "type_instance"' % where):
                tags = s["tags"]
                ident = tags["type"] + ("-" + tags["type_instance"]
                                        if tags["type_instance"] else "")
                out[ident] = s["values"][0][1]
            return out
        try:
            got = harness.wait_for(lambda: set(self.expected) <= set(series()) and series(),
                                   WAIT, interval=0.2, what="every series in InfluxDB")
        except TimeoutError:
            self.fail("missing in InfluxDB: %s (log: %s)" % (
                sorted(set(self.expected) - set(series())),
                harness.log_tail(self.influx.log_text(), 10)))
        self.assertEqual(set(got), set(self.expected))
        measurements = {v[0] for s in self.influx.query("SHOW MEASUREMENTS") for v in s["values"]}
        self.assertEqual(measurements, {"fcgx_value"})
        tag_keys = {v[0] for s in self.influx.query('SHOW TAG KEYS FROM "fcgx_value"')
                    for v in s["values"]}
        self.assertEqual(tag_keys, {"host", "instance", "type", "type_instance"})
        fields = {tuple(v) for s in self.influx.query('SHOW FIELD KEYS FROM "fcgx_value"')
                  for v in s["values"]}
        self.assertEqual(fields, {("value", "float")})

        self.assertEqual(got["fpm_processes-total"], 3.0)
        self.assertEqual(got["fpm_processes-total"], self.fpm_total())
        self.assertEqual(got["fpm_up"], 1.0)
        self.assertEqual(got["opcache_state-enabled"], 1.0)

        # DERIVE: the raw counter, as collectd holds it (csv, StoreRates false), timestamped
        # with the value list's time.
        sel = ("FROM \"fcgx_value\" WHERE %s AND \"type\" = 'fpm_requests' "
               "AND \"type_instance\" = 'accepted'" % where)
        raw = self.influx.query('SELECT "value" ' + sel)[0]["values"]
        csv = {round(t * 1000): v for t, v in self.csv("fpm_requests-accepted")}
        matched = 0
        for t_ms, value in raw:
            near = [k for k in (t_ms - 1, t_ms, t_ms + 1) if k in csv]
            if near:
                self.assertEqual(value, csv[near[0]], t_ms)
                matched += 1
        self.assertGreaterEqual(matched, 3, (raw, sorted(csv.items())))
        rates = self.influx.query('SELECT non_negative_derivative("value", 1s) ' + sel)
        self.assert_rates_match([(t / 1000.0, v) for t, v in rates[0]["values"]],
                                lambda t, tg: abs(t - tg) <= 0.0015,
                                "InfluxDB non_negative_derivative(fpm_requests accepted)")

    def test_prometheus(self):
        """write_prometheus scraped by Prometheus: every value list is
        collectd_fcgx_<type>{fcgx="www",type="<type_instance>",instance="test"}, DERIVE ones
        with _total and type counter; values are php-fpm's; the raw counters equal collectd's
        and irate() gives collectd's rate."""
        self.need("prometheus", "prometheus")
        want = {}
        for ident in self.expected:
            typ, inst = split_ident(ident)
            name = "collectd_fcgx_" + typ + ("_total" if is_counter(typ) else "")
            want[(name, inst)] = ident

        def series():
            self.cd.check_alive()
            self.prom.check_alive()
            return self.prom.query('{fcgx="%s"}' % POOL)

        def keys(result):
            return {(r["metric"]["__name__"], r["metric"].get("type", "")) for r in result}
        try:
            result = harness.wait_for(lambda: set(want) <= keys(series()) and series(), WAIT,
                                      interval=0.2, what="every series in Prometheus")
        except TimeoutError:
            self.fail("missing in Prometheus: %s (targets %s)" % (
                sorted(set(want) - keys(series())), self.prom.api("targets")["activeTargets"]))
        self.assertEqual(keys(result), set(want))
        # Nothing else from collectd: only the scrape's own series (up, scrape_*) beside.
        everything = self.prom.query('{job="collectd"}')
        self.assertEqual(keys(everything) - set(want),
                         {("up", ""), ("scrape_duration_seconds", ""),
                          ("scrape_samples_post_metric_relabeling", ""),
                          ("scrape_samples_scraped", ""), ("scrape_series_added", "")})
        self.assertEqual(len(everything), len(want) + 5)
        for r in result:
            labels = dict(r["metric"])
            with self.subTest(series=labels):
                self.assertEqual(labels.pop("fcgx"), POOL)
                self.assertEqual(labels.pop("instance"), harness.HOSTNAME)  # honor_labels
                self.assertEqual(labels.pop("job"), "collectd")
                labels.pop("__name__")
                if split_ident(want[(r["metric"]["__name__"], r["metric"].get("type", ""))])[1]:
                    labels.pop("type")  # no type label without a type instance
                self.assertEqual(labels, {})

        def value(promql):
            res = self.prom.query(promql)
            self.assertEqual(len(res), 1, (promql, res))
            return float(res[0]["value"][1])
        self.assertEqual(value('collectd_fcgx_fpm_processes{fcgx="www",type="total"}'), 3.0)
        self.assertEqual(value('collectd_fcgx_fpm_processes{fcgx="www",type="total"}'),
                         self.fpm_total())
        self.assertEqual(value('collectd_fcgx_fpm_up{fcgx="www"}'), 1.0)
        self.assertEqual(value('collectd_fcgx_opcache_state{fcgx="www",type="enabled"}'), 1.0)
        self.assertAlmostEqual(value('collectd_fcgx_uptime{fcgx="www"}'),
                               self.fpm.status(POOL)["start since"], delta=5)

        meta = self.prom.api("metadata")
        for name, _ in want:
            with self.subTest(metadata=name):
                self.assertEqual(meta[name][0]["type"],
                                 "counter" if name.endswith("_total") else "gauge")

        # DERIVE: the raw counter, sample timestamps are collectd's (ms), and irate() over the
        # last two samples is collectd's rate.
        counter = 'collectd_fcgx_fpm_requests_total{fcgx="www",type="accepted"}'
        at = time.time()
        samples = self.prom.query(counter + "[5m]", at=at)[0]["values"]
        csv = {round(t * 1000): v for t, v in self.csv("fpm_requests-accepted")}
        matched = 0
        for t, v in samples:
            t_ms = round(float(t) * 1000)
            near = [k for k in (t_ms - 1, t_ms, t_ms + 1) if k in csv]
            if near:
                self.assertEqual(float(v), csv[near[0]], t)
                matched += 1
        self.assertGreaterEqual(matched, 3, (samples, sorted(csv.items())))
        (t0, v0), (t1, v1) = samples[-2:]
        irate = float(self.prom.query("irate(%s[1m])" % counter, at=at)[0]["value"][1])
        by_hand = (float(v1) - float(v0)) / (float(t1) - float(t0))
        self.assertTrue(math.isclose(irate, by_hand, rel_tol=1e-4), (irate, by_hand))
        # Over the traffic, rate() per second is well above the plugin's own 3 requests/s.
        rates = self.prom.api("query_range", query="irate(%s[3s])" % counter,
                              start="%.3f" % (at - 120), end="%.3f" % at, step="1")["result"]
        peak = max(float(v) for _, v in rates[0]["values"])
        self.assertGreaterEqual(peak, 15.0, rates)


if __name__ == "__main__":
    unittest.main()
