#!/usr/bin/env python3
"""Soak: collectd with fcgx polls real php-fpm pools and hostile peers at a short interval until
the pools have served --requests FastCGI requests from it, and prints collectd's resident memory
and open file descriptors at the start and at the end (they must stay flat).

    bench/soak.py [--requests 100000] [--interval 0.05] [--pools 6]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "..", "tests", "integration")
sys.path.insert(0, INTEGRATION)
import harness  # noqa: E402

HOSTILE = ["silent", "drip", "garbage", "stdout_flood", "json_truncated", "reset_mid_reply",
           "status_500_once"]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def accepted(fpm, pools):
    return sum(fpm.status(p)["accepted conn"] for p in pools)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--pools", type=int, default=6)
    args = ap.parse_args()

    names = ["p%d" % i for i in range(args.pools)]
    fpm = harness.PhpFpm([{"name": n, "max_children": 2} for n in names]).start(timeout=30)
    peers, blocks = [], []
    script = os.path.realpath(os.path.join(HERE, "..", "src", "fcgx-status.php"))
    for n in names:
        blocks.append(harness.pool_block(n, fpm.address(n), OPcacheScript=script))
    for mode in HOSTILE:
        path = os.path.join(fpm.run_dir, "hostile-%s.sock" % mode)
        peer = subprocess.Popen([sys.executable, os.path.join(INTEGRATION, "hostile_peer.py"),
                                 "--unix", path, "--lifetime", "3600", mode],
                                stdout=subprocess.PIPE, start_new_session=True)
        peer.stdout.readline()  # "ready"
        peers.append(peer)
        # Their own read callback (another Interval): their timeouts do not slow the real pools.
        blocks.append(harness.pool_block("hostile-" + mode, path, OPcache=False, Timeout=200,
                                         Interval=0.5))
    collectd = harness.Collectd(harness.plugin_block(*blocks, timeout=500),
                                interval=args.interval)
    try:
        collectd.start(timeout=30)
        time.sleep(2)
        pid = collectd.proc.pid
        start = (rss_kib(pid), fds(pid), accepted(fpm, names), time.monotonic())
        print("start: collectd RSS %d KiB, %d fds" % start[:2], flush=True)
        served = 0
        while served < args.requests:
            time.sleep(5)
            served = accepted(fpm, names) - start[2]
            print("  %6d requests served to fcgx, RSS %d KiB, %d fds" % (
                served, rss_kib(pid), fds(pid)), flush=True)
        end = (rss_kib(pid), fds(pid))
        elapsed = time.monotonic() - start[3]
        print("end:   collectd RSS %d KiB, %d fds after %d requests to %d pools and %d hostile "
              "peers in %.0f s (Interval %g s)" % (end[0], end[1], served, len(names),
                                                   len(HOSTILE), elapsed, args.interval))
        collectd.check_alive()
    finally:
        collectd.stop()
        for peer in peers:
            peer.terminate()
            peer.wait(timeout=10)
        fpm.stop()


if __name__ == "__main__":
    main()
