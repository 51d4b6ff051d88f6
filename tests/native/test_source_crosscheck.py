"""Hypothesis cross-checks of the file sources.

* Random and mutated frames written to a classic pcap: the mmap path and
  libpcap agree on every record and counter, with and without a filter
  (the per-VLAN-depth filter programs included).
* Random BinaryFILE contents: the source frames exactly what a plain Python
  model of the framing rules says (spec length for zero prefixes, prefix
  otherwise, stop at a zero prefix before an unknown type, a partial record
  at the end is ``truncated_record``), plain and gzip.
"""

from __future__ import annotations

import random
from pathlib import Path

from _frames import (
    TYPES,
    ethernet,
    hyp,
    ipv4_packet,
    mold_packet,
    pcap_bytes,
    read_all,
    sample_message,
    spec_len,
    stats_key,
    udp_frame,
    udp_segment,
    write,
)
from hypothesis import given
from hypothesis import strategies as st

from protocols import itch50

FILE_SETTINGS = hyp(60)


@st.composite
def frame_list(draw: st.DrawFn) -> list[bytes]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    out = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["good", "port", "tcp", "mutated", "noise"]))
        tags = [rng.randrange(4096) for _ in range(draw(st.integers(0, 3)))]
        msgs = [sample_message(rng.choice(TYPES), rng.randrange(999)) for _ in range(3)]
        payload = mold_packet(msgs, rng.randrange(1, 30))
        if kind == "good":
            fr = udp_frame(payload, vlans=tags)
        elif kind == "port":
            fr = udp_frame(payload, vlans=tags, dport=rng.randrange(65536))
        elif kind == "tcp":
            fr = ethernet(ipv4_packet(udp_segment(payload), proto=6), vlans=tags)
        elif kind == "mutated":
            b = bytearray(udp_frame(payload, vlans=tags))
            for _ in range(3):
                b[rng.randrange(min(len(b), 60))] = rng.randrange(256)
            fr = bytes(b[: rng.randrange(len(b) + 1)])
        else:
            fr = draw(st.binary(max_size=80))
        out.append(fr)
    return out


@FILE_SETTINGS
@given(frames=frame_list(), flt=st.sampled_from([None, "udp and dst port 26477", "vlan",
                                                  "tcp or arp", "udp[8:2] > 0"]))
def test_mmap_and_libpcap_agree(tmp_path: Path, frames: list[bytes], flt: str | None) -> None:
    ts = [1_500_000_000_000_000_000 + 7 * i for i in range(len(frames))]
    path = write(tmp_path / "x.pcap", pcap_bytes(frames, ts))
    a, sa = read_all(path, filter=flt)
    b, sb = read_all(path, filter=flt, force_libpcap=True)
    assert a.records.tobytes() == b.records.tobytes()
    assert stats_key(a.stats) == stats_key(b.stats)
    ia, ib = sa.info(), sb.info()
    assert (ia.frames, ia.bytes, ia.reasons) == (ib.frames, ib.bytes, ib.reasons)
    assert ia.frames + ia.reasons.get("filtered", 0) == len(frames)


# ------------------------------------------------------------ BinaryFILE


def model_binfile(data: bytes) -> tuple[list[bytes], dict[str, int]]:
    """The framing rules, plainly: (frames handed out, source reasons)."""
    frames: list[bytes] = []
    reasons: dict[str, int] = {}

    def bump(k: str) -> None:
        reasons[k] = reasons.get(k, 0) + 1

    pos = 0
    while len(data) - pos >= 3:
        prefix = int.from_bytes(data[pos : pos + 2], "big")
        code = data[pos + 2 : pos + 3]
        spec = itch50.MESSAGES[code].size if code in itch50.MESSAGES else 0
        if prefix == 0 and not spec:
            bump("binfile_unframeable")
            return frames, reasons
        mlen = prefix or spec
        if len(data) - pos - 2 < mlen:
            break
        if prefix == 0:
            bump("binfile_zero_length")
        elif spec and prefix != spec:
            bump("binfile_length_mismatch")
        frames.append(data[pos + 2 : pos + 2 + mlen])
        pos += 2 + mlen
    if pos < len(data):
        bump("truncated_record")
    return frames, reasons


@st.composite
def binfile_contents(draw: st.DrawFn) -> bytes:
    parts = [b"\x00\x00" + sample_message("S")]  # a recognisable start
    for _ in range(draw(st.integers(0, 12))):
        code = draw(st.sampled_from([*TYPES, "Z", "\x00"]))
        body_len = spec_len(code) - 1 if code in TYPES else draw(st.integers(0, 40))
        msg = code.encode("latin-1") + draw(st.binary(min_size=body_len, max_size=body_len))
        choice = draw(st.sampled_from(["real", "real", "zero", "other"]))
        if choice == "real":
            prefix = len(msg)
        elif choice == "zero":
            prefix = 0
        else:
            prefix = draw(st.integers(1, 60))
            msg = (msg + bytes(60))[:prefix]
        parts.append(prefix.to_bytes(2, "big") + msg)
    data = b"".join(parts)
    return data[: draw(st.integers(3, len(data)))]


@FILE_SETTINGS
@given(data=binfile_contents(), gz=st.booleans())
def test_binaryfile_framing_matches_a_model(tmp_path: Path, data: bytes, gz: bool) -> None:
    frames, reasons = model_binfile(data)
    res, src = read_all(write(tmp_path / ("b.itch.gz" if gz else "b.itch"), data, gz=gz))
    info = src.info()
    assert info.reasons == reasons
    assert info.frames == res.stats.frames == len(frames)
    assert info.bytes == sum(len(f) for f in frames)
    assert res.stats.message_bytes == sum(
        len(f) for f in frames
        if f and f[:1] in itch50.MESSAGES and len(f) >= spec_len(f[:1].decode("latin-1"))
    )
    decoded = [f for f in frames if f[:1] in itch50.MESSAGES
               and len(f) >= spec_len(f[:1].decode("latin-1"))]
    assert res.dicts(with_sequence=False) == [itch50.decode(f) for f in decoded]
