#!/usr/bin/env python3
"""A TCP proxy that adds a fixed delay to every chunk of client -> upstream data.

    latency_proxy.py LISTEN_PORT UPSTREAM_HOST:UPSTREAM_PORT DELAY_MS

Used by bench/remote.sh to simulate a round trip per HTTP request over loopback: each
request (an HTTP/1.1 request is one small write by the client, so one chunk) reaches the
server DELAY_MS after it was sent; replies are forwarded as they come, at full speed.
Every chunk is due DELAY_MS after it arrived (a constant one-way delay, not a delay per
chunk in series) and chunks of one connection keep their order, so keep-alive and
pipelining stay correct; connections are independent, so N parallel requests on N
connections cost one delay, not N. Opening a connection is not delayed (no extra round
trip is charged for the TCP handshake).

Listens on 127.0.0.1 only. Prints "ready" on stdout once listening.
"""

import asyncio
import sys

CHUNK = 1 << 20
# asyncio keeps only weak references to tasks, and a server stream's protocol holds its
# reader weakly: a connection task waiting for the client's next request is otherwise
# unreachable and may be garbage-collected mid-connection. Hold every one here.
LIVE = set()


async def pump(reader, writer, delay):
    """Copy reader to writer; each chunk leaves `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def receive():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, data))
                if not data:
                    break
        except ConnectionError:
            await queue.put((loop.time(), b""))

    receiver = asyncio.ensure_future(receive()) if delay else None
    try:
        while True:
            if receiver is None:
                data = await reader.read(CHUNK)
            else:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        if receiver is not None:
            receiver.cancel()
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def handle(client_reader, client_writer, upstream, delay):
    task = asyncio.current_task()
    LIVE.add(task)
    try:
        await proxy(client_reader, client_writer, upstream, delay)
    finally:
        LIVE.discard(task)


async def proxy(client_reader, client_writer, upstream, delay):
    host, port = upstream
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            pump(client_reader, up_writer, delay),  # requests: delayed
            pump(up_reader, client_writer, 0),  # replies: as they come
        )
    finally:
        for w in (up_writer, client_writer):
            try:
                w.close()
            except OSError:
                pass


async def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    listen_port = int(sys.argv[1])
    host, _, port = sys.argv[2].rpartition(":")
    delay = float(sys.argv[3]) / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), delay),
        "127.0.0.1",
        listen_port,
        limit=CHUNK,
        backlog=1024,
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
