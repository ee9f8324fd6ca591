"""`free_port` gives ports no outgoing connection can take before the server binds them."""

from __future__ import annotations

import socket

from uec_booking.netutil import ephemeral_range, free_port


def test_free_ports_are_outside_the_range_outgoing_connections_take() -> None:
    low, high = ephemeral_range()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        clients = [socket.create_connection(listener.getsockname()) for _ in range(50)]
        try:
            taken = {c.getsockname()[1] for c in clients}
        finally:
            for c in clients:
                c.close()
    assert all(low <= port <= high for port in taken)  # what the kernel picks itself
    ports = [free_port() for _ in range(200)]
    assert not any(low <= port <= high for port in ports)
    assert len(set(ports)) == len(ports)  # never the same one twice
    for port in ports[:20]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
