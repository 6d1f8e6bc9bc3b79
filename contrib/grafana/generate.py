#!/usr/bin/env python3
"""Writes the three Grafana dashboards of fcgx (Graphite, InfluxDB 1.x, Prometheus) from one
list of panels, so that they show the same figures the same way.

    python3 contrib/grafana/generate.py            # rewrites contrib/grafana/fcgx-*.json
    python3 contrib/grafana/generate.py --check    # exit 1 when a file differs from its source

Series naming (what collectd's writers make of `HOST/fcgx-POOL/TYPE-INSTANCE`):
  Graphite   (write_graphite, Prefix "collectd.", SeparateInstances true, StoreRates true,
              AlwaysAppendDS false): collectd.HOST.fcgx.POOL.TYPE.INSTANCE
              StoreRates true turns DERIVE counters into per-second rates *before* they reach
              Graphite, so the dashboard plots them as they are (no perSecond()).
  InfluxDB   (collectd's network plugin -> InfluxDB 1.x collectd listener): measurement
              fcgx_value, tags host, instance (= pool), type, type_instance. The network
              plugin sends raw counters: DERIVE types go through non_negative_derivative(, 1s).
  Prometheus (collectd's write_prometheus): collectd_fcgx_TYPE{fcgx="POOL",type="INSTANCE",
              instance="HOST"}, DERIVE types as collectd_fcgx_TYPE_total: plotted with rate().

Python 3 standard library only.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Types whose values are DERIVE counters (types.db.fcgx); everything else is a GAUGE.
DERIVE = {"fpm_requests", "fpm_events", "opcache_lookups", "opcache_restarts", "apcu_lookups",
          "apcu_events"}

# One entry per panel: (title, description, kind, unit, stack, [(type, [instances])], extra).
# kind: "row", "timeseries" or "stat". An empty instance list: a type without instance.
POOL_OVERVIEW = [
    ("Pool overview", "", "row", None, False, [], {}),
    ("PHP-FPM up", "fpm_up: 1 when the pool answered its ping with PingResponse (status when "
     "ping is off), 0 when it could not be reached. A pool that is down reports nothing else.",
     "stat", "none", False, [("fpm_up", [])], {"updown": True, "w": 6}),
    ("Uptime", "uptime: seconds since the pool started (php-fpm's start since).",
     "stat", "s", False, [("uptime", [])], {"w": 6}),
    ("Processes: max children reached per second",
     "fpm_events-max_children_reached as a rate: php-fpm wanted to start a worker and "
     "pm.max_children did not allow it. Any value above 0 means requests waited.",
     "stat", "ops", False, [("fpm_events", ["max_children_reached"])], {"w": 6}),
    ("Listen queue (current)", "fpm_queue-current: connections waiting for a worker. Always 0 "
     "on unix sockets (php bug 80739); real on TCP.",
     "stat", "short", False, [("fpm_queue", ["current"])], {"w": 6}),
    ("Processes: active, idle, total",
     "fpm_processes: active and idle workers, their total, and php-fpm's high-water mark of "
     "active workers since the pool started (max_active).",
     "timeseries", "short", False,
     [("fpm_processes", ["active", "idle", "total", "max_active"])], {}),
    ("Processes by state", "fpm_processes-state_*: every worker by its state in php-fpm's "
     "scoreboard (needs ProcessDetails true, the default).",
     "timeseries", "short", True,
     [("fpm_processes", ["state_idle", "state_running", "state_reading_headers", "state_info",
                         "state_finishing", "state_ending"])], {}),
    ("Accepted requests per second", "fpm_requests-accepted as a rate (php-fpm's accepted "
     "conn). The plugin itself adds up to 3 requests per interval through the pool's socket.",
     "timeseries", "reqps", False, [("fpm_requests", ["accepted"])], {}),
    ("Slow requests per second", "fpm_requests-slow as a rate: requests that ran longer than "
     "request_slowlog_timeout.",
     "timeseries", "reqps", False, [("fpm_requests", ["slow"])], {}),
    ("Listen queue", "fpm_queue: connections waiting now (current), the most since start (max) "
     "and the size of the socket's backlog (length). 0 on unix sockets (php bug 80739).",
     "timeseries", "short", False, [("fpm_queue", ["current", "max", "length"])], {}),
    ("Max children reached per second", "fpm_events-max_children_reached as a rate.",
     "timeseries", "ops", False, [("fpm_events", ["max_children_reached"])], {}),
    ("Request duration", "fpm_request_duration: average and longest over all workers (of an "
     "idle worker its last request, of a running one the time so far), and the longest "
     "request running right now (running_max, 0 when none runs): a stuck worker shows here.",
     "timeseries", "s", False,
     [("fpm_request_duration", ["avg", "max", "running_max"])], {"w": 24}),
]

OPCACHE = [
    ("OPcache", "", "row", None, False, [], {}),
    ("OPcache enabled", "opcache_state-enabled: 0 when OPcache is not loaded or "
     "opcache.enable=0 in the pool's php-fpm master.",
     "stat", "none", False, [("opcache_state", ["enabled"])], {"updown": True, "w": 6}),
    ("OPcache full", "opcache_state-cache_full: 1 when the cache is full.",
     "stat", "none", False, [("opcache_state", ["cache_full"])], {"w": 6}),
    ("OPcache hit rate", "opcache_percent-hit_rate: hits over all lookups since the cache "
     "started (low after a restart until it warms up).",
     "stat", "percent", False, [("opcache_percent", ["hit_rate"])], {"w": 6}),
    ("Cached scripts", "opcache_scripts-cached.",
     "stat", "short", False, [("opcache_scripts", ["cached"])], {"w": 6}),
    ("OPcache memory", "opcache_memory: used, free and wasted bytes of "
     "opcache.memory_consumption.",
     "timeseries", "bytes", True, [("opcache_memory", ["used", "free", "wasted"])], {}),
    ("OPcache hit rate and wasted memory", "opcache_percent: hit rate since the cache started, "
     "and the share of its memory that is wasted (restart threshold: "
     "opcache.max_wasted_percentage).",
     "timeseries", "percent", False, [("opcache_percent", ["hit_rate", "wasted"])],
     {"max": 100}),
    ("OPcache lookups per second", "opcache_lookups as rates: hits, misses and blacklist "
     "misses.",
     "timeseries", "ops", False,
     [("opcache_lookups", ["hits", "misses", "blacklist_misses"])], {}),
    ("OPcache restarts per second", "opcache_restarts as rates: out of memory (oom), hash table "
     "full (hash) and opcache_reset() (manual). Any oom or hash restart: raise "
     "opcache.memory_consumption or opcache.max_accelerated_files.",
     "timeseries", "ops", False, [("opcache_restarts", ["oom", "hash", "manual"])], {}),
    ("Cached scripts and keys", "opcache_scripts-cached, opcache_keys-cached and the most keys "
     "the hash table holds (opcache_keys-max, from opcache.max_accelerated_files).",
     "timeseries", "short", False,
     [("opcache_scripts", ["cached"]), ("opcache_keys", ["cached", "max"])], {}),
]

PANELS = POOL_OVERVIEW + OPCACHE


# --------------------------------------------------------------------------------------------
# one query language per backend

class Graphite:
    name = "graphite"
    file = "fcgx-graphite.json"
    title = "PHP-FPM pools (fcgx, Graphite)"
    uid = "fcgx-graphite"
    description = ("fcgx (collectd) through write_graphite with Prefix \"collectd.\", "
                   "SeparateInstances true, StoreRates true, AlwaysAppendDS false: series "
                   "collectd.HOST.fcgx.POOL.TYPE.INSTANCE. StoreRates true makes collectd send "
                   "DERIVE counters (requests, events, lookups, restarts) as per-second rates, "
                   "so they are plotted as they are; with StoreRates false wrap them in "
                   "perSecond().")

    @classmethod
    def variables(cls):
        return [
            query_var(cls.name, "host", "Host", "collectd.*"),
            query_var(cls.name, "pool", "Pool", "collectd.$host.fcgx.*"),
        ]

    @staticmethod
    def target(type_, instances, ref):
        path = "collectd.$host.fcgx.$pool." + type_
        if instances:
            path += "." + (instances[0] if len(instances) == 1
                           else "{%s}" % ",".join(instances))
            nodes = "1, 3, 5"
        else:
            nodes = "1, 3"
        return {"refId": ref, "target": "aliasByNode(%s, %s)" % (path, nodes)}


class InfluxDB:
    name = "influxdb"
    file = "fcgx-influxdb.json"
    title = "PHP-FPM pools (fcgx, InfluxDB)"
    uid = "fcgx-influxdb"
    description = ("fcgx (collectd) through collectd's network plugin into InfluxDB 1.x's "
                   "collectd listener (typesdb with types.db.fcgx): measurement fcgx_value, tags "
                   "host, instance (the pool), type, type_instance. The network plugin sends "
                   "DERIVE counters raw, so they are plotted with non_negative_derivative(, 1s): "
                   "per second.")

    @classmethod
    def variables(cls):
        return [
            query_var(cls.name, "host", "Host",
                      'SHOW TAG VALUES FROM "fcgx_value" WITH KEY = "host"'),
            query_var(cls.name, "pool", "Pool",
                      'SHOW TAG VALUES FROM "fcgx_value" WITH KEY = "instance" '
                      'WHERE "host" =~ /^$host$/'),
        ]

    @staticmethod
    def target(type_, instances, ref):
        select = ('non_negative_derivative(max("value"), 1s)' if type_ in DERIVE
                  else 'mean("value")')
        where = ['"host" =~ /^$host$/', '"instance" =~ /^$pool$/', "\"type\" = '%s'" % type_]
        group = ['time($__interval)', '"host"', '"instance"']
        alias = "$tag_host $tag_instance " + type_
        if instances:
            if len(instances) == 1:
                where.append("\"type_instance\" = '%s'" % instances[0])
            else:
                where.append('"type_instance" =~ /^(%s)$/' % "|".join(instances))
            group.append('"type_instance"')
            alias += " $tag_type_instance"
        query = 'SELECT %s FROM "fcgx_value" WHERE %s AND $timeFilter GROUP BY %s fill(null)' % (
            select, " AND ".join(where), ", ".join(group))
        return {"refId": ref, "rawQuery": True, "resultFormat": "time_series", "query": query,
                "alias": alias}


class Prometheus:
    name = "prometheus"
    file = "fcgx-prometheus.json"
    title = "PHP-FPM pools (fcgx, Prometheus)"
    uid = "fcgx-prometheus"
    description = ("fcgx (collectd) through collectd's write_prometheus, scraped by Prometheus: "
                   "collectd_fcgx_TYPE{fcgx=\"POOL\",type=\"INSTANCE\"}, DERIVE counters as "
                   "collectd_fcgx_TYPE_total, plotted with rate(). The host is the instance "
                   "label (collectd's Hostname with honor_labels: true, else the scrape target).")

    @classmethod
    def variables(cls):
        return [
            query_var(cls.name, "host", "Host", "label_values(collectd_fcgx_fpm_up, instance)"),
            query_var(cls.name, "pool", "Pool",
                      'label_values(collectd_fcgx_fpm_up{instance=~"$host"}, fcgx)'),
        ]

    @staticmethod
    def target(type_, instances, ref):
        matchers = ['instance=~"$host"', 'fcgx=~"$pool"']
        legend = "{{instance}} {{fcgx}}"
        if instances:
            if len(instances) == 1:
                matchers.append('type="%s"' % instances[0])
            else:
                matchers.append('type=~"%s"' % "|".join(instances))
            legend += " {{type}}"
        if type_ in DERIVE:
            expr = "rate(collectd_fcgx_%s_total{%s}[$__rate_interval])" % (
                type_, ",".join(matchers))
        else:
            expr = "collectd_fcgx_%s{%s}" % (type_, ",".join(matchers))
            if not instances:
                legend = "{{instance}} {{fcgx}} " + type_
        return {"refId": ref, "expr": expr, "legendFormat": legend, "range": True}


BACKENDS = [Graphite, InfluxDB, Prometheus]


# --------------------------------------------------------------------------------------------
# dashboard JSON

def query_var(plugin, name, label, query):
    return {
        "name": name, "label": label, "type": "query",
        "datasource": {"type": plugin, "uid": "${datasource}"},
        "query": query, "definition": query,
        "refresh": 2, "multi": True, "includeAll": True, "allValue": None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [], "sort": 1, "regex": "", "hide": 0,
    }


def datasource_var(plugin):
    return {
        "name": "datasource", "label": "Data source", "type": "datasource", "query": plugin,
        "current": {}, "options": [], "refresh": 1, "regex": "", "hide": 0,
        "multi": False, "includeAll": False,
    }


def panel_json(backend, pid, spec, x, y):
    title, description, kind, unit, stack, series, extra = spec
    w = extra.get("w", 12)
    if kind == "row":
        return {"id": pid, "type": "row", "title": title, "collapsed": False, "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}}, 1
    h = 4 if kind == "stat" else 8
    ds = {"type": backend.name, "uid": "${datasource}"}
    targets = []
    for i, (type_, instances) in enumerate(series):
        t = backend.target(type_, instances, chr(ord("A") + i))
        t["datasource"] = ds
        targets.append(t)
    defaults = {"unit": unit}
    if "max" in extra:
        defaults["min"] = 0
        defaults["max"] = extra["max"]
    if extra.get("updown"):
        defaults["mappings"] = [{"type": "value", "options": {
            "0": {"text": "DOWN", "color": "red", "index": 0},
            "1": {"text": "UP", "color": "green", "index": 1}}}]
        defaults["thresholds"] = {"mode": "absolute", "steps": [
            {"color": "red", "value": None}, {"color": "green", "value": 1}]}
    else:
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    panel = {
        "id": pid, "type": kind, "title": title, "description": description,
        "datasource": ds, "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 30 if stack else 10,
            "showPoints": "never", "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
        panel["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                       "showLegend": True, "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "none"}}
    else:
        defaults["color"] = {"mode": "thresholds"}
        panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                              "values": False},
                            "colorMode": "background" if extra.get("updown") else "value",
                            "graphMode": "area", "justifyMode": "auto",
                            "orientation": "auto", "textMode": "auto"}
    return panel, h


def dashboard(backend):
    panels = []
    x = y = 0
    row_h = 0
    for pid, spec in enumerate(PANELS, start=1):
        kind, extra = spec[2], spec[6]
        w = 24 if kind == "row" else extra.get("w", 12)
        if x + w > 24 or kind == "row":
            x, y, row_h = 0, y + row_h, 0
        panel, h = panel_json(backend, pid, spec, x, y)
        panels.append(panel)
        x += w
        row_h = max(row_h, h)
        if kind == "row":
            x, y, row_h = 0, y + 1, 0
    return {
        "title": backend.title,
        "uid": backend.uid,
        "description": backend.description,
        "tags": ["fcgx", "php-fpm", "collectd", backend.name],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [datasource_var(backend.name)] + backend.variables()},
        "panels": panels,
    }


def render(backend):
    return json.dumps(dashboard(backend), indent=2) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for backend in BACKENDS:
        path = os.path.join(HERE, backend.file)
        text = render(backend)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(path)
            except OSError:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        sys.stderr.write("out of date (run contrib/grafana/generate.py): %s\n" % " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
