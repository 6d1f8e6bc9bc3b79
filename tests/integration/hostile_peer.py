#!/usr/bin/env python3
"""A hostile FastCGI peer for fault-injection tests: it listens on a unix socket or on TCP and
misbehaves in one chosen way on every connection.

    hostile_peer.py --unix PATH MODE        or        hostile_peer.py --tcp PORT MODE

Modes: silent, drip, garbage, short_content, bad_version, bad_request_id, unknown_type,
stdout_flood, stderr_flood, cant_mpx_conn, overloaded, max_lengths, json_truncated,
json_deep, json_wrong_types, json_huge, reset_mid_reply, status_500_once, healthy.
"healthy" answers like a php-fpm pool (status JSON, ping "pong"); "status_500_once" answers
every other status request (the 1st, 3rd, ...) with php-fpm's intermittent `Status: 500`, so
that each poll's first attempt fails and its one retry succeeds. "page" (with --page FILE) answers
ping "pong" and every other request with FILE as the status page, as php-fpm would with `full`;
without `full` in the query, the page up to its "processes" (php-fpm's plain `?json`), or the
whole file when it has none. The peer stops by itself after
--lifetime seconds (default 300), and on SIGTERM.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time

STDOUT, STDERR, END_REQUEST, UNKNOWN_TYPE = 6, 7, 3, 11
MODES = (
    "silent drip garbage short_content bad_version bad_request_id unknown_type stdout_flood "
    "stderr_flood cant_mpx_conn overloaded max_lengths json_truncated json_deep json_wrong_types "
    "json_huge reset_mid_reply status_500_once healthy page"
).split()
PAGE = {}  # mode "page": the status bodies to serve, {"full": bytes, "plain": bytes}

STATUS = {
    "pool": "hostile", "process manager": "static", "start time": 1700000000, "start since": 42,
    "accepted conn": 7, "listen queue": 0, "max listen queue": 0, "listen queue len": 0,
    "idle processes": 1, "active processes": 1, "total processes": 2, "max active processes": 1,
    "max children reached": 0, "slow requests": 0,
}


def record(rtype, content=b"", req_id=1, version=1, padding=None):
    pad = (8 - len(content) % 8) % 8 if padding is None else padding
    return struct.pack(">BBHHBx", version, rtype, req_id, len(content), pad) + content + b"\0" * pad


def end_request(protocol_status=0, req_id=1):
    return record(END_REQUEST, struct.pack(">IB3x", 0, protocol_status), req_id)


def stdout_records(data):
    return b"".join(record(STDOUT, data[i:i + 65528]) for i in range(0, len(data), 65528))


def cgi(body, status=None, ctype="application/json"):
    head = ("Status: %s\r\n" % status if status else "") + "Content-type: %s\r\n\r\n" % ctype
    return head.encode() + body


def read_request(conn):
    """Reads records until the empty STDIN; returns the PARAMS as a dict (or None on EOF)."""
    buf, params = b"", b""
    while True:
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
            if rtype == 4:
                params += content
            elif rtype == 5 and clen == 0:
                return decode_params(params)
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk


def decode_params(data):
    out, i = {}, 0
    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack(">I", data[i - 4:i])[0] & 0x7FFFFFFF
    while i < len(data):
        n, v = length(), length()
        out[data[i:i + n].decode("latin-1")] = data[i + n:i + n + v].decode("latin-1")
        i += n + v
    return out


def healthy_reply(params):
    if params.get("SCRIPT_NAME") == "/ping":
        return stdout_records(cgi(b"pong", ctype="text/plain")) + end_request()
    if "FCGX_STATUS_REQUEST" in params and params.get("SCRIPT_NAME") != "/status":
        return stdout_records(cgi(b"", status="404 Not Found")) + end_request()
    return stdout_records(cgi(json.dumps(STATUS).encode())) + end_request()


class Peer:
    def __init__(self, mode):
        self.mode = mode
        self.connections = 0
        self.status_requests = 0
        self.lock = threading.Lock()

    def serve(self, conn):
        with self.lock:
            self.connections += 1
            n = self.connections
        try:
            conn.settimeout(30)
            params = read_request(conn)
            if params is None:
                return
            getattr(self, "mode_" + self.mode)(conn, params, n)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    # each mode answers one request
    def mode_healthy(self, conn, params, n):
        conn.sendall(healthy_reply(params))

    def mode_silent(self, conn, params, n):
        time.sleep(3600)

    def mode_drip(self, conn, params, n):
        for byte in healthy_reply(params):
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    def mode_garbage(self, conn, params, n):
        conn.sendall(random.Random(n).randbytes(4096))

    def mode_short_content(self, conn, params, n):
        conn.sendall(struct.pack(">BBHHBx", 1, STDOUT, 1, 60000, 0) + b"x" * 100)

    def mode_bad_version(self, conn, params, n):
        conn.sendall(record(STDOUT, cgi(b"{}"), version=2) + end_request())

    def mode_bad_request_id(self, conn, params, n):
        conn.sendall(record(STDOUT, cgi(b"{}"), req_id=2) + end_request(req_id=2))

    def mode_unknown_type(self, conn, params, n):
        conn.sendall(record(42, b"surprise") + end_request())

    def mode_stdout_flood(self, conn, params, n):
        chunk = record(STDOUT, b"A" * 65528)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            conn.sendall(chunk)

    def mode_stderr_flood(self, conn, params, n):
        # record by record: the first byte leaves at once, however busy the machine
        chunk = record(STDERR, b"E" * 65528)
        for _ in range(40):
            conn.sendall(chunk)
        conn.sendall(healthy_reply(params))

    def mode_cant_mpx_conn(self, conn, params, n):
        conn.sendall(end_request(protocol_status=1))

    def mode_overloaded(self, conn, params, n):
        conn.sendall(end_request(protocol_status=2))

    def mode_max_lengths(self, conn, params, n):
        # content length 65535 and padding 255 in every record, then a valid reply
        conn.sendall(record(STDERR, b"w" * 65535, padding=255) + healthy_reply(params))

    def mode_json_truncated(self, conn, params, n):
        body = json.dumps(STATUS).encode()
        conn.sendall(stdout_records(cgi(body[: len(body) // 2])) + end_request())

    def mode_json_deep(self, conn, params, n):
        conn.sendall(stdout_records(cgi(b"[" * 10000 + b"]" * 10000)) + end_request())

    def mode_json_wrong_types(self, conn, params, n):
        bad = {k: str(v) for k, v in STATUS.items()}
        conn.sendall(stdout_records(cgi(json.dumps(bad).encode())) + end_request())

    def mode_json_huge(self, conn, params, n):
        # The bytes of stdout_records(cgi(b'{"pool":"' + 50 MiB of x + b'"}')) + end_request(),
        # streamed record by record: building the 50 MiB reply (several copies) before the
        # first byte takes longer than the client's 500 ms Timeout on a loaded machine, and the
        # client would then see silence instead of a reply over its size cap.
        head, size, tail = cgi(b'{"pool":"'), 50 * 1024 * 1024, b'"}'
        total = len(head) + size + len(tail)
        for start in range(0, total, 65528):
            end = min(start + 65528, total)
            xs = min(end, len(head) + size) - max(start, len(head))
            content = (head[start:end] + b"x" * max(0, xs)
                       + tail[max(0, start - len(head) - size):max(0, end - len(head) - size)])
            conn.sendall(record(STDOUT, content))
        conn.sendall(end_request())

    def mode_reset_mid_reply(self, conn, params, n):
        reply = healthy_reply(params)
        conn.sendall(reply[: len(reply) // 2])
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def mode_status_500_once(self, conn, params, n):
        # The first status request of every poll answers 500, its retry 200: count status
        # requests only (pings and scripts in between would shift a count of connections, and
        # only the very first poll would ever see a 500).
        if params.get("SCRIPT_NAME") != "/status":
            conn.sendall(healthy_reply(params))
            return
        with self.lock:
            self.status_requests += 1
            first_of_pair = self.status_requests % 2 == 1
        if first_of_pair:
            conn.sendall(stdout_records(cgi(b"Internal error", status="500 Internal Server Error",
                                            ctype="text/plain")) + end_request())
        else:
            conn.sendall(healthy_reply(params))

    def mode_page(self, conn, params, n):
        if params.get("SCRIPT_NAME") == "/ping":
            conn.sendall(healthy_reply(params))
            return
        full = "full" in params.get("QUERY_STRING", "").split("&")
        conn.sendall(stdout_records(cgi(PAGE["full" if full else "plain"])) + end_request())


def load_page(path):
    with open(path, "rb") as f:
        page = f.read()
    PAGE["full"] = page
    # php-fpm's plain page is its full one without the processes array
    head = re.split(rb',\s*"processes"\s*:', page, maxsplit=1)
    PAGE["plain"] = head[0].rstrip() + b"\n}" if len(head) == 2 else page


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix")
    where.add_argument("--tcp", type=int)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--lifetime", type=float, default=300)
    parser.add_argument("--page", help='the status page of mode "page"')
    args = parser.parse_args()
    if args.mode == "page":
        load_page(args.page)

    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.unix)
        os.chmod(args.unix, 0o666)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.tcp))
    listener.listen(128)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.alarm(int(args.lifetime))  # never outlives its test
    print("ready", flush=True)
    peer = Peer(args.mode)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=peer.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
