"""The Grafana dashboards in contrib/grafana/ and the Prometheus rules in contrib/prometheus/ name
only metrics the plugin really emits.

Every query target of every dashboard (Graphite target strings, InfluxQL queries, PromQL
expressions) and every rule expression is parsed; each metric it names must be a type of
types.db.fcgx (or collectd's `uptime`) with a type instance listed in README.md's metric
tables, and DERIVE-ness must agree with how it is queried: `_total` and rate() in PromQL,
non_negative_derivative() in InfluxQL, and no derivative in Graphite (write_graphite's
StoreRates true already sends DERIVE values as per-second rates). The checker itself is shown
to reject injected typos. Also: the dashboards are importable-looking Grafana JSON (schema
version, unique ids, a datasource, host and pool variable, a grid without overlaps) and are
up to date with contrib/grafana/generate.py.

The PromQL of the Prometheus dashboard is parsed by promtool (Debian package prometheus). And
the names are checked against the real thing: a collectd with fcgx polling a real php-fpm
(OPcache on) feeds write_prometheus (scraped over HTTP) and write_graphite (into a TCP listener
of this test, with the README's options): every series the Prometheus and Graphite dashboards
and the rules name must be among what collectd really sends, and write_graphite's DERIVE values
must be rates (StoreRates true). InfluxDB's naming is the collectd listener's and is not
checked here.

Python 3 standard library only."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

import harness

SOURCE_DIR = os.path.abspath(os.environ.get("FCGX_SOURCE_DIR")
                             or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TYPES_DB = (os.environ.get("FCGX_TYPES_DB")
            or os.path.join(SOURCE_DIR, "types.db.fcgx"))
README = os.path.join(SOURCE_DIR, "README.md")
GRAFANA_DIR = os.path.join(SOURCE_DIR, "contrib", "grafana")
DASHBOARDS = {"graphite": "fcgx-graphite.json", "influxdb": "fcgx-influxdb.json",
              "prometheus": "fcgx-prometheus.json"}
RULES = os.path.join(SOURCE_DIR, "contrib", "prometheus", "fcgx-rules.yml")
SCRIPT = harness.status_script()

# What each dashboard must show (issue 6: pool overview and OPcache).
REQUIRED = {
    ("fpm_up", None),
    ("fpm_processes", "active"), ("fpm_processes", "idle"),
    ("fpm_processes", "state_idle"), ("fpm_processes", "state_running"),
    ("fpm_processes", "state_reading_headers"), ("fpm_processes", "state_info"),
    ("fpm_processes", "state_finishing"), ("fpm_processes", "state_ending"),
    ("fpm_requests", "accepted"), ("fpm_requests", "slow"),
    ("fpm_queue", "current"), ("fpm_queue", "max"), ("fpm_queue", "length"),
    ("fpm_events", "max_children_reached"),
    ("fpm_request_duration", "avg"), ("fpm_request_duration", "max"),
    ("fpm_request_duration", "running_max"),
    ("opcache_memory", "used"), ("opcache_memory", "free"), ("opcache_memory", "wasted"),
    ("opcache_percent", "hit_rate"),
    ("opcache_restarts", "oom"), ("opcache_restarts", "hash"), ("opcache_restarts", "manual"),
    ("opcache_scripts", "cached"), ("opcache_keys", "cached"),
}


# --------------------------------------------------------------------------------------------
# what the plugin emits

def load_types(path=TYPES_DB):
    """{type: "GAUGE" | "DERIVE"} from types.db.fcgx, plus collectd's own `uptime`."""
    types = {"uptime": "GAUGE"}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, rest = line.split(None, 1)
            kinds = {ds.split(":")[1] for ds in rest.replace(",", " ").split()}
            if len(kinds) != 1:
                raise ValueError("type %s mixes data source kinds %s" % (name, kinds))
            types[name] = kinds.pop()
    return types


def load_readme_metrics(path=README):
    """{(type, type_instance or None)} from the tables of README.md's "## Metrics" section whose
    first column is type-type_instance: `fpm_processes-active`, `-idle` expands to
    (fpm_processes, active), (fpm_processes, idle); `fpm_up` to (fpm_up, None)."""
    with open(path) as f:
        text = f.read()
    start = text.index("\n## Metrics")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    metrics = set()
    in_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "type-type_instance":
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        last_type = None
        for item in re.findall(r"`([^`]+)`", cells[0]):
            if item.startswith("-"):
                if last_type is None:
                    raise ValueError("README row %r: %r follows no type" % (line, item))
                metrics.add((last_type, item[1:]))
            elif "-" in item:
                last_type, inst = item.split("-", 1)
                metrics.add((last_type, inst))
            else:
                last_type = item
                metrics.add((item, None))
    return metrics


# --------------------------------------------------------------------------------------------
# the checker

class MetricChecker:
    """Checks query strings of the three backends against the plugin's metrics. Each check
    returns a list of errors (empty: fine) and adds the metrics it found to self.seen."""

    RATE_FUNCS_PROMQL = ("rate", "irate", "increase")
    DERIVATIVE_GRAPHITE = ("perSecond", "nonNegativeDerivative", "derivative")

    def __init__(self, types, metrics):
        self.types = types
        self.metrics = metrics
        self.instances = {}
        for t, i in metrics:
            self.instances.setdefault(t, set()).add(i)
        self.seen = set()

    def _check_metric(self, type_, instances, where):
        """instances: a list of type instances, or [None] for none."""
        errors = []
        if type_ not in self.types:
            return ["%s: type %r is not in types.db.fcgx" % (where, type_)]
        if type_ not in self.instances:
            return ["%s: type %r is in no README metric table" % (where, type_)]
        for inst in instances:
            if (type_, inst) not in self.metrics:
                known = sorted("(none)" if i is None else i for i in self.instances[type_])
                errors.append("%s: %s%s is not a metric of the README tables (type instances "
                              "of %s: %s)" % (where, type_, "" if inst is None else "-" + inst,
                                              type_, ", ".join(known)))
            else:
                self.seen.add((type_, inst))
        return errors

    # -- Graphite: collectd.HOST.fcgx.POOL.TYPE[.INSTANCE]

    GRAPHITE_PATH = re.compile(r"(?<![\w.])collectd\.(?:\{[^}]*\}|[^\s,(){}])+")

    @staticmethod
    def _split_path(path):
        parts, depth, cur = [], 0, ""
        for ch in path:
            if ch == "." and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        parts.append(cur)
        return parts

    @staticmethod
    def _expand(token):
        m = re.fullmatch(r"\{([^{}]*)\}", token)
        return m.group(1).split(",") if m else [token]

    def graphite(self, target):
        errors = []
        paths = self.GRAPHITE_PATH.findall(target)
        if not paths:
            return ["graphite %r: names no collectd.HOST.fcgx.POOL.TYPE series" % target]
        for fn in self.DERIVATIVE_GRAPHITE:
            if re.search(r"\b%s\(" % fn, target):
                errors.append("graphite %r: %s(): with StoreRates true collectd sends DERIVE "
                              "values as per-second rates already" % (target, fn))
        for path in paths:
            parts = self._split_path(path)
            where = "graphite %r" % path
            if len(parts) not in (5, 6) or parts[2] != "fcgx":
                errors.append("%s: not collectd.HOST.fcgx.POOL.TYPE[.INSTANCE]" % where)
                continue
            type_ = parts[4]
            if len(parts) == 5:
                instances = [None]
            else:
                instances = self._expand(parts[5])
                bad = [i for i in instances if not re.fullmatch(r"\w+", i)]
                if bad:
                    errors.append("%s: name the type instances (%s)" % (where, ", ".join(bad)))
                    continue
            errors += self._check_metric(type_, instances, where)
        return errors

    # -- InfluxQL: measurement fcgx_value, tags host, instance, type, type_instance

    def influxql(self, query):
        where = "influxql %r" % query
        errors = []
        if not re.search(r'\bFROM\s+"?fcgx_value"?(\s|$)', query):
            errors.append("%s: not FROM \"fcgx_value\"" % where)
        types = re.findall(r'"type"\s*=\s*\'([^\']*)\'', query)
        if len(types) != 1 or re.search(r'"type"\s*(=~|!=|!~)', query):
            return errors + ["%s: needs exactly one \"type\" = '...' condition" % where]
        type_ = types[0]
        eq = re.findall(r'"type_instance"\s*=\s*\'([^\']*)\'', query)
        rx = re.findall(r'"type_instance"\s*=~\s*/\^\(?([\w|]+)\)?\$/', query)
        mentions = len(re.findall(r'"type_instance"', query))
        grouped = len(re.findall(r'GROUP BY[^;]*"type_instance"', query))
        if len(eq) + len(rx) + grouped != mentions or len(eq) + len(rx) > 1:
            return errors + ["%s: type_instance must be = 'NAME' or =~ /^(A|B)$/" % where]
        if eq:
            instances = eq
        elif rx:
            instances = rx[0].split("|")
        else:
            instances = [None]
        errors += self._check_metric(type_, instances, where)
        derivative = re.search(r"\b(non_negative_)?derivative\(", query) is not None
        if type_ in self.types:
            if self.types[type_] == "DERIVE" and not derivative:
                errors.append("%s: %s is a DERIVE counter (the network plugin sends it raw): "
                              "use non_negative_derivative()" % (where, type_))
            if self.types[type_] != "DERIVE" and derivative:
                errors.append("%s: %s is a GAUGE: no derivative" % (where, type_))
        return errors

    # -- PromQL: collectd_fcgx_TYPE{fcgx=..., type=...}, DERIVE as collectd_fcgx_TYPE_total

    PROM_NAME = re.compile(r"\b(collectd_\w+)")
    PROM_MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')

    def promql(self, expr):
        errors = []
        found = False
        for m in self.PROM_NAME.finditer(expr):
            name = m.group(1)
            where = "promql %r: %s" % (expr, name)
            found = True
            if not name.startswith("collectd_fcgx_"):
                errors.append("%s: not a collectd_fcgx_ metric" % where)
                continue
            rest = name[len("collectd_fcgx_"):]
            total = rest.endswith("_total")
            type_ = rest[:-len("_total")] if total else rest
            if type_ not in self.types:
                errors.append("%s: type %r is not in types.db.fcgx" % (where, type_))
                continue
            derive = self.types[type_] == "DERIVE"
            if derive and not total:
                errors.append("%s: %s is DERIVE: write_prometheus exports it as "
                              "collectd_fcgx_%s_total" % (where, type_, type_))
            if total and not derive:
                errors.append("%s: %s is a GAUGE: no _total" % (where, type_))
            in_rate = re.search(r"\b(%s)\s*\(\s*$" % "|".join(self.RATE_FUNCS_PROMQL),
                                expr[:m.start()]) is not None
            if total and derive and not in_rate:
                errors.append("%s: a counter: use rate(), irate() or increase()" % where)
            if not total and not derive and in_rate:
                errors.append("%s: rate() of a GAUGE" % where)
            # the selector right after the name
            instances = [None]
            sel = re.match(r"\s*\{([^}]*)\}", expr[m.end():])
            matchers = []
            if sel:
                body = sel.group(1)
                pos = 0
                while pos < len(body):
                    mm = self.PROM_MATCHER.match(body, pos)
                    if not mm:
                        errors.append("%s: unreadable selector {%s}" % (where, body))
                        break
                    matchers.append(mm.groups())
                    pos = mm.end()
            type_matchers = [x for x in matchers if x[0] == "type"]
            if len(type_matchers) > 1 or any(op not in ("=", "=~") for _, op, _ in type_matchers):
                errors.append("%s: one type=\"...\" or type=~\"A|B\" matcher" % where)
                continue
            if type_matchers:
                _, op, value = type_matchers[0]
                instances = [value] if op == "=" else value.split("|")
                bad = [i for i in instances if not re.fullmatch(r"\w+", i)]
                if bad:
                    errors.append("%s: name the type instances (%s)" % (where, ", ".join(bad)))
                    continue
            elif None not in self.instances.get(type_, {None}):
                errors.append("%s: needs a type=\"...\" matcher (type instances: %s)" % (
                    where, ", ".join(sorted(self.instances[type_]))))
                continue
            errors += self._check_metric(type_, instances, where)
        if not found:
            errors.append("promql %r: names no collectd_fcgx_ metric" % expr)
        return errors


# --------------------------------------------------------------------------------------------
# dashboards

def load_dashboard(name):
    with open(os.path.join(GRAFANA_DIR, DASHBOARDS[name])) as f:
        return json.load(f)


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []):  # collapsed rows
            yield q


def dashboard_queries(dash):
    """[(panel title, backend, query string)] of every target of every panel."""
    out = []
    for p in all_panels(dash):
        for t in p.get("targets", []):
            if "target" in t:
                out.append((p.get("title"), "graphite", t["target"]))
            elif "query" in t:
                out.append((p.get("title"), "influxdb", t["query"]))
            elif "expr" in t:
                out.append((p.get("title"), "prometheus", t["expr"]))
            else:
                out.append((p.get("title"), None, json.dumps(t)))
    return out


def check_dashboard(checker, dash):
    errors = []
    queries = dashboard_queries(dash)
    if not queries:
        errors.append("no queries")
    for title, backend, q in queries:
        check = {"graphite": checker.graphite, "influxdb": checker.influxql,
                 "prometheus": checker.promql}.get(backend)
        if check is None:
            errors.append("panel %r: a target without query: %s" % (title, q))
            continue
        errors += ["panel %r: %s" % (title, e) for e in check(q)]
    return errors


def rule_exprs(path=RULES):
    """The expr of every rule, read line by line (single-line exprs only)."""
    exprs = []
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*expr:\s*(.*?)\s*$", line)
            if m:
                if m.group(1)[:1] in ("|", ">", ""):
                    raise AssertionError("multi-line expr not supported here: %r" % line)
                exprs.append(m.group(1).strip("'\""))
    return exprs


class MetricSources(unittest.TestCase):
    """types.db.fcgx and the README tables agree (the checker's two sources)."""

    def test_readme_tables_parsed(self):
        metrics = load_readme_metrics()
        self.assertIn(("fpm_processes", "state_reading_headers"), metrics)
        self.assertIn(("fpm_processes", "max_active"), metrics)
        self.assertIn(("fpm_up", None), metrics)
        self.assertIn(("uptime", None), metrics)
        self.assertIn(("opcache_restarts", "manual"), metrics)
        self.assertIn(("opcache_strings_memory", "free"), metrics)
        self.assertIn(("apcu_entries", None), metrics)
        self.assertGreater(len(metrics), 60)

    def test_every_readme_type_is_in_types_db(self):
        types = load_types()
        self.assertEqual(types["fpm_requests"], "DERIVE")
        self.assertEqual(types["fpm_up"], "GAUGE")
        readme_types = {t for t, _ in load_readme_metrics()}
        self.assertEqual(readme_types - set(types), set())
        self.assertEqual(set(types) - readme_types, set(), "types with no README row")


class CheckerRejectsTypos(unittest.TestCase):
    """The checker accepts real queries and rejects each kind of mistake."""

    def setUp(self):
        self.checker = MetricChecker(load_types(), load_readme_metrics())

    GOOD = [
        ("graphite", "aliasByNode(collectd.$host.fcgx.$pool.fpm_processes.{active,idle}, 1, 3, 5)"),
        ("graphite", "collectd.web1.fcgx.www.fpm_up"),
        ("graphite", "collectd.web1.fcgx.www.fpm_requests.accepted"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_queue' "
                     "AND \"type_instance\" =~ /^(current|max)$/ AND $timeFilter "
                     "GROUP BY time($__interval), \"type_instance\""),
        ("influxdb", "SELECT non_negative_derivative(max(\"value\"), 1s) FROM \"fcgx_value\" "
                     "WHERE \"type\" = 'fpm_requests' AND \"type_instance\" = 'accepted'"),
        ("influxdb", "SELECT last(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_up'"),
        ("prometheus", 'rate(collectd_fcgx_fpm_requests_total{fcgx="www",type="accepted"}[5m])'),
        ("prometheus", 'collectd_fcgx_fpm_processes{type=~"state_idle|state_running"}'),
        ("prometheus", 'collectd_fcgx_fpm_up{fcgx=~"$pool"} == 0'),
        ("prometheus", 'collectd_fcgx_opcache_percent{type="hit_rate"} < 95 and ignoring (type) '
                       'collectd_fcgx_uptime > 600'),
    ]

    # (backend, query, what the error must say)
    BAD = [
        # a typo in the type, in the type instance, in the layout
        ("graphite", "collectd.web1.fcgx.www.fpm_proceses.active", "not in types.db.fcgx"),
        ("graphite",
         "aliasByNode(collectd.$host.fcgx.$pool.fpm_processes.{active,state_runing}, 1)",
         "fpm_processes-state_runing is not a metric"),
        ("graphite", "collectd.web1.fcgx.www.fpm_up.value", "fpm_up-value is not a metric"),
        ("graphite", "collectd.web1.fcgx.www.fpm_processes", "fpm_processes is not a metric"),
        ("graphite", "collectd.web1.fcgx.www.fpm_processes.*", "name the type instances"),
        ("graphite", "collectd.web1.fcgx-www.fpm_processes.active", "not collectd.HOST.fcgx"),
        ("graphite", "collectd.web1.fcgx.www.uptime.seconds", "uptime-seconds is not a metric"),
        # a derivative of what StoreRates already made a rate
        ("graphite", "perSecond(collectd.web1.fcgx.www.fpm_requests.accepted)", "StoreRates"),
        ("graphite", "sumSeries(foo.bar)", "names no collectd"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_queues' "
                     "AND \"type_instance\" = 'current'", "not in types.db.fcgx"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_queue' "
                     "AND \"type_instance\" =~ /^(current|lenght)$/", "fpm_queue-lenght is not"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx\" WHERE \"type\" = 'fpm_up'",
         "not FROM"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_requests' "
                     "AND \"type_instance\" = 'accepted'", "use non_negative_derivative()"),
        ("influxdb", "SELECT non_negative_derivative(mean(\"value\"), 1s) FROM \"fcgx_value\" "
                     "WHERE \"type\" = 'fpm_processes' AND \"type_instance\" = 'active'",
         "GAUGE: no derivative"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" = 'fpm_queue'",
         "fpm_queue is not a metric"),
        ("influxdb", "SELECT mean(\"value\") FROM \"fcgx_value\" WHERE \"type\" =~ /fpm_.*/",
         "exactly one"),
        ("prometheus", 'collectd_fcgx_fpm_processes{type="state_runing"}',
         "fpm_processes-state_runing is not"),
        ("prometheus", 'collectd_fcgx_fpm_proceses{type="active"}', "not in types.db.fcgx"),
        ("prometheus", 'rate(collectd_fcgx_fpm_requests{type="accepted"}[5m])',
         "exports it as collectd_fcgx_fpm_requests_total"),
        ("prometheus", 'collectd_fcgx_fpm_requests_total{type="accepted"}', "use rate()"),
        ("prometheus", 'rate(collectd_fcgx_fpm_processes_total{type="active"}[5m])',
         "GAUGE: no _total"),
        ("prometheus", 'rate(collectd_fcgx_fpm_processes{type="active"}[5m])',
         "rate() of a GAUGE"),
        ("prometheus", 'collectd_fcgx_fpm_processes{fcgx="www"}', "needs a type="),
        ("prometheus", 'collectd_fcgx_fpm_up{type="up"}', "fpm_up-up is not"),
        ("prometheus", 'collectd_fcgx_opcache_restarts_total{type=~"oom|hash"} > 0',
         "use rate()"),
        ("prometheus", 'increase(collectd_fcgx_opcache_restarts_total{type=~"oom|hsah"}[5m])',
         "opcache_restarts-hsah is not"),
        ("prometheus", 'collectd_fcgx_opcache_state{type!="enabled"}', "one type="),
        ("prometheus", 'collectd_fpm_up == 0', "not a collectd_fcgx_ metric"),
        ("prometheus", 'up == 0', "names no collectd_fcgx_ metric"),
    ]

    def check(self, backend, q):
        return {"graphite": self.checker.graphite, "influxdb": self.checker.influxql,
                "prometheus": self.checker.promql}[backend](q)

    def test_accepts_real_queries(self):
        for backend, q in self.GOOD:
            with self.subTest(q=q):
                self.assertEqual(self.check(backend, q), [])

    def test_rejects_injected_mistakes(self):
        for backend, q, reason in self.BAD:
            with self.subTest(q=q):
                errors = self.check(backend, q)
                self.assertNotEqual(errors, [], "accepted: %r" % q)
                self.assertTrue(any(reason in e for e in errors), (reason, errors))

    def test_rejects_a_typo_injected_into_each_dashboard(self):
        """A real dashboard with one type instance misspelt fails the whole-dashboard check."""
        for name in DASHBOARDS:
            with self.subTest(dashboard=name):
                with open(os.path.join(GRAFANA_DIR, DASHBOARDS[name])) as f:
                    text = f.read()
                self.assertIn("state_running", text)
                bad = json.loads(text.replace("state_running", "state_runing", 1))
                errors = check_dashboard(self.checker, bad)
                self.assertTrue(any("state_runing" in e for e in errors), errors)


class Dashboards(unittest.TestCase):
    """contrib/grafana/fcgx-{graphite,influxdb,prometheus}.json."""

    @classmethod
    def setUpClass(cls):
        cls.types = load_types()
        cls.metrics = load_readme_metrics()
        cls.dashboards = {name: load_dashboard(name) for name in DASHBOARDS}

    def test_every_query_names_a_real_metric(self):
        for name, dash in self.dashboards.items():
            with self.subTest(dashboard=name):
                checker = MetricChecker(self.types, self.metrics)
                errors = check_dashboard(checker, dash)
                self.assertEqual(errors, [])
                backends = {b for _, b, _ in dashboard_queries(dash)}
                self.assertEqual(backends, {name})

    def test_each_shows_the_pool_overview_and_opcache(self):
        for name, dash in self.dashboards.items():
            with self.subTest(dashboard=name):
                checker = MetricChecker(self.types, self.metrics)
                check_dashboard(checker, dash)
                self.assertEqual(REQUIRED - checker.seen, set())

    def test_the_three_show_the_same_metrics(self):
        seen = {}
        for name, dash in self.dashboards.items():
            checker = MetricChecker(self.types, self.metrics)
            check_dashboard(checker, dash)
            seen[name] = checker.seen
        self.assertEqual(seen["graphite"], seen["influxdb"])
        self.assertEqual(seen["graphite"], seen["prometheus"])

    def test_grafana_structure(self):
        for name, dash in self.dashboards.items():
            with self.subTest(dashboard=name):
                self.assertGreaterEqual(dash.get("schemaVersion", 0), 36)
                self.assertTrue(dash.get("title"))
                self.assertTrue(re.fullmatch(r"[\w-]{1,40}", dash.get("uid", "")))
                self.assertNotIn("id", dash)  # importable anywhere: Grafana assigns it
                variables = {v["name"]: v for v in dash["templating"]["list"]}
                self.assertEqual(variables["datasource"]["type"], "datasource")
                self.assertEqual(variables["datasource"]["query"], name)
                for var in ("host", "pool"):
                    self.assertEqual(variables[var]["type"], "query")
                    self.assertEqual(variables[var]["datasource"]["uid"], "${datasource}")
                panels = list(all_panels(dash))
                ids = [p["id"] for p in panels]
                self.assertEqual(len(ids), len(set(ids)), "panel ids not unique")
                cells = set()
                for p in panels:
                    g = p["gridPos"]
                    self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
                    mine = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"])
                            for dy in range(g["h"])}
                    self.assertEqual(cells & mine, set(), "panel %r overlaps" % p["title"])
                    cells |= mine
                    if p["type"] == "row":
                        continue
                    self.assertIn(p["type"], ("timeseries", "stat"))
                    self.assertEqual(p["datasource"], {"type": name, "uid": "${datasource}"})
                    refs = [t["refId"] for t in p["targets"]]
                    self.assertTrue(refs, p["title"])
                    self.assertEqual(len(refs), len(set(refs)), p["title"])
                    self.assertIn("unit", p["fieldConfig"]["defaults"], p["title"])
                for title, _, q in dashboard_queries(dash):
                    self.assertIn("$pool", q, title)
                    self.assertIn("$host", q, title)

    def test_rate_panels_have_rate_units(self):
        """A panel plotting DERIVE values plots per-second rates in every dashboard: its unit is
        a per-second one, and a GAUGE panel's is not."""
        rate_units = {"reqps", "ops", "rps", "wps", "iops"}
        for name, dash in self.dashboards.items():
            for p in all_panels(dash):
                if p["type"] == "row":
                    continue
                checker = MetricChecker(self.types, self.metrics)
                for _, backend, q in dashboard_queries({"panels": [p]}):
                    {"graphite": checker.graphite, "influxdb": checker.influxql,
                     "prometheus": checker.promql}[backend](q)
                kinds = {self.types[t] for t, _ in checker.seen}
                with self.subTest(dashboard=name, panel=p["title"]):
                    self.assertEqual(len(kinds), 1, kinds)
                    unit = p["fieldConfig"]["defaults"]["unit"]
                    self.assertEqual(unit in rate_units, kinds == {"DERIVE"}, unit)

    def test_generated_from_generate_py(self):
        script = os.path.join(GRAFANA_DIR, "generate.py")
        r = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class PrometheusRuleMetrics(unittest.TestCase):
    """contrib/prometheus/fcgx-rules.yml names only real metrics, counters through
    increase()/rate()."""

    def test_every_rule_names_a_real_metric(self):
        checker = MetricChecker(load_types(), load_readme_metrics())
        exprs = rule_exprs()
        self.assertGreaterEqual(len(exprs), 7)
        for expr in exprs:
            with self.subTest(expr=expr):
                self.assertEqual(checker.promql(expr), [])
        for metric in [("fpm_up", None), ("fpm_queue", "current"),
                       ("fpm_events", "max_children_reached"), ("opcache_state", "enabled"),
                       ("opcache_percent", "hit_rate"), ("opcache_percent", "wasted"),
                       ("opcache_restarts", "oom"), ("opcache_restarts", "hash")]:
            self.assertIn(metric, checker.seen)


class PromqlSyntax(unittest.TestCase):
    """promtool parses every expression of the Prometheus dashboard (Grafana's variables
    replaced by values), as recording rules."""

    def test_promtool_parses_the_dashboard(self):
        exe = shutil.which("promtool")
        if exe is None:
            self.fail("promtool is not installed (Debian package prometheus)")
        exprs = [q for _, _, q in dashboard_queries(load_dashboard("prometheus"))]
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for i, expr in enumerate(exprs):
            expr = (expr.replace("$__rate_interval", "1m").replace("$host", ".*")
                    .replace("$pool", ".*"))
            self.assertNotIn("$", expr)
            lines += ["      - record: fcgx:dashboard:%d" % i,
                      "        expr: %s" % json.dumps(expr)]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        self.addCleanup(os.unlink, f.name)
        r = subprocess.run([exe, "check", "rules", f.name], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(exprs), r.stdout)


class GraphiteListener:
    """A TCP server taking Graphite plaintext lines ("path value time")."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        conn.settimeout(0.2)
        buf = b""
        with conn:
            while not self.done.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                *complete, buf = buf.split(b"\n")
                with self.lock:
                    self.lines += [ln.decode(errors="replace") for ln in complete if ln]

    def series(self):
        """{path: [values]}"""
        out = {}
        with self.lock:
            lines = list(self.lines)
        for line in lines:
            parts = line.split()
            if len(parts) == 3:
                out.setdefault(parts[0], []).append(float(parts[1]))
        return out

    def close(self):
        self.done.set()
        self.sock.close()
        self.thread.join(2)


def scrape(port):
    """{(metric name, frozenset of labels)} of write_prometheus's /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=3) as r:
        text = r.read().decode()
    out = set()
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{([^}]*)\}\s", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.add((m.group(1), labels))
    return out


class LiveNames(unittest.TestCase):
    """What collectd really sends through write_prometheus and write_graphite."""

    POOL = "www"

    @classmethod
    def setUpClass(cls):
        cls.fpm = harness.start_fpm(cls, [{"name": cls.POOL, "max_children": 3}])
        cls.graphite = GraphiteListener()
        cls.addClassCleanup(cls.graphite.close)
        cls.prom_port = harness.free_port()
        extra = "\n".join([
            "<Plugin write_prometheus>",
            '  Port "%d"' % cls.prom_port,
            "</Plugin>",
            "<Plugin write_graphite>",
            '  <Node "test">',
            '    Host "127.0.0.1"',
            '    Port "%d"' % cls.graphite.port,
            '    Protocol "tcp"',
            '    Prefix "collectd."',
            "    StoreRates true",
            "    SeparateInstances true",
            "    AlwaysAppendDS false",
            "  </Node>",
            "</Plugin>",
        ])
        block = harness.plugin_block(
            harness.pool_block(cls.POOL, cls.fpm.address(cls.POOL), OPcacheScript=SCRIPT))
        cls.cd = harness.start_collectd(cls, block, interval=1,
                                        extra_plugins=["write_prometheus", "write_graphite"],
                                        extra_config=extra)
        cls.fpm.send(cls.POOL, 5)
        ident = "fcgx-%s/fpm_requests-accepted" % cls.POOL
        cls.cd.wait_rows(ident, 5, 10)

        def graphite_ready():  # whatever the naming, so that the tests say what is wrong
            return sum(len(v) for k, v in cls.graphite.series().items()
                       if "accepted" in k) >= 3
        harness.wait_for(graphite_ready, 10, interval=0.1, what="write_graphite's lines")
        cls.scraped = harness.wait_for(lambda: scrape(cls.prom_port), 5, interval=0.1,
                                       what="write_prometheus's /metrics")

    def prom_names(self):
        """[(metric name, type label or None)] the Prometheus dashboard and the rules name."""
        exprs = [q for _, _, q in dashboard_queries(load_dashboard("prometheus"))]
        exprs += rule_exprs()
        checker = MetricChecker(load_types(), load_readme_metrics())
        names = set()
        for expr in exprs:
            self.assertEqual(checker.promql(expr), [])
        for t, inst in checker.seen:
            suffix = "_total" if load_types()[t] == "DERIVE" else ""
            names.add(("collectd_fcgx_" + t + suffix, inst))
        return names

    def test_prometheus_names_are_real(self):
        """Each series named is scraped as collectd_fcgx_TYPE[_total]{fcgx=POOL,type=INSTANCE,
        instance=HOST}."""
        missing = []
        for name, inst in sorted(self.prom_names(), key=str):
            want = {("fcgx", self.POOL), ("instance", harness.HOSTNAME)}
            if inst is not None:
                want.add(("type", inst))
            if (name, frozenset(want)) not in self.scraped:
                missing.append((name, inst))
        self.assertEqual(missing, [], sorted(n for n, _ in self.scraped))

    def test_graphite_paths_are_real(self):
        checker = MetricChecker(load_types(), load_readme_metrics())
        for _, _, q in dashboard_queries(load_dashboard("graphite")):
            self.assertEqual(checker.graphite(q), [])
        sent = self.graphite.series()
        prefix = "collectd.%s.fcgx.%s." % (harness.HOSTNAME, self.POOL)
        missing = [(t, i) for t, i in sorted(checker.seen, key=str)
                   if prefix + t + ("" if i is None else "." + i) not in sent]
        self.assertEqual(missing, [], sorted(sent))

    def test_graphite_gets_derive_values_as_rates(self):
        """StoreRates true: fpm_requests.accepted arrives as requests per second (the plugin's
        own 3 per 1 s interval), not as php-fpm's growing counter."""
        ident = "fcgx-%s/fpm_requests-accepted" % self.POOL
        counter = self.cd.csv_rows(ident)[-1][1]
        path = "collectd.%s.fcgx.%s.fpm_requests.accepted" % (harness.HOSTNAME, self.POOL)
        rates = self.graphite.series().get(path, [])
        self.assertGreaterEqual(len(rates), 3, sorted(self.graphite.series()))
        self.assertGreater(counter, 15)
        self.assertTrue(all(0 <= v <= 10 for v in rates[1:]), (rates, counter))


if __name__ == "__main__":
    unittest.main()
