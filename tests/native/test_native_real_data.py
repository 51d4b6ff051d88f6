"""Real data from ../shared/data (see its SOURCES.md) through the C path.

* Real NASDAQ captures (ns pcap, 802.1Q tags): every file decodes to the
  same field values as the reference decoder applied to UDP payloads that
  this test digs out of the file itself (its own pcap reader and frame
  walker), through the mmap path and through libpcap.  The anonymised
  captures of 2023-08-22 repeat session and sequence zero in every packet,
  so on one line only the first packet is new and the rest are counted as
  duplicates; decoded one frame at a time, every packet matches.  Their
  IPv4 checksums were not recomputed: with verification every frame is
  ``ip_checksum``.
* The RITCH BinaryFILE (all prefixes zero): exact per-type counts, every
  message zero-length-prefixed, every field equal to the reference's.

(This file is not called test_real_data.py: tests/protocols has one, and
test modules need unique basenames in this layout.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from _frames import (
    expected_from_packets,
    read_all,
    read_pcap_frames,
    run_frames,
    walk_frame,
)

from protocols import itch50
from protocols import moldudp64 as mold

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ANON = "Nasdaq.Equities.TotalView.Itch.v5.0.20230822"
REAL = (
    sorted(str(p.relative_to(DATA)) for p in DATA.glob("nasdaq-real/**/*.pcap"))
    if DATA.is_dir() else []
)
RITCH = "itch/ritch_ex20101224.TEST_ITCH_50"
RITCH_COUNTS = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45,
                "D": 1745, "U": 12, "P": 5000}


def new_only(payloads: list[bytes]) -> list[dict]:
    """Reference decode keeping only messages not seen before on the line
    (per session, a sequence below the next expected one is a duplicate)."""
    out, expected = [], {}
    for p in payloads:
        pkt = mold.decode_packet(p)
        nxt = expected.get(pkt.session, pkt.sequence)
        for d in expected_from_packets([p]):
            if d["sequence"] >= nxt:
                out.append(d)
        expected[pkt.session] = max(nxt, pkt.sequence + len(pkt.messages))
    return out


def test_all_real_captures_are_present(shared_data: Path) -> None:
    assert len(REAL) == 23
    assert sum(ANON in r for r in REAL) == 15


@pytest.mark.parametrize("force_libpcap", [False, True])
@pytest.mark.parametrize("rel", REAL or ["<shared data absent>"])
def test_real_capture_matches_reference(shared_data: Path, rel: str,
                                        force_libpcap: bool) -> None:
    path = shared_data / rel
    records = read_pcap_frames(path.read_bytes())
    payloads = [walk_frame(frame) for _, frame in records]
    assert all(p is not None for p in payloads)
    res, src = read_all(path, force_libpcap=force_libpcap)
    assert res.dicts() == new_only(payloads)
    st = res.stats
    assert st.frames == st.udp_packets == st.mold_packets == len(records)
    total = sum(len(mold.decode_packet(p).messages) for p in payloads)
    assert st.messages + st.dup_messages == total
    assert set(st.reasons) <= {"mold_duplicate"}
    assert src.info().reasons == {}
    # Receive times are the file's, in ns since the epoch.
    for i, rx in zip(res.records["frame"].tolist(), res.records["rx_ns"].tolist(), strict=True):
        assert rx == records[i][0]
    assert (st.first_rx_ns, st.last_rx_ns) == (records[0][0], records[-1][0])
    if ANON in rel:
        assert res.decoder.session_names() == ["\x00" * 10]
        assert st.reasons.get("mold_duplicate", 0) == total - len(mold.decode_packet(
            payloads[0]).messages)


@pytest.mark.parametrize("rel", REAL or ["<shared data absent>"])
def test_real_frames_one_at_a_time(shared_data: Path, rel: str) -> None:
    """Each frame on a fresh line: every packet decodes, field for field."""
    for _, frame in read_pcap_frames((shared_data / rel).read_bytes()):
        payload = walk_frame(frame)
        assert payload is not None
        res = run_frames([frame])
        assert res.dicts() == expected_from_packets([payload])
        assert res.stats.reasons == {}


@pytest.mark.parametrize("rel", REAL or ["<shared data absent>"])
def test_real_capture_checksums(shared_data: Path, rel: str) -> None:
    path = shared_data / rel
    n = len(read_pcap_frames(path.read_bytes()))
    res, _ = read_all(path, verify_checksums=True)
    if ANON in rel:
        assert res.stats.reasons == {"ip_checksum": n}
        assert res.stats.messages == 0
    else:
        assert res.stats.reasons == {} and res.stats.messages > 0


def test_ritch_binaryfile(shared_data: Path) -> None:
    path = shared_data / RITCH
    res, src = read_all(path)
    st = res.stats
    assert st.by_type == RITCH_COUNTS
    assert st.messages == len(res.records) == 12_012
    assert src.info().reasons == {"binfile_zero_length": 12_012}
    assert st.reasons == {} and st.frames == 12_012
    assert src.info().kind == "binaryfile" and src.info().bytes_read == path.stat().st_size
    # Every field equals the reference decoder's, read with the spec lengths.
    data = path.read_bytes()
    expected, pos = [], 0
    while pos < len(data):
        assert data[pos : pos + 2] == b"\x00\x00"
        size = itch50.length_of(data[pos + 2])
        expected.append(itch50.decode(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    assert res.dicts(with_sequence=False) == expected
    assert Counter(d["type"] for d in expected) == Counter(RITCH_COUNTS)
