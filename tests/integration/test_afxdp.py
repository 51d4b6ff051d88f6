"""AF_XDP on a veth pair between two network namespaces (root).

* A synthetic capture, rewritten for the veth addresses, is replayed onto
  the link with tcpreplay at a fixed rate; ``gateway feed --source afxdp``
  (skb and native XDP) builds books identical to ``gateway replay`` of the
  same capture, with every drop counter zero.
* The simulator publishes A and B lines with loss on both; the
  retransmission server's answers come back through the XDP program too.
* While the program is attached, ping crosses the link and a datagram to
  another port reaches an ordinary kernel socket, not the gateway.
* Error cases: an interface that does not exist, a process without the
  capabilities.
"""

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

pytestmark = pytest.mark.skipif(not available(), reason=NEEDS)

GROUP = "233.54.12.111:26477"  # where gateway capture synth sends
MESSAGES = 20_000


def _built() -> None:
    try:
        import gateway._native_xdp  # noqa: F401
    except ImportError:
        pytest.skip("the AF_XDP backend was not built (libxdp-dev, libbpf-dev, clang)")


@pytest.fixture(scope="module")
def link() -> Iterator[Pair]:
    _built()
    with veth_pair("gwx", 198) as p:
        yield p


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("afxdp")
    cap = d / "s.pcap"
    synth.write_synth(cap, messages=MESSAGES, symbols=30, seed=41, fmt="pcap")
    snap = d / "ref.json"
    subprocess.run([sys.executable, "-m", "gateway", "replay", str(cap), "--no-progress",
                    "--snapshot", str(snap)], check=True, cwd=ROOT, capture_output=True)
    return cap, json.loads(snap.read_text())["books"]


def start_feed(link: Pair, out: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        link.gateway(link.feed_ns, "feed", "--source", "afxdp", "--interface", link.feed_if,
                     "--duration", "60", "--snapshot", str(out), "--json", *args),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # program attached, socket bound, groups joined
    assert proc.poll() is None, proc.communicate()[1]
    return proc


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return dict(json.loads(out))


@pytest.mark.parametrize("mode", ["skb", "native"])
def test_tcpreplay_onto_veth_gives_the_replay_books(link: Pair, capture: tuple[Path, Any],
                                                   tmp_path: Path, mode: str) -> None:
    if shutil.which("tcpreplay") is None or shutil.which("tcprewrite") is None:
        pytest.skip("tcpreplay is not installed")
    cap, ref = capture
    # The capture, from the publisher's veth: its MAC and address as source.
    rewritten = link.rewrite(cap, tmp_path / "veth.pcap")
    out = tmp_path / "feed.json"
    feed = start_feed(link, out, "--group", GROUP, "--xdp-mode", mode)
    subprocess.run(link.run_in(link.pub_ns, "tcpreplay", f"--intf1={link.pub_if}",
                               "--pps=20000", str(rewritten)),
                   check=True, capture_output=True, timeout=120)
    rep = finish(feed)
    assert rep["reason"] == "end of session" and rep["ended"]
    assert rep["source"]["kind"] == f"afxdp-{mode}-copy"  # veth: copy mode only
    assert rep["source"]["nic_drops"] == 0 and rep["source"]["kernel_drops"] == 0
    assert rep["decoder"]["messages"] == MESSAGES and rep["gaps"] == []
    assert json.loads(out.read_text())["books"] == ref


def test_simulator_lines_and_retransmission_through_xdp(link: Pair, capture: tuple[Path, Any],
                                                         tmp_path: Path) -> None:
    cap, ref = capture
    a, b, rtx = "239.255.78.1:35101", "239.255.78.2:35102", f"{link.pub_ip}:35199"
    out = tmp_path / "feed.json"
    feed = start_feed(link, out, "--group", a, "--line-b", b, "--retransmit", rtx,
                      "--xdp-mode", "native")
    pub = subprocess.run(
        link.gateway(link.pub_ns, "sim", "publish", "--capture", str(cap), "--group", a,
                     "--line-b", b, "--interface-address", link.pub_ip, "--speed", "40000",
                     "--faults-a", "drop=0.02,burst=7000-7100,seed=3",
                     "--faults-b", "drop=0.02,burst=7000-7100,seed=4",
                     "--retransmit", rtx, "--linger", "3"),
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert pub.returncode == 0, pub.stderr
    rep = finish(feed)
    assert rep["ended"] and rep["decoder"]["messages"] == MESSAGES
    assert rep["recovery"]["requests"] > 0 and rep["books"]["stale_books"] == 0
    lines = {ln["line"]: ln for ln in rep["lines"]}
    assert lines[7]["first"] >= 101  # the answers came in through the program
    assert rep["source"]["nic_drops"] == 0
    assert json.loads(out.read_text())["books"] == ref


LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 39001)); s.settimeout(10)
print("ready", flush=True)
data, _ = s.recvfrom(100)
print(data.decode(), flush=True)
"""


def test_ping_and_other_ports_still_reach_the_kernel(link: Pair, tmp_path: Path) -> None:
    out = tmp_path / "feed.json"
    feed = start_feed(link, out, "--group", GROUP, "--xdp-mode", "skb")
    listener = subprocess.Popen(link.run_in(link.feed_ns, sys.executable, "-c", LISTEN),
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        ping = subprocess.run(link.run_in(link.pub_ns, "ping", "-c", "3", "-i", "0.2", "-W", "2",
                                          link.feed_ip), capture_output=True, text=True)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        send = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                f"s.sendto(b'not-a-feed', ('{link.feed_ip}', 39001)); "
                f"s.sendto(b'x' * 40, ('{GROUP.split(':')[0]}', 26999))")
        subprocess.run(link.run_in(link.pub_ns, sys.executable, "-c", send), check=True)
        assert listener.stdout.readline().strip() == "not-a-feed"
    finally:
        listener.kill()
        feed.send_signal(2)  # Ctrl-C: the feed stops with its report
    out_text, err = feed.communicate(timeout=30)
    assert feed.returncode == 0, err
    # Neither datagram reached the gateway: no frame at all arrived on its socket.
    rep = json.loads(out_text)
    assert rep["reason"] == "interrupted" and rep["source"]["frames"] == 0


def test_interface_that_does_not_exist(link: Pair) -> None:
    r = subprocess.run(link.gateway(link.feed_ns, "feed", "--source", "afxdp", "--interface",
                                    "nosuch0", "--group", GROUP),
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip() == "gateway: --interface: interface 'nosuch0' does not exist"


def test_without_capabilities_says_what_is_needed(link: Pair) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    r = subprocess.run(
        link.run_in(link.feed_ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-m", "gateway",
                    "feed", "--source", "afxdp", "--interface", link.feed_if, "--group", GROUP),
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAP_NET_ADMIN" in lines[0] and "CAP_BPF" in lines[0], r.stderr


def test_one_socket_per_queue_on_a_two_queue_veth(capture: tuple[Path, Any],
                                                  tmp_path: Path) -> None:
    """Line A leaves on TX queue 0 and line B on queue 1 (XPS, each
    publisher pinned to its CPU), so they arrive on RX queues 0 and 1 of
    the gateway's veth: one socket per queue must bring both."""
    _built()
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two CPUs to put the lines on two queues")
    cap, ref = capture
    a, b = "239.255.80.1:35301", "239.255.80.2:35302"
    with veth_pair("gwq", 195, queues=2) as two:
        for queue, cpus in ((0, "1"), (1, "2")):
            subprocess.run(two.run_in(two.pub_ns, "sh", "-c", f"echo {cpus} > "
                                      f"/sys/class/net/{two.pub_if}/queues/tx-{queue}/xps_cpus"),
                           check=True, capture_output=True)
        out = tmp_path / "feed.json"
        # The two publishers start apart: wait for the other line, however late.
        feed = start_feed(two, out, "--group", a, "--line-b", b, "--xdp-mode", "native",
                          "--queue", "0", "--queue", "1", "--grace-ms", "20000",
                          "--give-up-s", "30")
        pubs = [subprocess.Popen(
            ["taskset", "-c", cpu, *two.gateway(two.pub_ns, "sim", "publish", "--capture",
                                                str(cap), "--group", group, "--interface-address",
                                                two.pub_ip, "--speed", "40000", "--faults-a",
                                                faults)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Each line lacks what the other has: the books need both queues.
            for cpu, group, faults in (("0", a, "burst=3000-6000"), ("1", b, "burst=12000-15000"))]
        for pub in pubs:
            assert pub.wait(120) == 0
        rep = finish(feed)
    assert rep["ended"] and rep["decoder"]["messages"] == MESSAGES
    lines = {ln["line"]: ln["packets"] for ln in rep["lines"]}
    assert lines.get(0, 0) > 0 and lines.get(1, 0) > 0  # both sockets delivered
    assert rep["source"]["nic_drops"] == 0
    assert json.loads(out.read_text())["books"] == ref
