"""The ``gateway`` command line.

    gateway decode FILE [--filter EXPR] [--types A,F,...] [--format jsonl|text]
    gateway replay FILE [--filter EXPR] [--verify-checksums] [--json]
                        [--snapshot PATH [--levels N]]
    gateway book FILE SYMBOL [--at-seq N | --at-time HH:MM:SS.nnnnnnnnn] [--levels N]
    gateway capture synth -o FILE [--messages N] [--symbols N] [--seed S]
                          [--format pcap|pcapng|binaryfile] [--vlan ID]
    gateway feed --source udp --group ADDR:PORT [--line-b ADDR:PORT] [--interface IF]
                 [--retransmit ADDR:PORT] [--duration S] [--snapshot PATH] [--stats]
    gateway feed --source pcap --capture FILE [--snapshot PATH] [--stats]
    gateway sim publish (--synth N | --capture FILE) --group ADDR:PORT [--line-b ADDR:PORT]
                        [--retransmit ADDR:PORT] [--faults-a SPEC] ...

Exit status: 0 success, 1 the input could not be read, 2 a bad option or
configuration value (the message names it), 3 a local failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.book import Books, BooksConfig
from gateway.errors import ConfigError, GatewayError, InputError


def _add_decode(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("decode", help="print every ITCH 5.0 message of a capture")
    p.add_argument("file", help="pcap, pcapng or NASDAQ ITCH BinaryFILE (plain or .gz)")
    p.add_argument("--filter", help='BPF filter expression, e.g. "udp and dst port 26477"')
    p.add_argument("--types", help="only these message types, e.g. A,F,E")
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    p.add_argument("--verify-checksums", action="store_true",
                   help="drop and count frames whose IPv4/UDP checksums are wrong")
    p.set_defaults(func=_cmd_decode)


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="run the receive path over a capture at full speed")
    p.add_argument("file", help="pcap, pcapng or NASDAQ ITCH BinaryFILE (plain or .gz)")
    p.add_argument("--filter", help="BPF filter expression")
    p.add_argument("--verify-checksums", action="store_true")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--snapshot", metavar="PATH", help="write the final books as JSON")
    p.add_argument("--levels", type=int, default=None, help="levels per side in the snapshot")
    _add_book_sizes(p)
    p.set_defaults(func=_cmd_replay)


def _add_book_sizes(p: argparse.ArgumentParser) -> None:
    d = BooksConfig()
    p.add_argument("--max-instruments", type=int, default=d.max_instruments)
    p.add_argument("--max-orders", type=int, default=d.max_orders, help="live orders")
    p.add_argument("--max-levels", type=int, default=d.max_levels, help="live price levels")


def _books_from(a: argparse.Namespace) -> Books:
    return Books(BooksConfig(max_instruments=a.max_instruments, max_orders=a.max_orders,
                             max_levels=a.max_levels, event_capacity=0))


def _check_levels(a: argparse.Namespace) -> None:
    if a.levels is not None and a.levels < 1:
        raise ConfigError("--levels", f"must be a positive count, not {a.levels}")


def _add_book(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("book", help="print one instrument's book as a ladder")
    p.add_argument("file", help="pcap, pcapng or NASDAQ ITCH BinaryFILE (plain or .gz)")
    p.add_argument("symbol")
    at = p.add_mutually_exclusive_group()
    at.add_argument("--at-seq", type=int, help="the book after this message sequence")
    at.add_argument("--at-time", help="the book at this exchange time, HH:MM:SS[.nnnnnnnnn]")
    p.add_argument("--levels", type=int, default=10, help="levels per side (default 10)")
    p.add_argument("--filter", help="BPF filter expression")
    _add_book_sizes(p)
    p.set_defaults(func=_cmd_book)


def _add_capture(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("capture", help="make captures")
    csub = p.add_subparsers(dest="capture_cmd", required=True)
    s = csub.add_parser("synth", help="write a synthetic ITCH 5.0 session")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--messages", type=int, default=100_000)
    s.add_argument("--symbols", type=int, default=100)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--format", choices=("pcap", "pcapng", "binaryfile"), default="pcap")
    s.add_argument("--vlan", type=int, default=None, help="802.1Q VLAN id to tag frames with")
    s.set_defaults(func=_cmd_synth)


def _add_feed(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("feed", help="receive a live MoldUDP64 feed (A/B lines, recovery) into books")
    p.add_argument("--source", choices=("udp", "pcap", "afxdp", "dpdk"), default="udp")
    p.add_argument("--capture", metavar="FILE", help="with --source pcap: the capture to read")
    p.add_argument("--interface", default="", help="where to join the groups (default: by route)")
    p.add_argument("--group", action="append", default=[], metavar="ADDR:PORT",
                   help="line A multicast group (repeatable)")
    p.add_argument("--line-b", action="append", default=[], metavar="ADDR:PORT",
                   help="line B multicast group (repeatable)")
    p.add_argument("--retransmit", metavar="ADDR:PORT", help="MoldUDP64 retransmission server")
    k = p.add_argument_group("kernel bypass")
    k.add_argument("--queue", type=int, action="append", default=[],
                   help="afxdp: receive queue, one socket each (repeatable; default 0)")
    k.add_argument("--xdp-mode", choices=("skb", "native"), default="native",
                   help="afxdp: generic (skb) or driver (native) XDP (default native)")
    k.add_argument("--busy-poll", action="store_true",
                   help="afxdp: busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL); "
                        "dpdk and udp: spin instead of waiting")
    k.add_argument("--dpdk-args", default="", help='dpdk: EAL arguments, e.g. "-l 1 --vdev ..."')
    k.add_argument("--dpdk-port", default="", help="dpdk: the port's device name (e.g. net_pcap0)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--snapshot", metavar="PATH", help="write the final books as JSON")
    p.add_argument("--levels", type=int, default=None, help="levels per side in the snapshot")
    p.add_argument("--stats", action="store_true", help="print the source's and feed's counters")
    p.add_argument("--json", action="store_true", help="print the counters as JSON")
    r = p.add_argument_group("recovery")
    r.add_argument("--grace-ms", type=float, default=2.0,
                   help="wait this long for another line before re-requesting (default 2)")
    r.add_argument("--request-timeout-ms", type=float, default=100.0)
    r.add_argument("--retries", type=int, default=5)
    r.add_argument("--max-per-request", type=int, default=1000)
    r.add_argument("--request-rate", type=float, default=1000.0, help="requests per second")
    r.add_argument("--give-up-s", type=float, default=5.0,
                   help="a gap open longer than this is lost (books marked stale)")
    r.add_argument("--hold-messages", type=int, default=262_144,
                   help="messages the gap buffer holds behind a gap")
    r.add_argument("--join-gap", type=int, default=10_000,
                   help="a first packet this close to sequence 1 recovers from 1; "
                        "further in, the session is joined late and books are stale")
    _add_book_sizes(p)
    p.set_defaults(func=_cmd_feed)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_decode(sub)
    _add_replay(sub)
    _add_book(sub)
    _add_capture(sub)
    _add_feed(sub)
    from gateway.sim import cli as sim_cli

    sim_cli.add_parser(sub)
    from gateway import fixecho

    fixecho.add_parser(sub)
    from gateway import orderentry

    orderentry.add_parser(sub)
    from gateway import fixexchange

    fixexchange.add_parser(sub)
    return p


def _cmd_decode(a: argparse.Namespace) -> int:
    from gateway import render
    from gateway.native import Decoder, Source

    with Source(a.file, filter=a.filter) as src:
        dec = Decoder(records=True, verify_checksums=a.verify_checksums, types=a.types)
        lines = render.jsonl_lines if a.format == "jsonl" else render.text_lines
        mold = src.format != "binaryfile"
        out = sys.stdout
        names: list[str] = []
        for recs in dec.iter_records(src):
            if mold and len(names) < len(dec.sessions()):
                names = dec.session_names()
            out.write("\n".join(lines(recs, names, mold)))
            out.write("\n")
        errs = {**src.info().reasons, **dec.stats().reasons}
        errs.pop("binfile_zero_length", None)
        if errs:
            summary = ", ".join(f"{k}={v}" for k, v in sorted(errs.items()))
            print(f"gateway decode: {a.file}: {summary}", file=sys.stderr)
    return 0


def _cmd_replay(a: argparse.Namespace) -> int:
    from gateway.replay import format_report, replay

    _check_levels(a)
    books = _books_from(a)
    rep = replay(a.file, filter=a.filter, verify_checksums=a.verify_checksums,
                 progress=not a.no_progress, books=books)
    if a.snapshot:
        Path(a.snapshot).write_text(json.dumps(books.snapshot(a.levels)) + "\n")
    if a.json:
        print(json.dumps(rep.to_json(), indent=2))
    else:
        print(format_report(rep))
    return 0


def _cmd_book(a: argparse.Namespace) -> int:
    from gateway.ladder import at_time_ns, format_ladder
    from gateway.native import Decoder, Source

    _check_levels(a)
    books = _books_from(a)
    with Source(a.file, filter=a.filter) as src:
        dec = Decoder(books=books)
        if a.at_seq is not None:
            if a.at_seq < 1:
                raise ConfigError("--at-seq", f"must be a sequence number >= 1, not {a.at_seq}")
            dec.stop_after(seq=a.at_seq)
        elif a.at_time is not None:
            dec.stop_after(exch_ns=at_time_ns(a.at_time))
        dec.run(src)
    try:
        book = books.book(a.symbol)
    except KeyError:
        known = sorted(b.symbol for b in books if b.symbol)
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise InputError(f"{a.file}: no instrument {a.symbol!r} (known: {shown or 'none'})") from None
    print(format_ladder(book, a.levels))
    return 0


def _cmd_feed(a: argparse.Namespace) -> int:
    import socket

    from gateway.feed import Feed, format_feed_report
    from gateway.live import parse_addr
    from gateway.native import Decoder
    from gateway.recovery import RecoveryConfig

    _check_levels(a)
    if a.hold_messages < 1:
        raise ConfigError("--hold-messages", "must be at least 1")
    if a.join_gap < 0:
        raise ConfigError("--join-gap", "must be 0 or more")
    if a.duration is not None and a.duration <= 0:
        raise ConfigError("--duration", "must be a positive number of seconds")
    server = parse_addr(a.retransmit, "--retransmit") if a.retransmit else None
    rcfg = RecoveryConfig(
        grace_ns=int(a.grace_ms * 1e6), timeout_ns=int(a.request_timeout_ms * 1e6),
        retries=a.retries, max_per_request=a.max_per_request, rate=a.request_rate,
        give_up_ns=int(a.give_up_s * 1e9), has_server=server is not None,
    )
    books = _books_from(a)
    dec = Decoder(books=books, hold=True, hold_messages=a.hold_messages, join_gap=a.join_gap)
    requester = None
    if server and a.source != "pcap":
        requester = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        requester.connect(server)
    src, extras = _feed_sources(a, requester)
    if a.source == "dpdk":  # the port brings everything on the wire: only the feeds
        dests = [parse_addr(g, "--group") for g in [*a.group, *a.line_b]]
        if requester is not None:  # answers may come in through the port too
            host, port = requester.getsockname()
            dests.append((host, port))
        dec.set_destinations(dests)
    try:
        feed = Feed(src, dec, books, rcfg, requester=requester, live=a.source != "pcap",
                    extras=extras, spin=a.busy_poll)
        rep = feed.run(duration_s=a.duration)
    finally:
        for each in (src, *extras):
            each.close()
        if requester is not None:
            requester.close()
    if a.snapshot:
        Path(a.snapshot).write_text(json.dumps(books.snapshot(a.levels)) + "\n")
    if a.json:
        from dataclasses import asdict

        print(json.dumps(asdict(rep), indent=2))
    elif a.stats:
        print(format_feed_report(rep))
    else:
        st = rep.decoder
        print(f"gateway feed: {rep.reason}: {st.messages:,} messages, {st.gaps:,} gaps seen, "
              f"{rep.recovery.given_up_messages:,} messages lost, "
              f"{rep.books['stale_books']:,} stale books")
    return 0


def _feed_sources(a: argparse.Namespace, requester: Any) -> tuple[Any, list[Any]]:
    """The feed's source, and the extra ones read after each of its bursts
    (the kernel socket retransmission answers come back to)."""
    from gateway.feed import RETRANSMIT_LINE
    from gateway.live import Endpoint, UdpSource, parse_addr
    from gateway.native import Source

    if a.source == "pcap":
        if not a.capture:
            raise ConfigError("--capture", "--source pcap needs a capture file")
        if a.group or a.line_b or a.retransmit:
            raise ConfigError("--source", "--group, --line-b and --retransmit are for live sources")
        return Source(a.capture), []
    if a.capture:
        raise ConfigError("--capture", "is for --source pcap")
    if not a.group:
        raise ConfigError("--group", f"--source {a.source} needs at least one line A group")
    eps = [Endpoint(*parse_addr(g, "--group", multicast=True), line=0) for g in a.group]
    eps += [Endpoint(*parse_addr(g, "--line-b", multicast=True), line=1) for g in a.line_b]
    answers = [(requester.fileno(), RETRANSMIT_LINE)] if requester is not None else []
    timeout = 0 if a.busy_poll else 10
    if a.source == "udp":
        return UdpSource(eps, interface=a.interface, fds=answers, timeout_ms=timeout), []
    extras = [UdpSource([], fds=answers, timeout_ms=0)] if answers else []
    try:
        if a.source == "afxdp":
            from gateway.afxdp import Feed as XdpFeed
            from gateway.afxdp import XdpSource

            feeds = [XdpFeed(e.group, e.port, e.line) for e in eps]
            if requester is not None:  # answers arriving on this interface: steered too
                host, port = requester.getsockname()
                feeds.append(XdpFeed(host, port, RETRANSMIT_LINE, join=False))
            # With answers also on a kernel socket, wait briefly: it is read between bursts.
            wait = 0 if a.busy_poll else (1 if extras else 10)
            return XdpSource(a.interface, feeds, queues=tuple(a.queue or [0]), mode=a.xdp_mode,
                             busy_poll=a.busy_poll, timeout_ms=wait), extras
        from gateway.dpdk import DpdkSource

        if not a.dpdk_port:
            raise ConfigError("--dpdk-port", "--source dpdk needs the port's device name")
        src = DpdkSource(a.dpdk_port, a.dpdk_args, timeout_ms=0 if a.busy_poll else 1,
                         busy_poll=a.busy_poll)
        return src, extras
    except BaseException:
        for each in extras:
            each.close()
        raise


def _cmd_synth(a: argparse.Namespace) -> int:
    from gateway import synth

    if a.messages < 1:
        raise ConfigError("--messages", f"must be a positive count, not {a.messages}")
    if not 1 <= a.symbols <= 65535:
        raise ConfigError("--symbols", f"must be 1..65535 (a stock locate), not {a.symbols}")
    if a.vlan is not None and not 0 <= a.vlan <= 4095:
        raise ConfigError("--vlan", f"must be 0..4095, not {a.vlan}")
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    summary = synth.write_synth(a.output, messages=a.messages, symbols=a.symbols, seed=a.seed,
                                fmt=a.format, vlan=a.vlan)
    print(f"wrote {a.output}: {summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as e:
        print(f"gateway: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"gateway: {e}", file=sys.stderr)
        return 2
    except GatewayError as e:
        print(f"gateway: {e}", file=sys.stderr)
        return 3
    except BrokenPipeError:
        # `gateway decode ... | head`: the reader left; not an error.
        sys.stderr.close()
        return 0
    except ValueError as e:  # e.g. synth parameters the generator refuses
        print(f"gateway: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
