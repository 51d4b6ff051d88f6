"""The decoder's destination filter: with (group, port) pairs set, UDP to
anything else is dropped and counted (a source that sees a whole port, as
DPDK does, takes every frame on the wire)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import synth
from gateway._native import ffi, lib
from gateway.capture_write import UdpFramer
from gateway.errors import ConfigError
from gateway.native import Decoder
from protocols import moldudp64


def feed(dec: Decoder, frames: list[bytes]) -> None:
    keep: list[Any] = []
    arr = ffi.new("struct gw_frame[]", len(frames))
    for i, fr in enumerate(frames):
        buf = ffi.from_buffer("uint8_t[]", fr)
        keep.append(buf)
        arr[i].data, arr[i].len, arr[i].wire_len = buf, len(fr), len(fr)
        arr[i].link = lib.GW_LINK_ETHERNET
    assert dec.frames(arr, len(frames)) == len(frames)


def test_only_subscribed_destinations_are_decoded() -> None:
    msgs = list(synth.generate_messages(200, 3, 1))
    pkts = moldudp64.pack_messages("DEST000001", 1, msgs)
    ours = UdpFramer(dst_ip="233.1.1.1", dst_port=30001)
    other_port = UdpFramer(dst_ip="233.1.1.1", dst_port=30009)
    other_group = UdpFramer(dst_ip="233.1.1.9", dst_port=30001)
    extra = [other_port.frame(pkts[0]), other_group.frame(pkts[1])]
    dec = Decoder()
    dec.set_destinations([("233.1.1.1", 30001), ("233.1.1.2", 30002)])
    feed(dec, [ours.frame(p) for p in pkts] + extra)
    st = dec.stats()
    assert st.messages == 200 and st.reasons == {"other_destination": 2}
    dec.set_destinations([])  # everything again: the two are duplicates now
    feed(dec, extra)
    dups = sum(moldudp64.decode_packet(p).count for p in pkts[:2])
    assert dec.stats().reasons == {"other_destination": 2, "mold_duplicate": dups}


def test_too_many_destinations_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--group"):
        Decoder().set_destinations([("233.1.1.1", 30000 + i) for i in range(33)])
