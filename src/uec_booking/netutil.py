"""Small loopback networking helpers shared by the servers, the sandbox and the tests."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

# Ports handed out by this process, so that two servers allocated before either binds are
# never given the same one.
_handed_out: set[int] = set()
_lock = threading.Lock()
_LOWEST = 10_000  # above the ports well-known services listen on


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (`bind` to 0, and every `connect`)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (asyncio sets SO_REUSEADDR): a port left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now, for a server to bind a moment later.

    It is chosen below the kernel's ephemeral range: a port the kernel hands out itself is
    one any outgoing connection (to PostgreSQL, to another server) may take in the meantime,
    and the server then fails to bind ("address already in use")."""
    low, _ = ephemeral_range()
    if low - _LOWEST < 1000:  # a machine whose ephemeral range leaves no room below it
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    with _lock:
        for _ in range(1000):
            port = random.randrange(_LOWEST, low)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    raise OSError(f"no free TCP port on {host} between {_LOWEST} and {low}")


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)
