"""Free loopback ports and waiting for a server to listen."""

from __future__ import annotations

import socket
import time


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP servers listen on both)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP")


def wait_listening(port: int, *, timeout: float = 10.0, what: str = "server") -> None:
    """Block until 127.0.0.1:port accepts TCP connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s") from None
            time.sleep(0.02)


def wait_udp_bound(port: int, *, timeout: float = 10.0, what: str = "server") -> None:
    """Block until something has bound UDP 127.0.0.1:port (a process with no readiness signal, e.g. SIPp)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return  # taken: the server has it
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not bind UDP 127.0.0.1:{port} within {timeout} s")
        time.sleep(0.02)
