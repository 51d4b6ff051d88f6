"""The simulator's message store, publisher (on loopback multicast), stamps and CLI."""

from __future__ import annotations

import argparse
import itertools
import os
import random
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from gateway import synth
from gateway.capture_write import PcapWriter, UdpFramer
from gateway.errors import ConfigError, InputError
from gateway.sim import cli as sim_cli
from gateway.sim.faults import Datagram, LineFaultPlan, LineFaults
from gateway.sim.messages import MessageStore, group_messages
from gateway.sim.publisher import Line, Pacing, Publisher, due_offsets, merge_schedule
from gateway.sim.stamps import STAMP_DTYPE, StampWriter, read_stamps
from protocols import moldudp64

MS = 1_000_000
_next = itertools.count()


def endpoint() -> tuple[str, int]:
    """A multicast group and port no other test (or concurrent run) uses."""
    n = next(_next)
    pid = os.getpid()
    return f"239.255.{pid % 251 + 1}.{n % 250 + 1}", 20000 + (pid * 31 + n) % 30000


class Receiver:
    """Joins a group on loopback and decodes every datagram until End of Session."""

    def __init__(self, group: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((group, port))
        mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(0.2)
        self.packets: list[moldudp64.Packet] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.packets.append(moldudp64.decode_packet(self.sock.recv(65536)))
            except TimeoutError:
                continue

    def wait_end(self, eos: int = 3, timeout: float = 30) -> Receiver:
        for _ in range(int(timeout / 0.05)):
            if sum(p.is_end_of_session for p in self.packets) >= eos:
                break
            threading.Event().wait(0.05)
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return self

    def messages(self) -> dict[int, list[bytes]]:
        """Every message received, by sequence (a list, to see duplicates)."""
        out: dict[int, list[bytes]] = {}
        for p in self.packets:
            for i, m in enumerate(p.messages):
                out.setdefault(p.sequence + i, []).append(m)
        return out


@pytest.fixture(scope="module")
def store() -> MessageStore:
    return MessageStore.from_synth(3000, 10, 5)


# ---- the message store ---------------------------------------------------------------


def test_synth_store_and_packing(store: MessageStore) -> None:
    assert store.messages == list(synth.generate_messages(3000, 10, 5))
    assert (store.first_seq, store.next_seq, store.session) == (1, 3001, synth.DEFAULT_SESSION)
    for max_payload, max_messages in ((1400, None), (200, None), (1400, 7)):
        groups = store.packets(max_payload, max_messages)
        seq = 1
        for first, msgs in groups:
            assert first == seq and msgs
            size = moldudp64.HEADER_SIZE + sum(2 + len(m) for m in msgs)
            assert size <= max_payload and len(msgs) <= (max_messages or 65534)
            seq += len(msgs)
        assert [m for _, g in groups for m in g] == store.messages
    assert store.get(2999, 10) == (2999, store.messages[2998:])
    assert store.get(3001, 5) == (3001, [])


def test_packing_limits() -> None:
    assert group_messages(5, [b"x" * 100, b"y"], max_payload=50) == [(5, [b"x" * 100]),
                                                                     (6, [b"y"])]
    with pytest.raises(ConfigError) as e:
        group_messages(1, [b"x"], max_payload=22)
    assert e.value.key == "max_payload"
    with pytest.raises(ConfigError):
        MessageStore("TOO-LONG-NAME", [])


def _framer(group: str, vlan: int | None = None) -> UdpFramer:
    return UdpFramer("10.0.0.1", group, 40000, 26477, vlan=vlan)


@pytest.mark.parametrize(("fmt", "vlan"), [("pcap", None), ("pcapng", 100)])
def test_store_from_capture(tmp_path: Path, fmt: str, vlan: int | None) -> None:
    path = tmp_path / f"s.{fmt}"
    synth.write_synth(path, messages=2000, symbols=5, seed=3, fmt=fmt, vlan=vlan)
    s = MessageStore.from_capture(path)
    assert s.messages == list(synth.generate_messages(2000, 5, 3))
    assert s.session == synth.DEFAULT_SESSION and s.first_seq == 1
    assert s.times_ns is not None and s.times_ns == sorted(s.times_ns)
    assert s.times_ns[0] > synth.CAPTURE_MIDNIGHT_NS


def test_store_from_binaryfile(tmp_path: Path) -> None:
    path = tmp_path / "s.itch"
    synth.write_synth(path, messages=1000, symbols=5, seed=4, fmt="binaryfile")
    s = MessageStore.from_capture(path)
    assert s.messages == list(synth.generate_messages(1000, 5, 4)) and s.times_ns is None


def test_store_from_capture_with_both_lines_keeps_each_message_once(tmp_path: Path) -> None:
    msgs = [b"m%03d" % i for i in range(1, 101)]
    a, b = _framer("233.1.1.1"), _framer("233.1.1.2", vlan=7)
    path = tmp_path / "ab.pcap"
    with PcapWriter(path) as w:
        for k, pkt in enumerate(moldudp64.pack_messages("SESS", 1, msgs, 60)):
            w.write_frame(1000 + k, a.frame(pkt))
        w.write_frame(5000, a.frame(moldudp64.encode_heartbeat("SESS", 101)))
        for k, pkt in enumerate(moldudp64.pack_messages("SESS", 1, msgs, 120)):
            w.write_frame(900 + k, b.frame(pkt))  # line B first for some
        w.write_frame(6000, a.frame(b"not moldudp64"))
    s = MessageStore.from_capture(path)
    assert s.messages == msgs and s.session == "SESS"
    assert s.capture_stats is not None and s.capture_stats.duplicate_messages == 100
    assert s.capture_stats.malformed == 1
    assert s.times_ns is not None and len(s.times_ns) == 100


def test_store_from_capture_refusals(tmp_path: Path) -> None:
    msgs = [b"m%03d" % i for i in range(1, 31)]
    f = _framer("233.1.1.1")
    holed = tmp_path / "holed.pcap"
    with PcapWriter(holed) as w:
        for k, pkt in enumerate(moldudp64.pack_messages("S", 1, msgs[:10], 1400)
                                + moldudp64.pack_messages("S", 21, msgs[20:], 1400)):
            w.write_frame(k, f.frame(pkt))
    with pytest.raises(InputError, match=r"misses sequences 11\.\.20"):
        MessageStore.from_capture(holed)
    two = tmp_path / "two.pcap"
    with PcapWriter(two) as w:
        w.write_frame(1, f.frame(moldudp64.encode_packet("ONE", 1, msgs[:3])))
        w.write_frame(2, f.frame(moldudp64.encode_packet("TWO", 5, msgs[:2])))
    with pytest.raises(InputError, match="ONE, TWO"):
        MessageStore.from_capture(two)
    s = MessageStore.from_capture(two, session="TWO")
    assert (s.first_seq, s.messages) == (5, msgs[:2])


# ---- pacing (pure) ----------------------------------------------------------------------


def test_pacing_and_schedule() -> None:
    groups = [(1, [b"a"] * 10), (11, [b"b"] * 30), (41, [b"c"])]
    assert due_offsets(groups, Pacing("max"), None) == [0, 0, 0]
    assert due_offsets(groups, Pacing.parse("1000"), None) == [0, 10 * MS, 40 * MS]
    times = [5_000 * MS, 5_100 * MS, 5_400 * MS]
    assert due_offsets(groups, Pacing.parse("recorded"), times) == [0, 100 * MS, 400 * MS]
    assert due_offsets(groups, Pacing.parse("recorded:4"), times) == [0, 25 * MS, 100 * MS]
    with pytest.raises(ConfigError, match="recorded pacing needs capture times"):
        due_offsets(groups, Pacing("recorded"), None)
    for bad in ("fast", "-5", "0", "recorded:0", "max:2"):
        with pytest.raises(ConfigError) as e:
            Pacing.parse(bad)
        assert e.value.key == "--speed"
    assert merge_schedule([[0, 0], [0, 0]]) == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1)]
    assert merge_schedule([[0, 5], [2]]) == [(0, 0, 0), (2, 0, 1), (5, 1, 0)]


def test_recorded_times_of_repacked_packets() -> None:
    s = MessageStore("S", [b"a", b"b", b"c"], times_ns=[30, 10, 20])
    assert s.packet_times([(1, [b"a", b"b"]), (3, [b"c"])]) == [30, 30]  # never earlier


# ---- publishing on loopback ---------------------------------------------------------------


def test_two_lines_packed_differently_carry_every_message_once(
    store: MessageStore, tmp_path: Path
) -> None:
    (ga, pa), (gb, pb) = endpoint(), endpoint()
    ra, rb = Receiver(ga, pa), Receiver(gb, pb)
    stamps = tmp_path / "stamps.bin"
    pub = Publisher(store, [Line(ga, pa), Line(gb, pb, max_payload=300, max_messages=5)],
                    pacing=Pacing("rate", rate=100_000), stamps=stamps)
    pub.start()
    assert pub.join(timeout=60)
    ra.wait_end(), rb.wait_end()
    for r in (ra, rb):
        got = r.messages()
        assert sorted(got) == list(range(1, 3001))
        assert all(got[s] == [store.messages[s - 1]] for s in got)  # once, identical
        beats = [p for p in r.packets if p.is_heartbeat]
        ends = [p for p in r.packets if p.is_end_of_session]
        assert beats and beats[-1].sequence == 3001
        assert [p.sequence for p in ends] == [3001] * 3
        assert r.packets[-1].is_end_of_session
    assert len(rb.packets) > len(ra.packets)  # B packs smaller
    ca, cb = pub.counters["A"], pub.counters["B"]
    assert (ca.messages, cb.messages) == (3000, 3000)
    assert ca.packets == sum(1 for p in ra.packets if p.messages)
    assert cb.packets == sum(1 for p in rb.packets if p.messages)
    # the stamps file: one record per datagram sent, in send order per line
    recs = read_stamps(stamps)
    for li, (c, r) in enumerate(((ca, ra), (cb, rb))):
        mine = recs[recs["line"] == li]
        assert len(mine) == c.packets + c.heartbeats + c.end_of_session == len(r.packets)
        assert np.all(np.diff(mine["send_ns"]) >= 0)
        assert [(int(x["first_seq"]), int(x["count"])) for x in mine] == [
            (p.sequence, p.count) for p in r.packets]


def test_drop_faults_lose_exactly_the_planned_packets(store: MessageStore) -> None:
    (ga, pa), (gb, pb) = endpoint(), endpoint()
    ra, rb = Receiver(ga, pa), Receiver(gb, pb)
    plan_a = LineFaultPlan.parse("drop=0.1,burst=500-999,dup=0.05,seed=3")
    plan_b = LineFaultPlan.parse("stop=2000+5,reorder=0.1:2,seed=4")
    lines = [Line(ga, pa, faults=plan_a), Line(gb, pb, max_payload=500, faults=plan_b)]
    pub = Publisher(store, lines, pacing=Pacing("rate", rate=100_000))
    pub.run()
    ra.wait_end(), rb.wait_end()
    for line, r in zip(pub.lines, (ra, rb), strict=True):
        # replay the same plan offline: the publisher must have sent exactly that
        offline = LineFaults(line.faults)
        expected: list[tuple[int, int]] = []
        for seq, msgs in store.packets(line.max_payload):
            d = Datagram(seq, len(msgs), b"")
            expected += [(x.first_seq, x.count) for x in offline.decide(d, 0)]
        expected += [(x.first_seq, x.count) for x in offline.flush()]
        assert [(p.sequence, p.count) for p in r.packets if p.messages] == expected
        assert vars(pub.counters[line.name].faults) == vars(offline.counters)
    assert pub.counters["A"].faults.dropped > 10 and pub.counters["A"].faults.duplicated > 0
    assert not set(range(500, 1000)) & set(ra.messages())
    # five packets silenced, plus any held-back packet that fell due during the stop
    assert pub.counters["B"].faults.stopped >= 5 and pub.counters["B"].faults.reordered > 0


def _draws(seed: int, n: int) -> list[tuple[float, float, float]]:
    """A line plan's documented draws: three per packet (drop, reorder, dup)."""
    rng = random.Random(seed)
    return [(rng.random(), rng.random(), rng.random()) for _ in range(n)]


def test_reordered_and_duplicated_lines_still_deliver_every_message(
    store: MessageStore,
) -> None:
    g, p = endpoint()
    r = Receiver(g, p)
    # a seed whose plan holds back the last packet, which then leaves only at the end
    n = len(store.packets(400))
    seed = next(k for k in itertools.count() if _draws(k, n)[-1][1] < 0.5)
    plan = LineFaultPlan.parse(f"reorder=0.5:3,dup=0.2,seed={seed}")
    line = Line(g, p, max_payload=400, faults=plan)
    pub = Publisher(store, [line], pacing=Pacing("rate", rate=100_000))
    pub.run()
    r.wait_end()
    got = r.messages()
    assert sorted(got) == list(range(1, 3001))
    assert all(set(got[s]) == {store.messages[s - 1]} and len(got[s]) <= 2 for s in got)
    c = pub.counters["A"]
    assert c.faults.reordered > 0 and c.faults.duplicated > 0
    assert c.messages == sum(len(v) for v in got.values())
    data = [pk.sequence for pk in r.packets if pk.messages]
    assert data != sorted(data)


def test_heartbeats_while_idle(tmp_path: Path) -> None:
    g, p = endpoint()
    r = Receiver(g, p)
    msgs = [b"m%02d" % i for i in range(20)]
    times = [0] * 10 + [400 * MS] * 10  # 0.4 s of silence in the middle
    assert [seq for seq, _ in s_groups(msgs, 70)] == [1, 11]
    s = MessageStore("HB", msgs, times_ns=times)
    pub = Publisher(s, [Line(g, p, max_payload=70)], pacing=Pacing("recorded"),
                    heartbeat_ns=50 * MS)
    pub.run()
    r.wait_end()
    seqs = [(pk.sequence, pk.count) for pk in r.packets]
    first_b = next(i for i, (q, n) in enumerate(seqs) if q >= 11 and 0 < n < 0xFFFF)
    assert (11, 0) in seqs[:first_b]  # heartbeats announce the next sequence in the gap
    assert pub.counters["A"].heartbeats >= 2


def s_groups(msgs: list[bytes], max_payload: int) -> list[tuple[int, list[bytes]]]:
    return group_messages(1, msgs, max_payload)


def test_stop_ends_a_slow_run_without_closing_packets(store: MessageStore) -> None:
    g, p = endpoint()
    pub = Publisher(store, [Line(g, p)], pacing=Pacing("rate", rate=100))
    pub.start()
    assert not pub.join(timeout=0.3)
    pub.stop()
    assert pub.join(timeout=10)
    assert pub.counters["A"].end_of_session == 0 and pub.counters["A"].messages < 3000


def test_bad_interface_address_is_a_config_error(store: MessageStore) -> None:
    g, p = endpoint()
    pub = Publisher(store, [Line(g, p)], interface_address="not-an-ip")
    with pytest.raises(ConfigError) as e:
        pub.run()
    assert e.value.key == "--interface-address"


# ---- stamps -------------------------------------------------------------------------------


def test_stamp_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    with StampWriter(path, buffer_records=3) as w:
        for k in range(7):
            w.record(k % 2, 10 + k, k, 1_000 + k)
    recs = read_stamps(path)
    assert recs.dtype == STAMP_DTYPE and STAMP_DTYPE.itemsize == 19
    assert recs["first_seq"].tolist() == list(range(10, 17))
    raw = path.read_bytes()
    assert raw[:8] == b"GWSTAMP1" and len(raw) == 16 + 7 * 19
    assert raw[16:35] == bytes([0]) + (10).to_bytes(8, "little") + (0).to_bytes(2, "little") \
        + (1000).to_bytes(8, "little")
    (tmp_path / "bad.bin").write_bytes(b"nope")
    with pytest.raises(InputError, match="not a send-stamp file"):
        read_stamps(tmp_path / "bad.bin")


# ---- the command line -------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gateway")
    sim_cli.add_parser(p.add_subparsers(dest="cmd", required=True))
    return p.parse_args(["sim", "publish", *argv])


def test_cli_publishes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ga, pa), (gb, pb) = endpoint(), endpoint()
    ra, rb = Receiver(ga, pa), Receiver(gb, pb)
    stamps = tmp_path / "st.bin"
    args = parse(["--synth", "500", "--symbols", "5", "--group", f"{ga}:{pa}",
                  "--line-b", f"{gb}:{pb}", "--speed", "50000", "--faults-b", "burst=1-100",
                  "--max-payload-b", "300", "--retransmit", "127.0.0.1:0",
                  "--retransmit-faults", "delay=1ms", "--stamps", str(stamps)])
    assert args.func(args) == 0
    ra.wait_end(), rb.wait_end()
    out = capsys.readouterr().out
    assert "publishing 500 messages of session 000000001A (1..500)" in out
    assert f"line A {ga}:{pa}: packets=" in out and "messages=500" in out
    assert "line B" in out and "dropped=" in out and "retransmit 127.0.0.1:" in out
    assert sorted(ra.messages()) == list(range(1, 501))
    assert min(rb.messages()) > 100
    assert f"stamps {stamps}: {len(read_stamps(stamps))} records" in out


@pytest.mark.parametrize(("argv", "key"), [
    (["--synth", "500", "--group", "239.1.1.1"], "--group"),
    (["--synth", "500", "--group", "239.1.1.1:99999"], "--group"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--faults-b", "drop=0.1"], "--faults-b"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--faults-a", "drop=x"], "drop"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--speed", "warp"], "--speed"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--linger", "2"], "--linger"),
    (["--synth", "5", "--group", "239.1.1.1:5000"], "--synth"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--session", "ELEVEN-CHAR"], "--session"),
    (["--synth", "500", "--group", "239.1.1.1:5000", "--retransmit", "x"], "--retransmit"),
])
def test_cli_errors_name_the_option(argv: list[str], key: str) -> None:
    args = parse(argv)
    with pytest.raises(ConfigError) as e:
        args.func(args)
    assert e.value.key == key
