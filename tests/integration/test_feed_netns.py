"""The live feed across a real link: two network namespaces joined by a veth
pair, the simulator publishing A and B lines (with loss on both, so the
retransmission server is used) in one, ``gateway feed`` joining the groups
on its veth interface in the other -- both as the command-line programs a
user runs.  The books must equal those of replaying the capture.

Needs root (namespaces, veth).  Rates are modest and fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import synth
from gateway.sim.netns import NEEDS, ROOT, Pair, available, veth_pair

pytestmark = pytest.mark.skipif(not available(), reason=NEEDS)


@pytest.fixture(scope="module")
def link() -> Iterator[Pair]:
    with veth_pair("gwn", 199) as p:
        yield p


def test_feed_over_veth_equals_replay(link: Pair, tmp_path: Path) -> None:
    cap = tmp_path / "s.pcap"
    synth.write_synth(cap, messages=20_000, symbols=40, seed=31, fmt="pcap")
    ref = tmp_path / "ref.json"
    subprocess.run([sys.executable, "-m", "gateway", "replay", str(cap), "--no-progress",
                    "--snapshot", str(ref)], check=True, cwd=ROOT, capture_output=True)
    out = tmp_path / "feed.json"
    a, b, rtx = "239.255.77.1:35001", "239.255.77.2:35002", f"{link.pub_ip}:35099"
    feed = subprocess.Popen(
        link.gateway(link.feed_ns, "feed", "--interface", link.feed_if, "--group", a, "--line-b", b,
                   "--retransmit", rtx, "--duration", "60", "--snapshot", str(out), "--json"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The feed has joined once its sockets exist; give it a moment.
        import time

        time.sleep(1.0)
        pub = subprocess.run(
            link.gateway(link.pub_ns, "sim", "publish", "--capture", str(cap), "--group", a,
                       "--line-b", b, "--interface-address", link.pub_ip, "--speed", "40000",
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
