"""Two network namespaces joined by a veth pair -- a publisher side and a
gateway side -- for tests and benchmarks that need a real link (root).

Single-queue veths (the default), TX checksum offload off on the sender so
frames carry real checksums, and a multicast route out of the publisher's
veth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEEDS = "needs root and iproute2 (network namespaces and a veth pair)"


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class Pair:
    pub_ns: str
    feed_ns: str
    pub_if: str
    feed_if: str
    pub_ip: str
    feed_ip: str

    def gateway(self, ns: str, *args: str) -> list[str]:
        """``gateway ARGS`` run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, sys.executable, "-m", "gateway", *args]

    def run_in(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def mac(self, ns: str, ifname: str) -> str:
        return sh("ip", "-n", ns, "-o", "link", "show", ifname).split("link/ether ")[1].split()[0]

    def rewrite(self, capture: Path, out: Path) -> Path:
        """``capture`` as if the publisher's veth had sent it (its MAC and
        address as source, checksums fixed), for tcpreplay onto the link."""
        sh("tcprewrite", f"--infile={capture}", f"--outfile={out}",
           f"--enet-smac={self.mac(self.pub_ns, self.pub_if)}",
           f"--srcipmap=0.0.0.0/0:{self.pub_ip}/32", "--fixcsum")
        return out


@contextmanager
def veth_pair(tag: str, subnet: int, queues: int = 1) -> Iterator[Pair]:
    t = f"{tag}{os.getpid() % 10000}"
    p = Pair(f"{t}p", f"{t}f", f"{t}a", f"{t}b", f"10.{subnet}.0.1", f"10.{subnet}.0.2")
    try:
        sh("ip", "netns", "add", p.pub_ns)
        sh("ip", "netns", "add", p.feed_ns)
        nq = ["numtxqueues", str(queues), "numrxqueues", str(queues)]
        sh("ip", "link", "add", p.pub_if, *nq, "netns", p.pub_ns, "type", "veth",
           "peer", "name", p.feed_if, *nq, "netns", p.feed_ns)
        for ns, ifname, ip in ((p.pub_ns, p.pub_if, p.pub_ip), (p.feed_ns, p.feed_if, p.feed_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", ifname)
            sh("ip", "-n", ns, "link", "set", ifname, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", p.pub_ns, "route", "add", "224.0.0.0/4", "dev", p.pub_if)
        if shutil.which("ethtool"):
            sh("ip", "netns", "exec", p.pub_ns, "ethtool", "-K", p.pub_if, "tx", "off")
        yield p
    finally:
        for ns in (p.pub_ns, p.feed_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
