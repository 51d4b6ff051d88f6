"""``gateway feed --source dpdk`` end to end, each run its own process (the
EAL starts once per process): the ``net_pcap`` vdev reading a capture, and
the ``net_af_xdp`` vdev on a veth pair (root) with the capture replayed onto
it by tcpreplay.  Books identical to ``gateway replay`` of the capture,
every drop counter zero."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import synth
from gateway.sim.netns import NEEDS, ROOT, Pair, available, veth_pair

GROUP = "233.54.12.111:26477"
MESSAGES = 20_000
_runs = iter(range(10**6))


def _built() -> None:
    try:
        import gateway._native_dpdk  # noqa: F401
    except ImportError:
        pytest.skip("the DPDK backend was not built (libdpdk-dev)")


def eal(*vdevs: str) -> str:
    prefix = f"gwdt{os.getpid()}x{next(_runs)}"
    return " ".join(["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry",
                     "--file-prefix", prefix, *[f"--vdev {v}" for v in vdevs]])


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    _built()
    d = tmp_path_factory.mktemp("dpdk")
    cap = d / "s.pcap"
    synth.write_synth(cap, messages=MESSAGES, symbols=30, seed=43, fmt="pcap")
    snap = d / "ref.json"
    subprocess.run([sys.executable, "-m", "gateway", "replay", str(cap), "--no-progress",
                    "--snapshot", str(snap)], check=True, cwd=ROOT, capture_output=True)
    return cap, json.loads(snap.read_text())["books"]


def feed_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "feed", "--source", "dpdk", "--json", *args]


def test_net_pcap_gives_the_replay_books(capture: tuple[Path, Any], tmp_path: Path) -> None:
    cap, ref = capture
    out = tmp_path / "feed.json"
    r = subprocess.run(feed_cmd("--dpdk-port", "net_pcap0", "--group", GROUP,
                                "--dpdk-args", eal(f"net_pcap0,rx_pcap={cap}"),
                                "--duration", "60", "--snapshot", str(out)),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["reason"] == "end of session" and rep["ended"]
    assert rep["decoder"]["messages"] == MESSAGES and rep["gaps"] == []
    assert rep["source"]["nic_drops"] == 0
    assert rep["decoder"]["reasons"] == {}  # the capture is all feed: nothing filtered
    assert json.loads(out.read_text())["books"] == ref


def test_other_destinations_on_the_port_are_dropped(capture: tuple[Path, Any]) -> None:
    cap, _ = capture
    r = subprocess.run(feed_cmd("--dpdk-port", "net_pcap0", "--group", "233.54.12.111:26999",
                                "--dpdk-args", eal(f"net_pcap0,rx_pcap={cap}"),
                                "--duration", "3"),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["decoder"]["messages"] == 0
    assert rep["decoder"]["reasons"]["other_destination"] == rep["source"]["frames"] > 0


@pytest.mark.parametrize(("argv", "key"), [
    ([], "--dpdk-port"),
    (["--dpdk-port", "net_nope0", "--dpdk-args", "NOEAL"], "--dpdk-port"),
])
def test_errors_name_the_option(argv: list[str], key: str) -> None:
    _built()
    argv = [eal() if a == "NOEAL" else a for a in argv]
    r = subprocess.run(feed_cmd("--group", GROUP, *argv), cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith(f"gateway: {key}:"), r.stderr


@pytest.fixture(scope="module")
def link() -> Iterator[Pair]:
    if not available():
        pytest.skip(NEEDS)
    with veth_pair("gwd", 196) as p:
        yield p


def test_net_af_xdp_on_veth_gives_the_replay_books(link: Pair, capture: tuple[Path, Any],
                                                    tmp_path: Path) -> None:
    if shutil.which("tcpreplay") is None:
        pytest.skip("tcpreplay is not installed")
    cap, ref = capture
    rewritten = link.rewrite(cap, tmp_path / "veth.pcap")
    out = tmp_path / "feed.json"
    feed = subprocess.Popen(
        link.run_in(link.feed_ns, *feed_cmd(
            "--dpdk-port", "net_af_xdp0", "--group", GROUP, "--duration", "60",
            "--snapshot", str(out),
            "--dpdk-args", eal(f"net_af_xdp0,iface={link.feed_if},start_queue=0"))),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)  # EAL up, port started
        assert feed.poll() is None, feed.communicate()[1]
        subprocess.run(link.run_in(link.pub_ns, "tcpreplay", f"--intf1={link.pub_if}",
                                   "--pps=20000", str(rewritten)),
                       check=True, capture_output=True, timeout=120)
        stdout, stderr = feed.communicate(timeout=90)
    finally:
        feed.kill()
    assert feed.returncode == 0, stderr
    rep = json.loads(stdout)
    assert rep["reason"] == "end of session" and rep["ended"]
    assert rep["decoder"]["messages"] == MESSAGES and rep["gaps"] == []
    assert rep["source"]["nic_drops"] == 0
    assert json.loads(out.read_text())["books"] == ref


def test_net_af_xdp_with_the_simulator_and_retransmission(link: Pair, capture: tuple[Path, Any],
                                                          tmp_path: Path) -> None:
    cap, ref = capture
    a, b, rtx = "239.255.79.1:35201", "239.255.79.2:35202", f"{link.pub_ip}:35299"
    # net_af_xdp's own XDP program takes every frame on the queue, ARP
    # included: neither side can resolve the other's MAC through the
    # gateway's interface, so both are told (see docs/architecture.md).
    for ns, ip, peer_ns, peer_if, dev in (
            (link.feed_ns, link.pub_ip, link.pub_ns, link.pub_if, link.feed_if),
            (link.pub_ns, link.feed_ip, link.feed_ns, link.feed_if, link.pub_if)):
        subprocess.run(["ip", "-n", ns, "neigh", "replace", ip, "lladdr",
                        link.mac(peer_ns, peer_if), "dev", dev, "nud", "permanent"],
                       check=True, capture_output=True)
    out = tmp_path / "feed.json"
    feed = subprocess.Popen(
        link.run_in(link.feed_ns, *feed_cmd(
            "--dpdk-port", "net_af_xdp0", "--group", a, "--line-b", b, "--retransmit", rtx,
            "--duration", "60", "--snapshot", str(out),
            "--dpdk-args", eal(f"net_af_xdp0,iface={link.feed_if},start_queue=0"))),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)
        assert feed.poll() is None, feed.communicate()[1]
        pub = subprocess.run(
            link.gateway(link.pub_ns, "sim", "publish", "--capture", str(cap), "--group", a,
                         "--line-b", b, "--interface-address", link.pub_ip, "--speed", "40000",
                         "--faults-a", "drop=0.02,burst=9000-9100,seed=5",
                         "--faults-b", "drop=0.02,burst=9000-9100,seed=6",
                         "--retransmit", rtx, "--linger", "3"),
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert pub.returncode == 0, pub.stderr
        stdout, stderr = feed.communicate(timeout=90)
    finally:
        feed.kill()
    assert feed.returncode == 0, stderr
    rep = json.loads(stdout)
    assert rep["ended"] and rep["decoder"]["messages"] == MESSAGES
    assert rep["recovery"]["requests"] > 0 and rep["books"]["stale_books"] == 0
    assert rep["source"]["nic_drops"] == 0
    assert json.loads(out.read_text())["books"] == ref
