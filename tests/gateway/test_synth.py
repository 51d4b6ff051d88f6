"""The synthetic ITCH 5.0 session generator and its captures."""

from __future__ import annotations

import gzip
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from gateway import synth
from gateway.synth import generate_messages, minimum_messages, write_synth
from protocols import itch50, moldudp64
from protocols.layout import Kind

try:  # the reference readers live beside the writer tests
    from tests.gateway.test_capture_write import (
        parse_frame,
        read_binaryfile,
        read_pcap,
        read_pcapng,
    )
except ImportError:  # tests/ is not a package: pytest put this folder on sys.path
    from test_capture_write import (  # type: ignore[no-redef]
        parse_frame,
        read_binaryfile,
        read_pcap,
        read_pcapng,
    )

ALL_TYPES = {code.decode() for code in itch50.MESSAGES}


@pytest.fixture(scope="module")
def session() -> list[bytes]:
    """A session big enough to hold every message type."""
    return list(generate_messages(20_000, 20, 1))


@pytest.fixture(scope="module")
def decoded(session: list[bytes]) -> list[dict[str, Any]]:
    return [itch50.decode(m) for m in session]


# -- encoders -------------------------------------------------------------------------


def _sample_value(kind: Kind, size: int, i: int) -> Any:
    if kind is Kind.ALPHA:
        return ("ABCDEFGHIJ"[i % 10] * size)[: max(1, size - 1)]  # exercise padding
    if kind is Kind.TIMESTAMP:
        return 0x123456789ABC
    return (0x0102030405060708 + i) % (1 << (8 * size))


@pytest.mark.parametrize("code", sorted(itch50.MESSAGES))
def test_struct_encoder_matches_table_encoder(code: bytes) -> None:
    layout = itch50.MESSAGES[code]
    fields = {f.name: _sample_value(f.kind, f.size, i)
              for i, f in enumerate(layout.fields) if f.name != "message_type"}
    args: list[Any] = [code]
    for f in layout.fields[1:]:
        v = fields[f.name]
        if f.kind is Kind.TIMESTAMP:
            args += [v >> 32, v & 0xFFFFFFFF]
        elif f.kind is Kind.ALPHA:
            args.append(v.encode().ljust(f.size))
        else:
            args.append(v)
    assert synth.PACK[code](*args) == itch50.encode(code, **fields)
    assert synth.compile_layout(layout).size == layout.size


# -- the session ---------------------------------------------------------------------


@pytest.mark.parametrize(("messages", "symbols"), [(26, 10), (27, 10), (100, 1), (1_500, 7),
                                                    (5_000, 300)])
def test_exact_message_count(messages: int, symbols: int) -> None:
    out = list(generate_messages(messages, symbols, 5))
    assert len(out) == messages
    kinds = [chr(m[0]) for m in out]
    assert kinds.count("R") == symbols
    assert kinds[: 2 + 2 * symbols] == ["S", *"R" * symbols, *"H" * symbols, "S"]
    events = [m[11:12] for m in out if m[:1] == b"S"]
    assert events == [b"O", b"S", b"Q", b"M", b"E", b"C"]


def test_too_few_messages_is_a_clear_error() -> None:
    assert minimum_messages(10) == 26
    with pytest.raises(ValueError, match="at least 26"):
        generate_messages(25, 10, 1)  # raised at the call, not on first next()
    with pytest.raises(ValueError, match="symbols"):
        generate_messages(1000, 0, 1)
    with pytest.raises(ValueError, match="symbols"):
        generate_messages(10**6, 70_000, 1)


def test_deterministic_for_a_seed(session: list[bytes]) -> None:
    assert list(generate_messages(20_000, 20, 1)) == session
    other = list(generate_messages(20_000, 20, 2))
    assert other != session and len(other) == len(session)


def test_every_type_appears(session: list[bytes]) -> None:
    assert {chr(m[0]) for m in session} == ALL_TYPES


def test_messages_decode_and_reencode_identically(decoded: list[dict[str, Any]],
                                                  session: list[bytes]) -> None:
    """Lengths match the specification and alpha fields are space padded
    (the table encoder pads with spaces; struct would pad with NULs)."""
    for raw, d in zip(session, decoded, strict=True):
        assert len(raw) == itch50.length_of(raw[0])
        fields = dict(d)
        code = fields.pop("type")
        assert itch50.encode(code, **fields) == raw
        assert b"\x00" not in raw[:1]


def test_preamble_and_system_events(decoded: list[dict[str, Any]]) -> None:
    assert decoded[0] == {"type": "S", "stock_locate": 0, "tracking_number": 0,
                          "timestamp": decoded[0]["timestamp"], "event_code": "O"}
    assert decoded[-1]["type"] == "S" and decoded[-1]["event_code"] == "C"
    directory = [d for d in decoded if d["type"] == "R"]
    assert [d["stock_locate"] for d in directory] == list(range(1, 21))
    names = [d["stock"] for d in directory]
    assert names == sorted(names) and len(set(names)) == 20
    assert all(n.isalpha() and n.isupper() and 2 <= len(n) <= 5 for n in names)
    assert all(d["round_lot_size"] == 100 and d["authenticity"] == "P" for d in directory)
    trading = [d for d in decoded[:50] if d["type"] == "H"]
    assert [(d["stock"], d["trading_state"]) for d in trading] == [(n, "T") for n in names]
    events = {d["event_code"]: d["timestamp"] for d in decoded if d["type"] == "S"}
    hour = 3600 * 10**9
    assert events["O"] < 4 * hour == events["S"]
    assert events["Q"] == 9.5 * hour and events["M"] == 16 * hour
    assert events["E"] >= 20 * hour and events["C"] > events["E"]


def test_timestamps_and_counters_increase(decoded: list[dict[str, Any]]) -> None:
    stamps = [d["timestamp"] for d in decoded]
    assert stamps == sorted(stamps)
    hour = 3600 * 10**9
    body = [d["timestamp"] for d in decoded if d["type"] in "AFDUEX"]
    assert 4 * hour <= body[0] < 5 * hour and 19 * hour < body[-1] <= 20 * hour + 10**9
    market = sum(1 for t in body if 9.5 * hour <= t < 16 * hour)
    assert market > 0.7 * len(body)  # activity concentrates in market hours
    matches = [d["match_number"] for d in decoded if d["type"] in "ECPQ"]
    assert matches == sorted(set(matches))
    refs = [d["order_reference_number"] for d in decoded if d["type"] in "AF"]
    refs += [d["new_order_reference_number"] for d in decoded if d["type"] == "U"]
    assert len(refs) == len(set(refs))
    broken = [d["match_number"] for d in decoded if d["type"] == "B"]
    assert set(broken) <= set(matches)


def replay(decoded: list[dict[str, Any]]) -> dict[int, list[Any]]:
    """A deliberately simple book: every order message must name a live order
    and never take more shares than it has; the book must never cross."""
    orders: dict[int, list[Any]] = {}  # ref -> [locate, side, shares, price]
    levels: dict[tuple[int, str], Counter[int]] = defaultdict(Counter)
    last_ref = 0

    def add(ref: int, locate: int, side: str, shares: int, price: int) -> None:
        nonlocal last_ref
        assert ref > last_ref and shares > 0 and price > 0
        last_ref = ref
        orders[ref] = [locate, side, shares, price]
        levels[locate, side][price] += 1
        bids, asks = levels[locate, "B"], levels[locate, "S"]
        if bids and asks:
            assert max(bids) < min(asks), f"crossed book for locate {locate}"

    def take(ref: int, shares: int) -> None:
        order = orders[ref]  # KeyError: not a live order
        assert 0 < shares <= order[2]
        order[2] -= shares
        if order[2] == 0:
            remove(ref)

    def remove(ref: int) -> list[Any]:
        locate, side, _, price = order = orders.pop(ref)
        levels[locate, side][price] -= 1
        if not levels[locate, side][price]:
            del levels[locate, side][price]
        return order

    for d in decoded:
        t = d["type"]
        if t in "AF":
            add(d["order_reference_number"], d["stock_locate"], d["buy_sell_indicator"],
                d["shares"], d["price"])
        elif t in "EC":
            take(d["order_reference_number"], d["executed_shares"])
        elif t == "X":
            take(d["order_reference_number"], d["cancelled_shares"])
            assert d["order_reference_number"] in orders  # partial: never the whole order
        elif t == "D":
            remove(d["order_reference_number"])
        elif t == "U":
            locate, side, _, _ = remove(d["original_order_reference_number"])
            assert locate == d["stock_locate"]
            add(d["new_order_reference_number"], locate, side, d["shares"], d["price"])
        elif t == "P":
            assert d["order_reference_number"] == 0 and d["shares"] > 0
    return orders


def test_order_flow_is_consistent(decoded: list[dict[str, Any]]) -> None:
    live = replay(decoded)
    counts = Counter(d["type"] for d in decoded)
    assert counts["A"] > counts["D"] > counts["U"] > counts["E"] > counts["X"]
    assert counts["F"] > 0 and counts["C"] > 0 and counts["P"] > 0
    assert 0 < len(live) < counts["A"] + counts["F"]
    # some orders lived long: a good share of the adds is not deleted within 100 messages
    seen: dict[int, int] = {}
    gone_fast = 0
    for i, d in enumerate(decoded):
        if d["type"] in "AF":
            seen[d["order_reference_number"]] = i
        elif d["type"] == "D" and d["order_reference_number"] in seen:
            gone_fast += i - seen[d["order_reference_number"]] < 100
    assert 0.2 * len(seen) < gone_fast < 0.8 * len(seen)


def test_sizes_and_prices_are_plausible(decoded: list[dict[str, Any]]) -> None:
    adds = [d for d in decoded if d["type"] in "AF"]
    shares = [d["shares"] for d in adds]
    round_lots = sum(1 for s in shares if s % 100 == 0 and s <= 500)
    assert round_lots > 0.6 * len(shares)
    assert max(shares) >= 2000 and min(shares) < 100
    assert all(d["price"] % 100 == 0 and d["price"] >= 100 for d in adds)  # whole cents
    by_symbol: dict[int, list[int]] = defaultdict(list)
    for d in adds:
        by_symbol[d["stock_locate"]].append(d["price"])
    moved = sum(1 for p in by_symbol.values() if len(set(p)) > 10)
    assert moved >= len(by_symbol) // 2
    assert {d["attribution"] for d in adds if d["type"] == "F"} <= {
        m.decode() for m in synth._MPIDS}


def test_small_session_still_consistent() -> None:
    small = [itch50.decode(m) for m in generate_messages(900, 3, 11)]
    replay(small)
    assert len(small) == 900


# -- captures ------------------------------------------------------------------------


def _mold_packets(records: list[tuple[int, bytes, int]]) -> list[moldudp64.Packet]:
    out = []
    for _, data, orig in records:
        assert orig == len(data)
        f = parse_frame(data)
        assert f.ip_checksum_ok and f.udp_checksum_ok
        assert (f.src_ip, f.src_port, f.dst_ip, f.dst_port) == ("10.0.0.1", 40000,
                                                                "233.54.12.111", 26477)
        assert f.dst_mac == bytes.fromhex("01005e360c6f")
        assert len(f.payload) <= synth.MAX_PAYLOAD
        out.append(moldudp64.decode_packet(f.payload))
    return out


def _check_mold_stream(packets: list[moldudp64.Packet], messages: list[bytes]) -> None:
    expected_seq = 1
    carried: list[bytes] = []
    for p in packets[:-1]:
        assert p.session == synth.DEFAULT_SESSION
        assert p.sequence == expected_seq
        assert not p.is_end_of_session
        if not p.is_heartbeat:
            carried += p.messages
            expected_seq += p.count
    assert packets[-1].is_end_of_session and packets[-1].sequence == expected_seq
    assert carried == messages
    assert expected_seq == len(messages) + 1


def test_pcap_capture(tmp_path: Path, session: list[bytes]) -> None:
    path = tmp_path / "s.pcap"
    summary = write_synth(path, 20_000, 20, 1)
    raw = path.read_bytes()
    assert summary.bytes == len(raw) and summary.fmt == "pcap"
    header, records = read_pcap(raw)
    assert header["magic"] == 0xA1B23C4D and header["linktype"] == 1
    packets = _mold_packets(records)
    _check_mold_stream(packets, session)
    assert summary.packets == sum(1 for p in packets if p.count not in (0, 0xFFFF))
    assert summary.heartbeats == sum(1 for p in packets if p.is_heartbeat) > 0
    assert summary.datagrams == len(records)
    assert summary.counts == dict(Counter(chr(m[0]) for m in session))
    stamps = [r[0] for r in records]
    assert stamps == sorted(stamps)
    # 2026-11-20 US/Eastern, from 03:00 to 20:05
    assert stamps[0] > synth.CAPTURE_MIDNIGHT_NS + 3 * 3600 * 10**9
    assert stamps[-1] < synth.CAPTURE_MIDNIGHT_NS + 21 * 3600 * 10**9
    # NASDAQ fills packets: most are close to the limit
    data_sizes = [len(p.messages) for p in packets if p.count not in (0, 0xFFFF)]
    assert sum(data_sizes) / len(data_sizes) > 25
    # the same seed writes the same bytes, another seed other bytes
    write_synth(tmp_path / "again.pcap", 20_000, 20, 1)
    assert (tmp_path / "again.pcap").read_bytes() == raw
    write_synth(tmp_path / "other.pcap", 20_000, 20, 2)
    assert (tmp_path / "other.pcap").read_bytes() != raw


def test_pcapng_capture_with_vlan(tmp_path: Path) -> None:
    path = tmp_path / "s.pcapng"
    summary = write_synth(path, 3_000, 4, 9, fmt="pcapng", vlan=100)
    info, records = read_pcapng(path.read_bytes())
    assert info["tsresol"] == 9 and info["linktype"] == 1
    assert all(parse_frame(r[1]).vlan == 100 for r in records)
    _check_mold_stream(_mold_packets(records), list(generate_messages(3_000, 4, 9)))
    assert summary.datagrams == len(records)


@pytest.mark.parametrize("name", ["s.itch", "s.itch.gz"])
def test_binaryfile_capture(tmp_path: Path, name: str) -> None:
    summary = write_synth(tmp_path / name, 4_000, 6, 4, fmt="binaryfile")
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert read_binaryfile(raw) == list(generate_messages(4_000, 6, 4))
    assert summary.packets == summary.heartbeats == summary.end_of_session == 0
    assert sum(summary.counts.values()) == 4_000


def test_scapy_reads_the_capture(tmp_path: Path) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    path = tmp_path / "s.pcap"
    write_synth(path, 2_000, 3, 1)
    packets = scapy_all.rdpcap(str(path))
    payloads = [bytes(p[scapy_all.UDP].payload) for p in packets]
    decoded = [moldudp64.decode_packet(p) for p in payloads]
    _check_mold_stream(decoded, list(generate_messages(2_000, 3, 1)))
    for p in packets:
        assert p[scapy_all.IP].dst == "233.54.12.111" and p[scapy_all.UDP].sport == 40000


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        write_synth(tmp_path / "x", 1000, 1, 1, fmt="erf")
    with pytest.raises(ValueError, match="session"):
        write_synth(tmp_path / "x", 1000, 1, 1, session="short")
    with pytest.raises(ValueError, match="at least"):
        write_synth(tmp_path / "x", 10, 10, 1)


def test_describe_mentions_the_counts(tmp_path: Path) -> None:
    text = write_synth(tmp_path / "d.pcap", 1000, 2, 1).describe()
    assert "1000 messages" in text and "A=" in text and "packets" in text


CAPTURES = Path(__file__).resolve().parents[2] / "captures"


@pytest.mark.parametrize(("name", "kwargs"), [
    ("synth-small.pcap", {"messages": 20_000, "symbols": 20, "seed": 1, "fmt": "pcap"}),
    ("synth-small.itch", {"messages": 20_000, "symbols": 20, "seed": 1, "fmt": "binaryfile"}),
    ("synth-vlan.pcapng", {"messages": 5_000, "symbols": 5, "seed": 2, "fmt": "pcapng",
                           "vlan": 100}),
])
def test_sample_captures_are_what_captures_readme_says(tmp_path: Path, name: str,
                                                       kwargs: dict[str, Any]) -> None:
    sample = CAPTURES / name
    if not sample.exists():
        pytest.skip(f"{sample} is not in this checkout")
    write_synth(tmp_path / name, **kwargs)
    assert (tmp_path / name).read_bytes() == sample.read_bytes()
    assert sample.stat().st_size < 1_500_000


@pytest.mark.slow
def test_200k_messages(tmp_path: Path) -> None:
    start = time.perf_counter()
    summary = write_synth(tmp_path / "big.pcap", 200_000, 100, 3)
    elapsed = time.perf_counter() - start
    assert sum(summary.counts.values()) == 200_000
    assert set(summary.counts) == ALL_TYPES
    print(f"200k messages in {elapsed:.2f} s ({200_000 / elapsed:,.0f} msg/s)")
