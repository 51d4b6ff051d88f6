"""The live feed across a real link: two network namespaces joined by a veth
pair, the simulator publishing A and B lines (with loss on both, so the
retransmission server is used) in one, ``gateway feed`` joining the groups
on its veth interface in the other -- both as the command-line programs a
user runs.  The books must equal those of replaying the capture.

Needs root (namespaces, veth).  Rates are modest and fixed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import synth

ROOT = Path(__file__).resolve().parent.parent.parent
TAG = f"gw{os.getpid() % 100000}"
PUB_NS, FEED_NS = f"{TAG}p", f"{TAG}f"
PUB_IF, FEED_IF = f"{TAG}a", f"{TAG}b"
PUB_IP, FEED_IP = "10.199.0.1", "10.199.0.2"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 (network namespaces and a veth pair)",
)


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def link() -> Iterator[None]:
    try:
        sh("ip", "netns", "add", PUB_NS)
        sh("ip", "netns", "add", FEED_NS)
        sh("ip", "link", "add", PUB_IF, "netns", PUB_NS, "type", "veth",
           "peer", "name", FEED_IF, "netns", FEED_NS)
        for ns, ifname, ip in ((PUB_NS, PUB_IF, PUB_IP), (FEED_NS, FEED_IF, FEED_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", ifname)
            sh("ip", "-n", ns, "link", "set", ifname, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # The publisher's multicast leaves through the veth.
        sh("ip", "-n", PUB_NS, "route", "add", "224.0.0.0/4", "dev", PUB_IF)
        yield
    finally:
        for ns in (PUB_NS, FEED_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def gateway_in(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "gateway", *args]


def test_feed_over_veth_equals_replay(link: None, tmp_path: Path) -> None:
    cap = tmp_path / "s.pcap"
    synth.write_synth(cap, messages=20_000, symbols=40, seed=31, fmt="pcap")
    ref = tmp_path / "ref.json"
    subprocess.run([sys.executable, "-m", "gateway", "replay", str(cap), "--no-progress",
                    "--snapshot", str(ref)], check=True, cwd=ROOT, capture_output=True)
    out = tmp_path / "feed.json"
    a, b, rtx = "239.255.77.1:35001", "239.255.77.2:35002", f"{PUB_IP}:35099"
    feed = subprocess.Popen(
        gateway_in(FEED_NS, "feed", "--interface", FEED_IF, "--group", a, "--line-b", b,
                   "--retransmit", rtx, "--duration", "60", "--snapshot", str(out), "--json"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The feed has joined once its sockets exist; give it a moment.
        import time

        time.sleep(1.0)
        pub = subprocess.run(
            gateway_in(PUB_NS, "sim", "publish", "--capture", str(cap), "--group", a,
                       "--line-b", b, "--interface-address", PUB_IP, "--speed", "40000",
                       "--faults-a", "drop=0.03,burst=5000-5100,seed=1",
                       "--faults-b", "drop=0.03,burst=5000-5100,seed=2",
                       "--retransmit", rtx, "--linger", "3"),
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert pub.returncode == 0, pub.stderr
        stdout, stderr = feed.communicate(timeout=90)
    finally:
        feed.kill()
    assert feed.returncode == 0, stderr
    rep = json.loads(stdout)
    assert rep["reason"] == "end of session" and rep["ended"]
    assert rep["source"]["kernel_drops"] == 0
    assert rep["decoder"]["messages"] == 20_000
    assert rep["recovery"]["requests"] > 0  # both lines lost some of the same packets
    assert rep["books"]["stale_books"] == 0 and rep["gaps"] == []
    assert json.loads(out.read_text())["books"] == json.loads(ref.read_text())["books"]
