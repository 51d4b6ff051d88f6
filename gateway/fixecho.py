"""``gateway fix-echo``: an acceptor with the echo application the FIX
session acceptance scripts expect (``../shared/data/fix-session-tests``).

Sessions: SenderCompID ISLD with TargetCompID TW42 on FIX.4.2 and TW44 on
FIX.4.4, sequence numbers reset on every Logon, the shipped data
dictionary for each version.  The application echoes NewOrderSingle (D)
and SecurityDefinition (d) back -- header routing reversed (OnBehalfOf
becomes DeliverTo and back), body in the dictionary's canonical order --
except a PossResend (97=Y) of a ClOrdID already seen since the Logon; any
other application message gets a BusinessMessageReject (unsupported type).
"""

from __future__ import annotations

import argparse
import sys

from gateway import fixcli
from gateway.fixengine import Engine, SessionHandle
from protocols.fixsession import ROUTE_SWAP, Event, Message, SessionConfig

#: Header fields the session writes itself (or that only a resend carries).
SESSION_HEADER = frozenset({8, 9, 35, 34, 49, 52, 56, 43, 122, 10})
ECHOED = (b"D", b"d")


class EchoApp:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], set[bytes]] = {}
        self.echoed = 0

    def on_logon(self, s: SessionHandle) -> None:
        self.seen[s.key] = set()

    def on_logout(self, s: SessionHandle, reason: str) -> None:
        pass

    def on_event(self, s: SessionHandle, event: Event) -> None:
        pass

    def on_message(self, s: SessionHandle, msg: Message) -> None:
        if msg.msg_type not in ECHOED:
            s.session.business_reject(msg, s.engine.now())
            s.engine.flush(s)
            return
        seen = self.seen.setdefault(s.key, set())
        cl_ord_id = msg.get(11)
        if cl_ord_id is not None:
            if msg.get(97) == b"Y" and cl_ord_id in seen:
                return
            seen.add(cl_ord_id)
        header = [(ROUTE_SWAP.get(t, t), v) for t, v in msg.fields
                  if t not in SESSION_HEADER and _is_header(t)]
        body = msg.body()
        d = s.session.dictionary
        canon = getattr(d, "canonical_body", None)
        body = canon(msg.msg_type.decode(), body) if canon else sorted(body, key=lambda f: f[0])
        s.send(msg.msg_type, body, header)
        self.echoed += 1


def _is_header(tag: int) -> bool:
    from protocols.fixsession import HEADER_TAGS

    return tag in HEADER_TAGS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fix-echo", help="FIX acceptor with the acceptance scripts' echo app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--sender", default="ISLD", help="our SenderCompID (default ISLD)")
    p.add_argument("--max-latency", type=float, default=120.0,
                   help="SendingTime tolerance in seconds (0: off)")
    fixcli.add_common(p, dictionary=False)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    fixcli.setup_logging(a)
    engine = Engine()
    app = EchoApp()
    for begin, target in (("FIX.4.2", "TW42"), ("FIX.4.4", "TW44")):
        cfg = SessionConfig(begin, a.sender, target, reset_on_logon=True,
                            max_latency_s=a.max_latency)
        engine.add_session(cfg, fixcli.store_for(a, a.sender, target, begin), app,
                           dictionary=fixcli.dictionary_for(a, begin))
    fixcli.serve(engine, "fix-echo", a.host, a.port)
    print(f"fix-echo: echoed {app.echoed} messages", file=sys.stderr)
    return 0
