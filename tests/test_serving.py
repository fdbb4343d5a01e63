"""`studio serve --workers N`: the socket uvicorn binds for its worker processes is handed on as
a TCP socket, so asyncio sets TCP_NODELAY on each connection it accepts (without it, every
answer on a kept-alive connection waits for the client's delayed ACK)."""

from __future__ import annotations

import asyncio
import socket
import threading

from app.serving import TcpConfig


def test_connections_accepted_on_the_bound_socket_get_tcp_nodelay():
    config = TcpConfig("app.main:create_app", factory=True, host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    assert listener.proto == socket.IPPROTO_TCP
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):  # a hang guard: the probe runs on the next loop turns
            if nodelay:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    # Its own thread: a browser test in this process may have left an event loop running here.
    runner = threading.Thread(target=asyncio.run, args=(accept_one(),))
    runner.start()
    runner.join(30)
    assert nodelay == [1]
