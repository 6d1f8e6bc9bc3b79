"""A minimal blocking FastCGI client (standard library only) for tests and fixture capture.

It is deliberately independent of the plugin's C client so tests compare the plugin against a
second implementation, not against itself.
"""
import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7


def _nv_len(n):
    return struct.pack("B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def _record(rtype, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBx", 1, rtype, req_id, len(content), pad) + content + b"\0" * pad


def request_bytes(params):
    body = b"".join(
        _nv_len(len(k)) + _nv_len(len(v)) + k + v
        for k, v in ((k.encode(), v.encode()) for k, v in params.items())
    )
    out = _record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 0))
    for i in range(0, len(body), 65535):
        out += _record(PARAMS, body[i:i + 65535])
    return out + _record(PARAMS, b"") + _record(STDIN, b"")


def connect(address, timeout=5.0):
    """address: a unix socket path, or (host, port)."""
    if isinstance(address, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
    except OSError:
        s.close()
        raise
    return s


def get(address, script_name, query="", script_filename=None, extra=None, timeout=5.0):
    """Returns (stdout_bytes, stderr_bytes)."""
    params = {
        "GATEWAY_INTERFACE": "FastCGI/1.0",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script_name,
        "SCRIPT_FILENAME": script_filename or script_name,
        "QUERY_STRING": query,
        "REQUEST_URI": script_name + ("?" + query if query else ""),
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    params.update(extra or {})
    s = connect(address, timeout)
    try:
        s.sendall(request_bytes(params))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    out, err, pos = b"", b"", 0
    while pos + 8 <= len(data):
        _, rtype, _, clen, plen = struct.unpack(">BBHHBx", data[pos:pos + 8])
        content = data[pos + 8:pos + 8 + clen]
        pos += 8 + clen + plen
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR:
            err += content
        elif rtype == END_REQUEST:
            break
    return out, err


def split_response(raw):
    """Splits CGI output into (status, headers dict lower-cased, body)."""
    sep = raw.find(b"\r\n\r\n")
    head, body = (raw[:sep], raw[sep + 4:]) if sep >= 0 else (raw, b"")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, body
