"""What the FIX commands (fix-echo, fix-exchange, fix-orders) share: the
store, dictionary and logging options, and serving an acceptor until
Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gateway.errors import ConfigError
from gateway.fixengine import Engine
from protocols import fixdict
from protocols.fixdict import DataDictionary
from protocols.fixstore import MemoryStore, SessionStore


def add_common(p: argparse.ArgumentParser, dictionary: bool = True) -> None:
    p.add_argument("--store", help="directory for persistent stores (default: in memory)")
    p.add_argument("--durability", default="write",
                   help="store mode: write (survives a crash), batch or fsync (a power loss)")
    if dictionary:
        p.add_argument("--dictionary", help="a QuickFIX-format data dictionary (a venue's); "
                                            "default: the project's own for the version")
    p.add_argument("--no-validate", action="store_true",
                   help="no data dictionary checks (session checks only)")
    p.add_argument("-v", "--verbose", action="store_true")


def setup_logging(a: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")


def store_for(a: argparse.Namespace, ours: str, theirs: str, begin: str) -> SessionStore:
    if not a.store:
        return MemoryStore()
    from gateway.fixstore import FileStore

    return FileStore(Path(a.store), f"{ours}-{theirs}-{begin}", a.durability)


def dictionary_for(a: argparse.Namespace, begin: str) -> DataDictionary | None:
    """--dictionary FILE (a venue's), --no-validate, or the shipped one."""
    if a.no_validate:
        return None
    path = getattr(a, "dictionary", None)
    if not path:
        return fixdict.builtin(begin)
    try:
        d = fixdict.load(path)
    except fixdict.DictionaryError as e:
        raise ConfigError("--dictionary", str(e)) from None
    if d.begin_string != begin:
        raise ConfigError("--dictionary", f"{path} is for {d.begin_string}, the session is "
                                          f"{begin}")
    return d


def serve(engine: Engine, name: str, host: str, port: int) -> None:
    """Listen and run until Ctrl-C, then close every session."""
    bound = engine.listen(host, port)
    print(f"{name}: listening on {host}:{bound}", flush=True)
    try:
        engine.run()
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
