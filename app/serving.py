"""Running uvicorn with several worker processes without losing TCP_NODELAY.

With ``workers`` above 1, uvicorn binds the listening socket itself with its protocol left at 0;
accepted connections inherit that, and asyncio sets TCP_NODELAY only on sockets that say
IPPROTO_TCP. Nagle's algorithm then holds every answer on a kept-alive connection until the
client's delayed ACK: about 40 ms per request (uvicorn issue #3149). Here the bound socket is
handed on as what it is, a TCP socket."""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


class TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            # The same bound socket, told its protocol, so accepted ones get TCP_NODELAY.
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


def run(config: TcpConfig) -> None:
    """``uvicorn.run`` for an app factory: one process, or a supervisor of ``workers``."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
