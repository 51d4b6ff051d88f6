"""Send-to-book latency from the simulator's send stamps (one clock).

``record`` pumps a source into books with the event ring on and, after each
burst, reads the clock once: every book event of the burst gets that time
(the book has it) and its kernel or XDP receive time.  ``match`` pairs each
event's sequence with the send time of the first packet that carried it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gateway import clock
from gateway._native import lib
from gateway.book import Books
from gateway.native import Decoder


def record(dec: Decoder, books: Books, source: Any, seconds: float,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Until every session ended (or ``seconds``): (seq, book time, rx time)
    per book event."""
    seqs, book_t, rx_t = [], [], []
    h, frames = dec.handle, dec.frame_buffer
    deadline = clock.monotonic_ns() + int(seconds * 1e9)
    while clock.monotonic_ns() < deadline:
        n = lib.gw_decoder_pump(h, source.handle, frames, 256)
        now = clock.realtime_ns()
        for part in books.events():
            if len(part):
                seqs.append(part["seq"].copy())
                rx_t.append(part["rx_ns"].copy())
                book_t.append(np.full(len(part), now, np.int64))
        if n == 0 and dec.sessions() and all(s.ended for s in dec.sessions()):
            break
    if not seqs:
        empty = np.empty(0, np.int64)
        return empty.astype(np.uint64), empty, empty
    return np.concatenate(seqs), np.concatenate(book_t), np.concatenate(rx_t)


def match(stamps: np.ndarray, seq: np.ndarray, book_t: np.ndarray, rx_t: np.ndarray,
          ) -> tuple[np.ndarray, np.ndarray]:
    """(send -> book, send -> receive) in ns for the events whose sequence
    a stamped packet carried."""
    order = np.argsort(stamps["first_seq"], kind="stable")
    firsts, sends, counts = (stamps["first_seq"][order], stamps["send_ns"][order],
                             stamps["count"][order])
    data = counts > 0
    firsts, sends, counts = firsts[data], sends[data], counts[data]
    # The first send of each starting sequence (lines pack alike here).
    uniq, first_idx = np.unique(firsts, return_index=True)
    first_send, first_count = sends[first_idx], counts[first_idx]
    idx = np.searchsorted(uniq, seq, side="right") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & (seq < uniq[safe] + first_count[safe])
    send = first_send[safe].astype(np.int64)
    return (book_t - send)[ok], (rx_t - send)[ok]


def pct(a: np.ndarray) -> str:
    if not len(a):
        return "no samples"
    q = np.percentile(a, [50, 99, 99.9]) / 1e3
    return f"p50 {q[0]:8.1f}  p99 {q[1]:8.1f}  p99.9 {q[2]:8.1f}  max {a.max() / 1e3:9.1f} us"
