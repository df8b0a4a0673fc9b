"""Python's side of bench/run: an asyncio TCP echo server, on asyncio's own
event loop or on uvloop's (Debian python3-uvloop, for /usr/bin/python3).

    python3 bench/peers/python/asyncio_echo.py PORT [--uvloop]

Prints "listening on 127.0.0.1:PORT" and serves until killed. A Protocol,
not streams: the fastest way asyncio offers to echo (no task or buffer per
read), so the peer is measured at its best.
"""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[2:] not in ([], ["--uvloop"]):
        sys.exit("usage: asyncio_echo.py PORT [--uvloop]")
    if sys.argv[2:] == ["--uvloop"]:
        import uvloop
        uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
