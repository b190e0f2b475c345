"""Hosts made of network namespaces on this machine, each serving execnet gateways.

Each host is a network namespace with its own address, joined to this machine by a veth
pair (a real link: traffic between host and namespace crosses sockets, routes and the
kernel's network stack), running execnet's socket server so pytest-xdist (``--tx
socket=ADDRESS:PORT``) places workers there. Tests and benches use them to stand for a
fleet; everything made is removed on leaving the context, also on failure or interrupt.
Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ServiceUnavailable

SERVER_READY = b"Entering Accept loop"
PORT = 8888


@dataclass(frozen=True)
class NamespaceHost:
    """One namespace host: its name (also $HARNESS_HOST there), its address and its gateway spec."""

    name: str
    address: str
    gateway: str  # this machine's address on the link, as the namespace reaches it
    port: int = PORT

    @property
    def tx(self) -> str:
        """The xdist ``--tx`` spec of one worker on this host."""
        return f"socket={self.address}:{self.port}"


def available() -> str:
    """Why namespace hosts cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "namespace hosts need root"
    if shutil.which("ip") is None:
        return "namespace hosts need iproute2's ip"
    return ""


def _ip(*words: str) -> None:
    done = subprocess.run(["ip", *words], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceUnavailable(f"ip {' '.join(words)}: {done.stderr.strip()}")


def _link(name: str, index: int, subnet: int) -> NamespaceHost:
    """Create namespace ``name`` joined by a /30 veth link; its address and this machine's."""
    base = 4 * index
    near, far = f"10.{subnet >> 8}.{subnet & 255}.{base + 1}", f"10.{subnet >> 8}.{subnet & 255}.{base + 2}"
    _ip("netns", "add", name)
    _ip("link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
    _ip("link", "set", f"{name}n", "netns", name)
    _ip("addr", "add", f"{near}/30", "dev", f"{name}h")
    _ip("link", "set", f"{name}h", "up")
    _ip("-n", name, "addr", "add", f"{far}/30", "dev", f"{name}n")
    _ip("-n", name, "link", "set", f"{name}n", "up")
    _ip("-n", name, "link", "set", "lo", "up")
    return NamespaceHost(name, far, near)


def _remove(name: str) -> None:
    # Deleting the namespace deletes its end of the veth pair, and with it the pair.
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", f"{name}h"], capture_output=True, check=False)


def _serve(host: NamespaceHost, cwd: Path, ready_s: float) -> subprocess.Popen[bytes]:
    """Start execnet's socket server in the namespace; return once it accepts connections."""
    import execnet.script.socketserver as server

    env = {**os.environ, "HARNESS_HOST": host.name, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.name, sys.executable, server.__file__, f"{host.address}:{host.port}"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    deadline, seen = time.monotonic() + ready_s, b""
    while SERVER_READY not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            process.kill()
            raise ServiceUnavailable(f"execnet server in {host.name} did not start: {seen.decode(errors='replace')}")
        if select.select([process.stdout], [], [], left)[0]:
            seen += os.read(process.stdout.fileno(), 4096)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def namespace_hosts(count: int, ready_s: float = 20.0) -> Iterator[list[NamespaceHost]]:
    """``count`` namespace hosts serving execnet gateways; all removed on leaving, whatever happened.

    Each server works in a temporary directory of its own (xdist copies what it sends there).
    """
    reason = available()
    if reason:
        raise ServiceUnavailable(reason)
    tag = os.getpid() % 100000
    subnet = 200 * 256 + tag % 256  # 10.200.x.0/24 (x from the pid): two concurrent runs rarely meet
    with ExitStack() as stack:
        hosts = []
        for index in range(count):
            name = f"hh{tag}x{index}"
            stack.callback(_remove, name)
            hosts.append(_link(name, index, subnet))
        for host in hosts:
            cwd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{host.name}-")))
            stack.callback(_stop, _serve(host, cwd, ready_s))
        yield hosts
