#!/usr/bin/env python3
"""CPU cost of fcgx per pool poll, measured side by side in one run.

Starts one php-fpm with N static pools (1 child each, unix sockets) and two collectd daemons at
the same Interval for the same time: one with fcgx polling every pool, one identical but without
fcgx. The difference of their CPU time, divided by the number of pool polls, is fcgx's cost per
pool poll (status with process details, ping, and the OPcache script unless --no-opcache). It
also reports php-fpm's own CPU per poll and the plugin's round trips as collectd recorded them.

    bench/cpu_per_poll.py [--pools N] [--interval S] [--seconds S] [--no-opcache]
"""
import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_split(pid):
    """(user, system) CPU seconds of one process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid):
    return sum(cpu_split(pid))


def tree_cpu_seconds(root):
    """CPU of a process and its children (php-fpm's master and workers); exited children that
    were reaped are counted through cutime/cstime."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / TICK
            if pid == root:
                total += (int(fields[13]) + int(fields[14])) / TICK
    return total


class QuietCollectd(harness.Collectd):
    """Writes with the network plugin to a UDP port nobody listens on: a cheap writer, as a
    deployment has one (csv's fopen/fclose per value would be most of what is measured, and with
    no writer at all collectd logs a line per value)."""

    def __init__(self, fcgx_block, interval):
        super().__init__(fcgx_block, interval=interval, extra_plugins=["network"],
                         extra_config='<Plugin network>\n  Server "127.0.0.1" "%d"\n</Plugin>'
                         % harness.free_port())

    def config_text(self, *args, **kwargs):
        text = super().config_text(*args, **kwargs)
        start = text.index("LoadPlugin csv")
        return text[:start] + text[text.index("</Plugin>", start) + len("</Plugin>\n"):]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--no-opcache", action="store_true")
    ap.add_argument("--minimal", action="store_true",
                    help="the HTTP route's work: ?json only, no ping, no OPcache")
    args = ap.parse_args()

    fpm = harness.PhpFpm([{"name": "p%d" % i, "max_children": 1} for i in range(args.pools)])
    fpm.start(timeout=30)
    script = os.path.join(HERE, "..", "src", "fcgx-status.php")
    blocks = []
    for i in range(args.pools):
        minimal = ('    ProcessDetails false\n    PingPath ""\n    KernelQueue false\n'
                   '    Workers false\n') if args.minimal else ""
        blocks.append('  <Pool "p%d">\n    Socket "%s"\n    OPcache %s\n    OPcacheScript "%s"\n%s'
                      "  </Pool>" % (i, fpm.address("p%d" % i),
                                     "false" if args.no_opcache or args.minimal else "true",
                                     os.path.realpath(script), minimal))
    block = "<Plugin fcgx>\n  Timeout 1000\n%s\n</Plugin>" % "\n".join(blocks)
    with_fcgx = QuietCollectd(block, interval=args.interval)
    without = QuietCollectd(None, interval=args.interval)
    try:
        with_fcgx.start()
        without.start()
        time.sleep(2)  # past start-up
        a0, b0 = cpu_seconds(with_fcgx.proc.pid), cpu_seconds(without.proc.pid)
        split0 = cpu_split(with_fcgx.proc.pid)
        f0, t0 = tree_cpu_seconds(fpm.proc.pid), time.monotonic()
        time.sleep(args.seconds)
        a1, b1 = cpu_seconds(with_fcgx.proc.pid), cpu_seconds(without.proc.pid)
        split1 = cpu_split(with_fcgx.proc.pid)
        f1, elapsed = tree_cpu_seconds(fpm.proc.pid), time.monotonic() - t0
        polls = elapsed / args.interval * args.pools
        rtts = [with_fcgx.getval("fcgx-p0/fpm_response_time-status")]
        rss = open("/proc/%d/status" % with_fcgx.proc.pid).read().split("VmRSS:")[1].split()[0]
    finally:
        with_fcgx.stop()
        without.stop()
        fpm.stop()
    per_poll = (a1 - a0 - (b1 - b0)) / polls * 1e6
    print("machine: %s, %d cores; %s" % (platform.node(), os.cpu_count(), time.strftime("%F %T")))
    print("%d pools, Interval %.2f s, %.0f s, %.0f pool polls, OPcache %s" % (
        args.pools, args.interval, elapsed, polls,
        "off" if args.no_opcache or args.minimal else "on"))
    print("collectd with fcgx:    %.2f s CPU (%.2f user, %.2f system)" % (
        a1 - a0, split1[0] - split0[0], split1[1] - split0[1]))
    print("collectd without fcgx: %.2f s CPU" % (b1 - b0))
    print("fcgx per pool poll:    %.0f us CPU" % per_poll)
    print("php-fpm per pool poll: %.0f us CPU (serving the plugin's requests)" % ((f1 - f0) / polls * 1e6))
    if rtts:
        print("status round trip:     %.0f us (last)" % (rtts[0] * 1e6))
    print("collectd RSS with fcgx: %s kB" % rss)


if __name__ == "__main__":
    main()
