"""Hosts in network namespaces on one bridge, and TCP forwarders to the machine's services.

Each host is a namespace with a veth pair onto a bridge in the root namespace; addresses are
a private /24 that exists only on that bridge and inside those namespaces. The machine's
PostgreSQL, Redis and RabbitMQ listen on 127.0.0.1 only, so the root namespace runs small
forwarders bound on the bridge's address (nothing global is reconfigured).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS`."""
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"tt-probe-{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """One namespace and its address on the bridge."""

    name: str
    address: str

    def command(self, *args: str) -> list[str]:
        """`args` run inside this host's namespace, with a hostname of its own.

        A UTS namespace too: Celery names a worker after its host, and two workers of one
        name collide on RabbitMQ (each holds an exclusive `<name>.celery.pidbox` queue).
        """
        hostname = 'hostname "$0" && exec "$@"'
        return ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c", hostname,
                self.name, *args]  # fmt: skip

    def pids(self) -> list[int]:
        """Every process in the namespace."""
        out = ip("netns", "pids", self.name, check=False).stdout
        return [int(p) for p in out.split()]

    def kill_everything(self) -> int:
        """SIGKILL every process in the namespace (the host dies); returns how many."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)


@dataclass
class Network:
    """The bridge, its address in the root namespace, and the hosts on it."""

    bridge: str
    gateway: str
    hosts: dict[str, Host] = field(default_factory=dict)


@contextmanager
def virtual_network(names: list[str]) -> Iterator[Network]:
    """A bridge and one namespace per name; everything is removed on exit."""
    tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
    subnet = f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}"
    network = Network(bridge=f"ttbr{tag}", gateway=f"{subnet}.1")
    links: list[str] = []
    try:
        ip("link", "add", network.bridge, "type", "bridge")
        ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
        ip("link", "set", network.bridge, "up")
        for index, name in enumerate(names):
            host = Host(f"tt{tag}-{name}", f"{subnet}.{11 + index}")
            outside, inside = f"tv{tag}{index}", f"tp{tag}{index}"
            ip("netns", "add", host.name)
            network.hosts[name] = host
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            links.append(outside)
            ip("link", "set", outside, "master", network.bridge)
            ip("link", "set", outside, "up")
            ip("link", "set", inside, "netns", host.name)
            inner = ["ip", "netns", "exec", host.name, "ip"]
            subprocess.run([*inner, "link", "set", "lo", "up"], check=True)
            subprocess.run([*inner, "link", "set", inside, "name", "eth0"], check=True)
            subprocess.run([*inner, "addr", "add", f"{host.address}/24", "dev", "eth0"], check=True)
            subprocess.run([*inner, "link", "set", "eth0", "up"], check=True)
        yield network
    finally:
        for host in network.hosts.values():
            host.kill_everything()
            ip("netns", "del", host.name, check=False)
        for link in links:
            ip("link", "del", link, check=False)  # gone with its peer already, mostly
        ip("link", "del", network.bridge, check=False)


@contextmanager
def forwarders(bind_host: str, ports: list[int]) -> Iterator[None]:
    """Forward `bind_host:PORT` to 127.0.0.1:PORT for each port, in threads of this process."""
    listeners = []
    for port in ports:
        listener = socket.create_server((bind_host, port), reuse_port=False, backlog=256)
        listeners.append(listener)
        threading.Thread(target=_accept, args=(listener, port), daemon=True).start()
    try:
        yield
    finally:
        for listener in listeners:
            listener.close()


def _accept(listener: socket.socket, port: int) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:  # closed: the forwarder is stopping
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            client.close()
            continue
        for one, other in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(one, other), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy one direction; when either side ends, end both (a dead host's links drop)."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
