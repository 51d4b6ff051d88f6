"""Kernel bypass against the kernel socket, on a veth pair between two
network namespaces (root), sender and receiver pinned to different cores.

    sudo python -m benchmarks.bench_bypass [--quick]

Contenders, side by side in one run: the kernel UDP source, AF_XDP (the
project's XDP program, native mode, copy: veth has no zero-copy) and DPDK
with its ``net_af_xdp`` PMD on the same veth.

1. **Highest loss-free rate.**  A synthetic capture (rewritten for the veth
   addresses) is replayed with tcpreplay at rising packet rates; the
   receiver is ``gateway feed`` (one line, no recovery).  A rate is
   loss-free when every message was applied and no gap was seen.
2. **CPU per packet** of the receiving process at a fixed rate (its own
   user + system time while feeding, over the packets it received).
3. **Send-to-book latency** at a fixed rate: the simulator publishes with
   send stamps; the receiver reads the clock after each burst and pairs
   every book event with the send time of its sequence -- with and without
   busy polling (AF_XDP: SO_PREFER_BUSY_POLL + SO_BUSY_POLL and spinning;
   the kernel socket and DPDK: spinning instead of sleeping).

Every contender reports the messages it applied; a run that applied fewer
than were sent is marked lossy, so no contender can win by doing less.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import latency as lat
from benchmarks.bench_decode import ensure_capture
from gateway.sim.netns import ROOT, Pair, available, veth_pair

GROUP = ("233.54.12.111", 26477)  # where gateway capture synth sends
SENDER_CPU, RECEIVER_CPU = "0", "1"


def dpdk_args(link: Pair, prefix: str) -> str:
    return (f"-l {RECEIVER_CPU} --no-huge --no-pci --no-shconf --no-telemetry -m 512 "
            f"--file-prefix {prefix} --vdev net_af_xdp0,iface={link.feed_if},start_queue=0")


def source_args(name: str, link: Pair, busy: bool) -> list[str]:
    group = f"{GROUP[0]}:{GROUP[1]}"
    if name == "udp":
        args = ["--source", "udp", "--interface", link.feed_if, "--group", group]
    elif name == "afxdp":
        args = ["--source", "afxdp", "--interface", link.feed_if, "--xdp-mode", "native",
                "--group", group]
    else:
        args = ["--source", "dpdk", "--dpdk-port", "net_af_xdp0", "--group", group,
                "--dpdk-args", dpdk_args(link, f"gwb{os.getpid()}")]
    return [*args, "--busy-poll"] if busy else args


def replay_once(link: Pair, name: str, pcap: Path, pps: int, messages: int,
                packets: int) -> dict[str, Any]:
    """tcpreplay at ``pps`` into a gateway feed; what it received."""
    seconds = packets / pps + 5
    feed = subprocess.Popen(
        ["ip", "netns", "exec", link.feed_ns, "taskset", "-c", RECEIVER_CPU, sys.executable,
         "-m", "gateway", "feed", *source_args(name, link, busy=False), "--json",
         "--duration", f"{seconds:.1f}", "--max-orders", "1000000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    time.sleep(2.0)  # attached, joined (DPDK's EAL takes the longest)
    if feed.poll() is not None:
        raise SystemExit(f"{name}: the feed did not start: {feed.communicate()[1].strip()}")
    sent = subprocess.run(["ip", "netns", "exec", link.pub_ns, "taskset", "-c", SENDER_CPU,
                           "tcpreplay", f"--intf1={link.pub_if}", f"--pps={pps}", str(pcap)],
                          capture_output=True, text=True, timeout=600)
    out, err = feed.communicate(timeout=seconds + 60)
    if feed.returncode != 0:
        raise SystemExit(f"{name}: gateway feed failed: {err.strip()}")
    rep = json.loads(out)
    m = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", sent.stdout)
    frames = rep["source"]["frames"]
    applied = rep["decoder"]["messages"]
    return {"pps_asked": pps, "pps_sent": float(m.group(1)) if m else 0.0,
            "applied": applied, "gaps": rep["decoder"]["gaps"],
            "lossless": applied == messages and rep["decoder"]["gaps"] == 0,
            "frames": frames, "cpu_ns_per_packet": rep["cpu_ns"] / max(frames, 1),
            "drops": rep["source"]["nic_drops"] + rep["source"]["kernel_drops"]}


RECEIVER = """
import sys, json, numpy as np
sys.path.insert(0, {root!r})
from benchmarks import latency as lat
from gateway.book import Books
from gateway.native import Decoder
name, busy, out = {name!r}, {busy!r}, {out!r}
books = Books(max_instruments=2048, max_orders=262_144, max_levels=65_536, event_capacity=1 << 20)
dec = Decoder(books=books, hold=True, join_gap=10_000_000)
wait = 0 if busy else 5
if name == "udp":
    from gateway.live import Endpoint, UdpSource
    src = UdpSource([Endpoint({group!r}, {port}, 0)], interface={ifname!r}, timeout_ms=wait,
                    rcvbuf=16 << 20)
elif name == "afxdp":
    from gateway.afxdp import Feed, XdpSource
    src = XdpSource({ifname!r}, [Feed({group!r}, {port}, 0)], mode="native", busy_poll=busy,
                    timeout_ms=wait)
else:
    from gateway.dpdk import DpdkSource
    src = DpdkSource("net_af_xdp0", {dpdk!r}, timeout_ms=0 if busy else 1)
print("ready", flush=True)
seq, book_t, rx_t = lat.record(dec, books, src, {seconds})
info = src.info()
np.savez(out, seq=seq, book_t=book_t, rx_t=rx_t,
         meta=np.array([dec.stats().messages, info.nic_drops + info.kernel_drops]))
"""


def latency_once(link: Pair, name: str, busy: bool, rate: int, seconds: float) -> dict[str, Any]:
    from gateway.sim.stamps import read_stamps

    with tempfile.TemporaryDirectory() as tmp:
        out, stamps = Path(tmp) / "r.npz", Path(tmp) / "stamps.bin"
        code = RECEIVER.format(root=str(ROOT), name=name, busy=busy, out=str(out),
                               group=GROUP[0], port=GROUP[1], ifname=link.feed_if,
                               dpdk=dpdk_args(link, f"gwl{os.getpid()}"), seconds=seconds + 30)
        rx = subprocess.Popen(["ip", "netns", "exec", link.feed_ns, "taskset", "-c", RECEIVER_CPU,
                               sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        assert rx.stdout is not None
        if rx.stdout.readline().strip() != "ready":
            raise SystemExit(f"{name}: receiver failed: {rx.communicate()[1].strip()}")
        n = int(rate * seconds)
        subprocess.run(["ip", "netns", "exec", link.pub_ns, "taskset", "-c", SENDER_CPU,
                        sys.executable, "-m", "gateway", "sim", "publish", "--synth", str(n),
                        "--symbols", "200", "--group", f"{GROUP[0]}:{GROUP[1]}",
                        "--interface-address", link.pub_ip, "--speed", str(rate),
                        "--stamps", str(stamps)],
                       cwd=ROOT, check=True, capture_output=True, timeout=seconds + 120)
        _, err = rx.communicate(timeout=seconds + 60)
        if rx.returncode != 0:
            raise SystemExit(f"{name}: receiver failed: {err.strip()}")
        r = np.load(out)
        to_book, to_rx = lat.match(read_stamps(stamps), r["seq"], r["book_t"], r["rx_t"])
        return {"messages": int(r["meta"][0]), "sent": n, "drops": int(r["meta"][1]),
                "book": to_book, "rx": to_rx}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5_000_000)
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--rates", default="50000,100000,200000,400000,800000",
                   help="packet rates to sweep, packets/s")
    p.add_argument("--cpu-rate", type=int, default=50_000, help="fixed rate for CPU per packet")
    p.add_argument("--lat-rate", type=int, default=100_000, help="latency: messages/s")
    p.add_argument("--lat-seconds", type=float, default=3.0)
    p.add_argument("--contenders", default="udp,afxdp,dpdk")
    p.add_argument("--quick", action="store_true", help="smoke: small capture, two rates")
    a = p.parse_args(argv)
    if a.quick:
        a.messages, a.symbols, a.rates, a.lat_seconds = 200_000, 50, "20000,80000", 0.5
        a.cpu_rate, a.lat_rate = 20_000, 50_000
    if not available() or shutil.which("tcpreplay") is None:
        print("bench_bypass: needs root, iproute2 and tcpreplay (veth pair between namespaces)")
        return 0 if os.environ.get("CI") != "true" else 1
    names = a.contenders.split(",")
    capture = ensure_capture(ROOT / "bench-data" / f"synth-{a.messages}-{a.symbols}-7.pcap",
                             a.messages, a.symbols, 7)
    with veth_pair("gwb", 197) as link, tempfile.TemporaryDirectory() as tmp:
        pcap = link.rewrite(capture, Path(tmp) / "veth.pcap")
        packets = int(subprocess.run(["capinfos", "-c", "-M", str(pcap)], capture_output=True,
                                     text=True).stdout.split()[-1]) if shutil.which("capinfos") \
            else 0
        packets = packets or a.messages // 40
        print(f"link       veth pair {link.pub_if} -> {link.feed_if} (namespaces), sender on "
              f"cpu {SENDER_CPU}, receiver on cpu {RECEIVER_CPU}; afxdp native mode, copy "
              f"(veth has no zero-copy); dpdk net_af_xdp on the same veth")
        print(f"capture    {capture.name}: {a.messages:,} messages in {packets:,} packets")
        rates = [int(r) for r in a.rates.split(",")]
        print("\n1. loss-free rate (tcpreplay, one line, no recovery)")
        best: dict[str, int] = {}
        for name in names:
            for pps in rates:
                r = replay_once(link, name, pcap, pps, a.messages, packets)
                mark = "loss-free" if r["lossless"] else f"LOST {a.messages - r['applied']:,}"
                print(f"  {name:<6} asked {pps:>9,} pps  sent {r['pps_sent']:>11,.0f} pps  "
                      f"applied {r['applied']:>10,}  gaps {r['gaps']:>5,}  drops {r['drops']:>7,}"
                      f"  cpu {r['cpu_ns_per_packet']:8,.0f} ns/packet  {mark}")
                if not r["lossless"]:
                    break
                best[name] = int(r["pps_sent"] or pps)
        for name in names:
            print(f"  highest loss-free rate, {name:<6}: "
                  + (f"{best[name]:,} pps" if name in best else "none of the rates tried"))
        print(f"\n2. receiver CPU per packet at {a.cpu_rate:,} pps")
        for name in names:
            r = replay_once(link, name, pcap, a.cpu_rate, a.messages, packets)
            print(f"  {name:<6} {r['cpu_ns_per_packet']:9,.0f} ns/packet "
                  f"({r['frames']:,} packets, {'loss-free' if r['lossless'] else 'LOSSY'})")
        print(f"\n3. send-to-book latency at {a.lat_rate:,} messages/s for {a.lat_seconds:g} s "
              f"(simulator with send stamps)")
        for name in names:
            for busy in (False, True):
                r = latency_once(link, name, busy, a.lat_rate, a.lat_seconds)
                how = "busy polling" if busy else "waiting     "
                print(f"  {name:<6} {how}  {r['messages']:,}/{r['sent']:,} messages, "
                      f"drops {r['drops']}")
                print(f"      send -> receive stamp  {lat.pct(r['rx'])}")
                print(f"      send -> book           {lat.pct(r['book'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
