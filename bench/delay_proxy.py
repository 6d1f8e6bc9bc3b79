#!/usr/bin/env python3
"""A delaying TCP proxy on 127.0.0.1 for the remote-pool benchmark: this kernel has no netem.

    delay_proxy.py --delay-ms 10 --lifetime 600 TARGET...

For each TARGET (a unix socket path or HOST:PORT) it listens on a free 127.0.0.1 port and
forwards every connection to the target, holding every chunk DELAY ms in each direction before
passing it on (in order; end of stream follows the last chunk). A request and its reply thus
meet 2 x DELAY of added round trip. Prints "ready PORT..." (one port per target, in order) on
stdout once listening. Loopback only; stops by itself after --lifetime seconds and on SIGTERM.
"""
import argparse
import asyncio
import signal
import sys


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk delivered `delay` s after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if chunk is None:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(chunk)
            try:
                await writer.drain()
            except OSError:
                return

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, chunk or None))
            if not chunk:
                break
    except OSError:
        queue.put_nowait((loop.time() + delay, None))
    await task


async def handle(client_reader, client_writer, target, delay):
    try:
        if target.startswith("/"):
            up_reader, up_writer = await asyncio.open_unix_connection(target)
        else:
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.wait_for(asyncio.gather(pump(client_reader, up_writer, delay),
                                              pump(up_reader, client_writer, delay)), 30)
    except (asyncio.TimeoutError, OSError):
        pass
    finally:
        for w in (up_writer, client_writer):
            w.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay-ms", type=float, default=10)
    ap.add_argument("--lifetime", type=float, default=600)
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0
    servers = []
    for t in args.targets:
        servers.append(await asyncio.start_server(
            lambda r, w, t=t: handle(r, w, t, delay), "127.0.0.1", 0, backlog=512))
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    sys.stdout.write("ready %s\n" % " ".join(map(str, ports)))
    sys.stdout.flush()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: stop.done() or
                                                  stop.set_result(None))
    try:
        await asyncio.wait_for(stop, args.lifetime)
    except asyncio.TimeoutError:
        pass
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
