"""``gateway sim publish``: run the MoldUDP64 publishing simulator.

    gateway sim publish (--capture FILE | --synth N [--symbols S]) --group ADDR:PORT
                        [--line-b ADDR:PORT] [--session NAME] [--speed recorded[:F]|max|RATE]
                        [--faults-a SPEC] [--faults-b SPEC] [--max-payload N]
                        [--max-payload-b N] [--heartbeat S] [--interface-address IP]
                        [--retransmit ADDR:PORT [--retransmit-faults SPEC]
                         [--max-per-request N] [--linger S]] [--stamps PATH] [--seed X]

Theory of operation: the options become a :class:`MessageStore`, one
:class:`Line` per ``--group``/``--line-b`` (each with its own packing and
fault plan), a :class:`Pacing`, and optionally a :class:`RetransmitServer`
serving the same store; the publisher runs in this thread, the server in
its own, and a report of the counters is printed at the end.  Bad option
values raise ``ConfigError`` naming the option (exit status 2 under the
``gateway`` command).
"""

from __future__ import annotations

import argparse
import ipaddress
import threading

from gateway.errors import ConfigError
from gateway.sim.faults import LineFaultPlan, RetransmitFaultPlan
from gateway.sim.messages import MessageStore, check_session
from gateway.sim.publisher import Line, Pacing, Publisher
from gateway.sim.retransmit import MAX_PER_REQUEST, RetransmitServer
from gateway.sim.stamps import read_stamps

FAULT_HELP = ("comma-separated: drop=P, burst=FIRST-LAST, reorder=P[:K], dup=P, "
              "stop=SEQ+PACKETS or stop=@TIME+DURATION, seed=N")


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``sim`` (with ``publish``) to a parser's subcommands."""
    sim = subparsers.add_parser("sim", help="MoldUDP64 publishing simulator")
    ssub = sim.add_subparsers(dest="sim_cmd", required=True)
    p = ssub.add_parser("publish", help="publish a session on multicast lines A (and B)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--capture", metavar="FILE", help="pcap/pcapng of MoldUDP64, or BinaryFILE")
    src.add_argument("--synth", metavar="N", type=int, help="a synthetic session of N messages")
    p.add_argument("--symbols", type=int, default=20, help="symbols in --synth (default 20)")
    p.add_argument("--seed", type=int, default=1, help="seed of --synth and of the faults")
    p.add_argument("--session", help="session name (--synth) or which one to take (--capture)")
    p.add_argument("--filter", help="BPF filter for --capture")
    p.add_argument("--group", required=True, metavar="ADDR:PORT", help="line A")
    p.add_argument("--line-b", metavar="ADDR:PORT", help="line B")
    p.add_argument("--interface-address", default="127.0.0.1", metavar="IP",
                   help="IPv4 address of the sending interface (default 127.0.0.1)")
    p.add_argument("--ttl", type=int, default=1, help="multicast TTL (default 1)")
    p.add_argument("--speed", help="recorded, recorded:FACTOR, max, or messages/s (default: "
                   "recorded for a pcap/pcapng, else max)")
    p.add_argument("--faults-a", metavar="SPEC", help=FAULT_HELP)
    p.add_argument("--faults-b", metavar="SPEC", help="as --faults-a, for line B")
    p.add_argument("--max-payload", type=int, default=1400, help="UDP payload bytes (1400)")
    p.add_argument("--max-payload-b", type=int, help="line B's, if it packs differently")
    p.add_argument("--heartbeat", type=float, default=1.0, metavar="S",
                   help="heartbeat after S seconds idle (default 1)")
    p.add_argument("--retransmit", metavar="ADDR:PORT", help="run a re-request server here")
    p.add_argument("--retransmit-faults", metavar="SPEC",
                   help="delay=DURATION, drop=P, stop[=N], seed=N")
    p.add_argument("--max-per-request", type=int, default=MAX_PER_REQUEST,
                   help="messages answered per re-request at most")
    p.add_argument("--linger", type=float, default=0.0, metavar="S",
                   help="keep the re-request server up S seconds after the end")
    p.add_argument("--stamps", metavar="PATH", help="write the send-time side file")
    p.set_defaults(func=run)
    return sim


def run(args: argparse.Namespace) -> int:
    """Publish as ``args`` say; print the counters. Raises ConfigError/InputError."""
    _check(args)
    store = _store(args)
    lines = [Line(*_address("--group", args.group), name="A", max_payload=args.max_payload,
                  faults=LineFaultPlan.parse(args.faults_a, "--faults-a"))]
    if args.line_b:
        lines.append(Line(*_address("--line-b", args.line_b), name="B",
                          max_payload=args.max_payload_b or args.max_payload,
                          faults=LineFaultPlan.parse(args.faults_b, "--faults-b")))
    if args.speed:
        pacing = Pacing.parse(args.speed)
    else:
        pacing = Pacing("recorded" if store.times_ns is not None else "max")
    server = None
    if args.retransmit:
        server = RetransmitServer(
            store, _address("--retransmit", args.retransmit, any_port=True),
            max_per_request=args.max_per_request, max_payload=args.max_payload,
            faults=RetransmitFaultPlan.parse(args.retransmit_faults, "--retransmit-faults"),
            seed=args.seed)
    pub = Publisher(store, lines, pacing=pacing, interface_address=args.interface_address,
                    ttl=args.ttl, heartbeat_ns=round(args.heartbeat * 1e9),
                    stamps=args.stamps, seed=args.seed)
    where = ", ".join(f"{ln.name} {ln.group}:{ln.port}" for ln in pub.lines)
    rtx = f"; re-requests at {server.address[0]}:{server.address[1]}" if server else ""
    print(f"publishing {len(store)} messages of session {store.session} "
          f"({store.first_seq}..{store.next_seq - 1}) on {where}, pacing "
          f"{_pacing_text(pacing)}{rtx}", flush=True)
    status = 0
    try:
        if server:
            server.start()
        pub.run()
        if server and args.linger > 0:
            threading.Event().wait(args.linger)
    except KeyboardInterrupt:
        status = 130
    finally:
        if server:
            server.stop()
    print(report(pub, server, args.stamps))
    return status


def report(pub: Publisher, server: RetransmitServer | None, stamps: str | None) -> str:
    out = []
    for ln in pub.lines:
        c = pub.counters[ln.name].as_dict()
        shown = ("packets", "messages", "heartbeats", "end_of_session", "dropped",
                 "duplicated", "reordered")
        extra = [f"{k}={v}" for k, v in c.items() if v and k not in shown]
        out.append(f"line {ln.name} {ln.group}:{ln.port}: "
                   + " ".join([f"{k}={c[k]}" for k in shown] + extra))
    if server:
        host, port = server.address
        out.append(f"retransmit {host}:{port}: "
                   + " ".join(f"{k}={v}" for k, v in vars(server.counters).items()))
    if stamps:
        out.append(f"stamps {stamps}: {len(read_stamps(stamps))} records")
    return "\n".join(out)


def _check(a: argparse.Namespace) -> None:
    if a.faults_b and not a.line_b:
        raise ConfigError("--faults-b", "needs --line-b")
    if a.max_payload_b and not a.line_b:
        raise ConfigError("--max-payload-b", "needs --line-b")
    for opt, given in (("--retransmit-faults", a.retransmit_faults),
                       ("--linger", a.linger)):
        if given and not a.retransmit:
            raise ConfigError(opt, "needs --retransmit")
    if a.linger < 0 or not a.heartbeat > 0:
        raise ConfigError("--linger" if a.linger < 0 else "--heartbeat",
                          "must be a positive number of seconds")
    if a.capture is None and a.filter:
        raise ConfigError("--filter", "applies to --capture only")


def _store(a: argparse.Namespace) -> MessageStore:
    session = None if a.session is None else check_session(a.session, "--session")
    if a.capture is not None:
        return MessageStore.from_capture(a.capture, session=session, filter=a.filter)
    if a.synth < 1:
        raise ConfigError("--synth", f"must be a positive count, not {a.synth}")
    try:
        return MessageStore.from_synth(a.synth, a.symbols, a.seed, session=session)
    except ValueError as e:
        raise ConfigError("--synth", str(e)) from None


def _address(option: str, text: str, any_port: bool = False) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not (0 if any_port else 1) <= number <= 0xFFFF:
        raise ConfigError(option, f"expected IPV4ADDRESS:PORT, e.g. 239.255.0.1:26477, "
                          f"not {text!r}")
    return host, number


def _pacing_text(p: Pacing) -> str:
    if p.mode == "rate":
        return f"{p.rate:g} messages/s"
    return f"recorded x{p.speed:g}" if p.mode == "recorded" else "max"
