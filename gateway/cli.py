"""The ``gateway`` command line.

    gateway decode FILE [--filter EXPR] [--types A,F,...] [--format jsonl|text]
    gateway replay FILE [--filter EXPR] [--verify-checksums] [--json]
    gateway capture synth -o FILE [--messages N] [--symbols N] [--seed S]
                          [--format pcap|pcapng|binaryfile] [--vlan ID]

Exit status: 0 success, 1 the input could not be read, 2 a bad option or
configuration value (the message names it), 3 a local failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

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
    p.set_defaults(func=_cmd_replay)


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_decode(sub)
    _add_replay(sub)
    _add_capture(sub)
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

    rep = replay(a.file, filter=a.filter, verify_checksums=a.verify_checksums,
                 progress=not a.no_progress)
    if a.json:
        print(json.dumps(rep.to_json(), indent=2))
    else:
        print(format_report(rep))
    return 0


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
