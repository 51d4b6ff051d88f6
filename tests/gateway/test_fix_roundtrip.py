"""parse(encode(message)) is the message, for every message type the
gateway sends or receives, through the paths real traffic takes: the C
template encoder for orders (NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest), the session's encoder for everything else, and
the C scanner back; and the shipped dictionary accepts each one."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fixengine import CFramer
from gateway.fixscan import FixEncoder
from protocols import fix, fixdict
from protocols.fixorders import OrderTracker

VERSIONS = st.sampled_from(["FIX.4.2", "FIX.4.4"])
IDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=20)
QTY = st.integers(min_value=1, max_value=10**9)
PRICE = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999.9999"), places=4)
TIME = "20261122-10:00:00.123"


def _scan_one(raw: bytes) -> list[tuple[int, bytes]]:
    frames, used = CFramer().scan(raw)
    assert used == len(raw) and len(frames) == 1 and frames[0][0] == ""
    return frames[0][2]


def _through_template(begin: str, msg_type: str, body: list[tuple[int, bytes]],
                      seq: int) -> bytes:
    enc = FixEncoder(begin, msg_type, "CLIENT", "EXCH", [t for t, _ in body])
    return enc.encode_one(seq, TIME, [v for _, v in body])


@settings(max_examples=150, deadline=None)
@given(VERSIONS, IDS, IDS, st.sampled_from(["1", "2"]), QTY, PRICE, QTY, PRICE,
       st.integers(min_value=1, max_value=2**31))
def test_orders_round_trip_through_the_c_template(begin: str, first: str, symbol: str,
                                                  side: str, qty: int, px: Decimal,
                                                  qty2: int, px2: Decimal, seq: int) -> None:
    d = fixdict.builtin(begin)
    tr = OrderTracker(begin)
    bodies = [("D", tr.new_order(first, symbol, side, qty, px, transact_time=TIME))]
    ack = {11: first, 37: "O1", 17: "E1", 150: "0", 39: "0", 38: qty, 151: qty, 14: 0,
           6: 0, 54: side, 55: symbol, **({20: "0"} if begin == "FIX.4.2" else {})}
    tr.on_execution_report({k: str(v).encode() for k, v in ack.items()})
    if (qty2, px2) != (qty, px):
        bodies.append(("G", tr.replace(first + "R", first, qty2, px2, transact_time=TIME)))
        tr.on_cancel_reject({11: (first + "R").encode(), 41: first.encode(), 39: b"0",
                             434: b"2", 37: b"O1"})
    bodies.append(("F", tr.cancel(first + "C", first, TIME)))
    for msg_type, body in bodies:
        raw = _through_template(begin, msg_type, body, seq)
        fields = _scan_one(raw)
        assert fields[0] == (8, begin.encode()) and fields[2] == (35, msg_type.encode())
        assert dict(fields)[34] == str(seq).encode()
        header = {49, 56, 34, 52}
        assert [f for f in fields[3:-1] if f[0] not in header] == body
        assert d.validate(fields) is None, (msg_type, raw)


BODY = st.lists(st.tuples(st.sampled_from([11, 37, 17, 55, 58, 1, 109]),
                          st.binary(min_size=0, max_size=16).filter(lambda b: b"\x01" not in b)),
                max_size=10)


@settings(max_examples=200, deadline=None)
@given(VERSIONS, st.sampled_from(["8", "9", "j", "0", "1", "3", "5"]), BODY)
def test_session_encoded_messages_round_trip(begin: str, msg_type: str,
                                             body: list[tuple[int, bytes]]) -> None:
    fields = [(35, msg_type.encode()), (34, b"7"), (49, b"A"), (52, TIME.encode()),
              (56, b"B"), *body]
    raw = fix.encode(begin, fields)
    got = _scan_one(raw)
    assert got[2:-1] == fields
    assert got == fix.frame(raw)[0][0].fields
