#!/usr/bin/env python3
"""A TCP relay for the bridge tests (this kernel has no netem): it holds
every chunk it reads for DELAY seconds before writing it on, in both
directions, and cuts every connection at random moments (CUTS times, 0.3
to 1.2 s apart, from SEED), then relays on undisturbed.

Usage: relay.py LISTEN_HOST:PORT UPSTREAM_HOST:PORT DELAY CUTS SEED
Prints "relay listening" once it accepts, and "relay: N cuts, B bytes"
when SIGTERM ends it.
"""
import asyncio
import random
import signal
import sys


async def main():
    lhost, lport = sys.argv[1].rsplit(":", 1)
    uhost, uport = sys.argv[2].rsplit(":", 1)
    delay, cuts, rng = float(sys.argv[3]), int(sys.argv[4]), random.Random(int(sys.argv[5]))
    conns, stats = set(), {"cuts": 0, "bytes": 0}

    async def pump(reader, writer):
        queue = asyncio.Queue()

        async def later():
            while True:
                due, chunk = await queue.get()
                if chunk is None:
                    break
                wait = due - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
        task = asyncio.ensure_future(later())
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                stats["bytes"] += len(chunk)
                await queue.put((asyncio.get_running_loop().time() + delay, chunk))
        except (ConnectionError, OSError):
            pass
        await queue.put((0, None))
        try:
            await task
        except (ConnectionError, OSError):
            pass
        writer.close()

    async def client(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(uhost, int(uport))
        except OSError:
            cwriter.close()
            return
        pair = (cwriter, uwriter)
        conns.add(pair)
        await asyncio.gather(pump(creader, uwriter), pump(ureader, cwriter),
                             return_exceptions=True)
        conns.discard(pair)

    async def cutter():
        for _ in range(cuts):
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            for pair in list(conns):
                for w in pair:
                    w.transport.abort()
            stats["cuts"] += 1

    server = await asyncio.start_server(client, lhost, int(lport))
    print("relay listening", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    cut = asyncio.ensure_future(cutter())
    await stop.wait()
    cut.cancel()
    server.close()
    print("relay: %d cuts, %d bytes" % (stats["cuts"], stats["bytes"]), flush=True)


asyncio.run(main())
