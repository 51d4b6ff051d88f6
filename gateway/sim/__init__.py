"""A MoldUDP64 publishing simulator: the exchange side of a market-data feed.

Theory of operation
-------------------
The simulator plays an exchange for the gateway's live feed handler.  A
:class:`~gateway.sim.messages.MessageStore` holds one session's messages
(synthetic, or read from a capture); a
:class:`~gateway.sim.publisher.Publisher` sends them as MoldUDP64 over UDP
multicast on one or more lines (A, B, ...), each packed its own way and
each with its own seeded, sans-IO fault plan (:mod:`gateway.sim.faults`:
drops, bursts, reordering, duplicates, silences); a
:class:`~gateway.sim.retransmit.RetransmitServer` answers re-requests from
the same store, with faults of its own.  :mod:`gateway.sim.stamps` records
when each datagram left, for latency measurements, and
:mod:`gateway.sim.cli` is ``gateway sim publish``.

Decisions (packing, pacing, faults, request handling) are pure functions of
their inputs and ``now_ns``; the publisher and server are thin shells that
own the sockets and read ``gateway.clock``.
"""

from __future__ import annotations

from gateway.sim.faults import LineFaultPlan, LineFaults, RetransmitFaultPlan, RetransmitFaults
from gateway.sim.messages import MessageStore
from gateway.sim.publisher import Line, Pacing, Publisher
from gateway.sim.retransmit import RetransmitCore, RetransmitServer
from gateway.sim.stamps import STAMP_DTYPE, StampWriter, read_stamps

__all__ = [
    "STAMP_DTYPE",
    "Line",
    "LineFaultPlan",
    "LineFaults",
    "MessageStore",
    "Pacing",
    "Publisher",
    "RetransmitCore",
    "RetransmitFaultPlan",
    "RetransmitFaults",
    "RetransmitServer",
    "StampWriter",
    "read_stamps",
]
