"""Where the ranks of a distributed job meet: rank 0's TCPStore.

Rank 0 listens on a free port of `advertise_host` and tells the service,
which forwards the address to the other ranks (see `JobRendezvous`).
"""

from __future__ import annotations

import socket
from datetime import timedelta

import torch.distributed as dist

from workers.distributed.group import COLLECTIVE_TIMEOUT

# How long rank 0 waits for the other ranks to connect, and they for it.
RENDEZVOUS_TIMEOUT = timedelta(minutes=5)


def host_store(advertise_host: str) -> tuple[dist.TCPStore, str]:
    """Rank 0's store on a free port; returns it and the "HOST:PORT" to hand out."""
    store = dist.TCPStore(
        "0.0.0.0",
        0,
        is_master=True,
        wait_for_workers=False,
        timeout=COLLECTIVE_TIMEOUT,
    )
    return store, f"{advertise_host}:{store.port}"


def connect_store(address: str) -> dist.TCPStore:
    """A client of rank 0's store at "HOST:PORT"."""
    host, _, port = address.rpartition(":")
    return dist.TCPStore(
        host.strip("[]"),
        int(port),
        is_master=False,
        timeout=RENDEZVOUS_TIMEOUT,
    )


def default_advertise_host(service_address: str) -> str:
    """The local address other ranks can reach this worker on: the one the
    route to the service leaves from (no packet is sent). In Kubernetes, set
    the pod IP explicitly instead (`--advertise-host`)."""
    host = service_address.rpartition(":")[0].strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()
