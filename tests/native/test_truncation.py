"""Input split at every byte.

* A frame carrying several messages, cut at every length:
  - the IPv4/UDP lengths still claim the whole datagram: nothing of the
    frame is decoded, and it is counted ``snapped`` when the capture says
    the wire carried more (wire_len > len), else ``bad_ip_header``; cuts
    inside the link or IPv4 header are ``short_frame``;
  - the lengths rewritten to the cut (a consistent but short datagram):
    MoldUDP64 delivers exactly the complete messages in front of the cut and
    counts ``mold_count_overrun`` (cut at or inside a block length) or
    ``mold_length_overrun`` (cut inside a message); under 20 bytes it is
    ``mold_short``.
* A BinaryFILE (real length prefixes, and zero prefixes) cut at every byte:
  complete messages decode exactly, a partial one is ``truncated_record``,
  never an exception (files too short to recognise are an InputError).
* A gzip BinaryFILE cut at every byte: a prefix of the messages, and the
  truncation is reported.
* The same capture read in bursts of 1, 2, 3, 7 and 256 frames gives the
  same records and statistics.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from _frames import (
    ETH,
    MOLD,
    binfile_bytes,
    ethernet,
    expected_from_messages,
    expected_from_packets,
    ipv4_packet,
    l2_size,
    mixed_messages,
    mold_packet,
    pcap_bytes,
    pcapng_bytes,
    read_all,
    run_frames,
    sample_message,
    split_packets,
    stats_key,
    udp_frame,
    udp_segment,
    write,
)

from gateway.errors import InputError
from gateway.native import Decoder, Source
from protocols import itch50

FRAME_MESSAGES = [sample_message(c, i) for i, c in enumerate("SAREP")]
FILE_MESSAGES = [sample_message(c, i) for i, c in enumerate("SRHAFECXDU")]


def block_ends(messages: list[bytes]) -> list[int]:
    """Offset in the MoldUDP64 payload just past each message block."""
    ends, pos = [], 20
    for m in messages:
        pos += 2 + len(m)
        ends.append(pos)
    return ends


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize("vlans", [(), (100,), (100, 200)])
@pytest.mark.parametrize("snapped", [True, False])
def test_frame_cut_with_lengths_claiming_the_whole(vlans: tuple, snapped: bool) -> None:
    full = udp_frame(mold_packet(FRAME_MESSAGES), vlans=vlans)
    headers = l2_size(len(vlans)) + 20
    for k in range(len(full)):
        res = run_frames([full[:k]], ETH, wire_lens=[len(full) if snapped else k])
        want = "short_frame" if k < headers else "snapped" if snapped else "bad_ip_header"
        assert res.stats.reasons == {want: 1}, k
        assert res.stats.messages == 0 and len(res.records) == 0, k
        assert res.stats.udp_packets == 0 and res.decoder.sessions() == [], k
    whole = run_frames([full], ETH)
    assert whole.stats.messages == len(FRAME_MESSAGES) and whole.stats.reasons == {}


def expected_reason(j: int, payload_len: int, ends: list[int]) -> str | None:
    if j < 20:
        return "mold_short"
    if j == payload_len:
        return None
    complete = [e for e in ends if e <= j]
    boundary = complete[-1] if complete else 20
    return "mold_count_overrun" if j - boundary < 2 else "mold_length_overrun"


@pytest.mark.parametrize("link", ["ethernet", "mold"])
def test_mold_payload_cut_with_lengths_rewritten(link: str) -> None:
    payload = mold_packet(FRAME_MESSAGES, seq=500)
    ends = block_ends(FRAME_MESSAGES)
    assert ends[-1] == len(payload)
    for j in range(len(payload) + 1):
        cut = payload[:j]
        if link == "ethernet":
            res = run_frames([udp_frame(cut, vlans=(7,))], ETH, verify_checksums=True)
        else:
            res = run_frames([cut], MOLD)
        complete = [e for e in ends if e <= j]
        want = expected_reason(j, len(payload), ends)
        assert res.stats.reasons == ({want: 1} if want else {}), j
        expect = expected_from_packets([mold_packet(FRAME_MESSAGES[: len(complete)], 500)]) \
            if complete else []
        assert res.dicts() == expect, j
        assert res.stats.messages == len(complete), j
        if j >= 20:
            (s,) = res.decoder.sessions()
            # Only framed messages advance the line.
            assert s.next_seq == 500 + len(complete), j


def test_cut_inside_the_udp_header_with_ip_length_rewritten() -> None:
    """IPv4 total length shrunk with the frame: the UDP header does not fit."""
    seg = udp_segment(mold_packet(FRAME_MESSAGES))
    for k in range(8):
        frame = ethernet(ipv4_packet(seg[:k]))
        res = run_frames([frame])
        assert res.stats.reasons == {"short_frame": 1}, k


# ------------------------------------------------------------- BinaryFILE


def file_ends(messages: list[bytes]) -> list[int]:
    ends, pos = [], 0
    for m in messages:
        pos += 2 + len(m)
        ends.append(pos)
    return ends


@pytest.mark.parametrize("zero_prefix", [False, True])
def test_binaryfile_cut_at_every_byte(tmp_path: Path, zero_prefix: bool) -> None:
    data = binfile_bytes(FILE_MESSAGES, zero_prefix=zero_prefix)
    ends = file_ends(FILE_MESSAGES)
    path = tmp_path / "cut.itch"
    for k in range(len(data) + 1):
        write(path, data[:k])
        if k < 3:  # too short to be recognised as anything
            with pytest.raises(InputError):
                read_all(path)
            continue
        res, src = read_all(path)
        n = sum(1 for e in ends if e <= k)
        assert res.dicts(with_sequence=False) == expected_from_messages(FILE_MESSAGES[:n]), k
        assert res.records["seq"].tolist() == list(range(1, n + 1)), k
        assert res.stats.reasons == {}, k
        info = src.info()
        want: dict[str, int] = {}
        if k not in ends and k != 0:
            want["truncated_record"] = 1
        if zero_prefix and n:
            want["binfile_zero_length"] = n
        assert info.reasons == want, k
        assert info.frames == n, k
        assert info.error == "", k


def test_gzip_binaryfile_cut_at_every_byte(tmp_path: Path) -> None:
    messages = mixed_messages(40)
    gz = gzip.compress(binfile_bytes(messages), mtime=0)
    full = expected_from_messages(messages)
    path = tmp_path / "cut.itch.gz"
    for k in range(2, len(gz) + 1):
        path.write_bytes(gz[:k])
        res, src = read_all(path)
        got = res.dicts(with_sequence=False)
        assert got == full[: len(got)], k
        info = src.info()
        if k == len(gz):
            assert got == full and info.reasons == {} and info.error == ""
        else:
            # However much decompressed, the loss of the rest is reported.
            assert info.reasons == {"truncated_record": 1}, (k, info)
            assert "gzip" in info.error, k


# ------------------------------------------------------------ burst sizes


def session_frames() -> list[bytes]:
    messages = mixed_messages(120)
    payloads = split_packets(messages, [1, 7, 3, 12, 2])
    frames = [udp_frame(p, vlans=[(), (10,), (10, 20)][i % 3]) for i, p in enumerate(payloads)]
    # A few frames that are not ours, to keep the stats interesting.
    frames.insert(3, b"\x00" * 10)
    frames.insert(9, udp_frame(payloads[0]))  # a duplicate
    return frames


CAPTURES = {
    "pcap-mmap": lambda fr, ts: pcap_bytes(fr, ts),
    "pcap-be-us": lambda fr, ts: pcap_bytes(fr, ts, nano=False, big_endian=True),
    "pcapng": lambda fr, ts: pcapng_bytes(fr, ts),
}


@pytest.mark.parametrize("kind", [*CAPTURES, "libpcap", "binaryfile"])
def test_burst_size_does_not_change_anything(tmp_path: Path, kind: str) -> None:
    if kind == "binaryfile":
        path = write(tmp_path / "b.itch", binfile_bytes(mixed_messages(300)))
    else:
        frames = session_frames()
        ts = [1_690_000_000_000_000_000 + 1_234_567 * i for i in range(len(frames))]
        path = write(tmp_path / "c.pcap", CAPTURES.get(kind, CAPTURES["pcap-mmap"])(frames, ts))
    runs = []
    for burst in (1, 2, 3, 7, 256):
        res, src = read_all(path, burst=burst, force_libpcap=kind == "libpcap")
        runs.append((res.records.tobytes(), stats_key(res.stats), src.info().reasons,
                     res.decoder.sessions(), res.decoder.gaps()))
    assert all(r == runs[0] for r in runs[1:])
    assert len(runs[0][0]) > 0
    # Pumping (one C call per burst, no records kept) counts the same.
    for burst in (1, 7, 256):
        src = Source(path, force_libpcap=kind == "libpcap")
        dec = Decoder()
        dec.run(src, burst=burst)
        assert stats_key(dec.stats()) == runs[0][1]
        assert src.info().reasons == runs[0][2]


def test_records_identical_when_the_record_buffer_fills(tmp_path: Path) -> None:
    """Frames that do not fit the record buffer wait for the next drain;
    nothing is lost or repeated whatever the split."""
    messages = [sample_message("S", i) for i in range(30_000)]
    payloads = split_packets(messages, [4000, 4679, 1, 4679])  # up to a full 64 KiB datagram
    assert max(len(p) for p in payloads) <= 65535
    res = run_frames(payloads, MOLD)
    assert len(res.records) == res.stats.messages == len(messages)
    assert res.records["seq"].tolist() == list(range(1, len(messages) + 1))
    # The largest datagram an IPv4 frame can carry: 65507 bytes of payload.
    payloads = split_packets(messages, [4677, 1, 4000])
    assert max(len(p) for p in payloads) <= 65535 - 28
    res2 = run_frames([udp_frame(p) for p in payloads], ETH, burst=3)
    assert len(res2.records) == res2.stats.messages == len(messages)
    assert res2.records["seq"].tolist() == list(range(1, len(messages) + 1))


def test_spec_lengths_used_here_are_the_tables() -> None:
    assert [len(m) for m in FILE_MESSAGES] == [itch50.length_of(c) for c in "SRHAFECXDU"]
