"""A QuickFIX acceptor running the acceptance scripts' echo application.

This is the outside reference for the script driver: QuickFIX (PyPI
``quickfix``) set up the way QuickFIX's own acceptance runs set up its ``at``
server, so that what the scripts expect can be told apart from what the
driver gets wrong.

* One acceptor, SenderCompID ``ISLD``, with two sessions: ``TW42`` on
  FIX.4.2 and ``TW44`` on FIX.4.4.  Always in session
  (``StartTime=EndTime=00:00:00``); sequence numbers reset on every logon
  (``ResetOnLogon=Y``); the heartbeat interval is the one the logon asks for.
* A data dictionary per version, with validation on (user-defined fields,
  field order, empty values), and the SendingTime accuracy check
  (``CheckLatency``, ``MaxLatency=120`` s: scripts 1d and 2o send times
  121 s off).
* The application echoes NewOrderSingle (35=D) and SecurityDefinition
  (35=d) back, except a PossResend (97=Y) NewOrderSingle whose ClOrdID was
  already seen in this session; any other application message is refused
  as an unsupported message type (QuickFIX answers with a
  BusinessMessageReject).

Dictionaries: ``--dicts DIR`` when given; else the project's own
(``protocols/dicts/FIX42.xml``, ``FIX44.xml``) when they exist; else the
ones the ``quickfix`` wheel installs under ``<prefix>/share/quickfix``.

Run: ``python -m tests.fixscripts.qf_echo --port P --store DIR`` (message
store and logs go under DIR; the settings file is written to a temporary
folder).  It prints one ``listening`` line when it is ready and runs until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import quickfix as fix

ROOT = Path(__file__).resolve().parents[2]
SENDER = "ISLD"
#: BeginString -> (TargetCompID, dictionary file name)
SESSIONS = {"FIX.4.2": ("TW42", "FIX42.xml"), "FIX.4.4": ("TW44", "FIX44.xml")}
ECHOED = {"D", "d"}  # NewOrderSingle, SecurityDefinition


class EchoApplication(fix.Application):
    """Echo orders and security definitions; refuse other application messages."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # ClOrdIDs seen per session since its logon: a PossResend of one of
        # them is a duplicate the application must not act on twice.
        self._seen: dict[str, set[str]] = {}

    def _forget(self, session_id: fix.SessionID) -> None:
        with self._lock:
            self._seen.pop(session_id.toString(), None)

    def onCreate(self, session_id: fix.SessionID) -> None:
        pass

    def onLogon(self, session_id: fix.SessionID) -> None:
        self._forget(session_id)

    def onLogout(self, session_id: fix.SessionID) -> None:
        self._forget(session_id)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        msg_type = message.getHeader().getField(fix.MsgType().getField())
        if msg_type not in ECHOED:
            raise fix.UnsupportedMessageType()
        if msg_type == "D" and self._is_duplicate(message, session_id):
            return
        fix.Session.sendToTarget(fix.Message(message), session_id)

    def _is_duplicate(self, message: fix.Message, session_id: fix.SessionID) -> bool:
        header = message.getHeader()
        poss_resend = (header.isSetField(fix.PossResend().getField())
                       and header.getField(fix.PossResend().getField()) == "Y")
        cl_ord_id = message.getField(fix.ClOrdID().getField())
        with self._lock:
            seen = self._seen.setdefault(session_id.toString(), set())
            duplicate = poss_resend and cl_ord_id in seen
            seen.add(cl_ord_id)
        return duplicate


def dictionary_dir(explicit: Path | None = None) -> Path:
    """Where the FIX42/FIX44 dictionaries come from (see the module doc)."""
    candidates = [explicit] if explicit else [ROOT / "protocols" / "dicts",
                                              Path(sys.prefix) / "share" / "quickfix"]
    for folder in candidates:
        if all((folder / name).is_file() for _, name in SESSIONS.values()):
            return folder
    raise FileNotFoundError(f"no FIX42.xml and FIX44.xml in {', '.join(map(str, candidates))}")


def acceptor_defaults(port: int, host: str, store: Path) -> dict[str, object]:
    """The [DEFAULT] settings every QuickFIX acceptor in the tests shares:
    always in session, no Nagle, the store under ``store``, SendingTime
    checked within 120 s, data dictionary on."""
    return {
        "ConnectionType": "acceptor",
        "SocketAcceptAddress": host,
        "SocketAcceptPort": port,
        "SocketReuseAddress": "Y",
        "SocketNodelay": "Y",
        "StartTime": "00:00:00",
        "EndTime": "00:00:00",
        "FileStorePath": store / "store",
        "UseDataDictionary": "Y",
        "CheckLatency": "Y",
        "MaxLatency": 120,
    }


def settings_text(port: int, store: Path, dicts: Path, host: str = "127.0.0.1") -> str:
    default = {
        **acceptor_defaults(port, host, store),
        "SenderCompID": SENDER,
        "ResetOnLogon": "Y",
        "FileLogPath": store / "log",
        "ValidateUserDefinedFields": "Y",
        "ValidateFieldsOutOfOrder": "Y",
        "ValidateFieldsHaveValues": "Y",
    }
    sections = ["[DEFAULT]", *(f"{k}={v}" for k, v in default.items())]
    for begin, (target, dict_name) in SESSIONS.items():
        sections += ["", "[SESSION]", f"BeginString={begin}", f"TargetCompID={target}",
                     f"DataDictionary={dicts / dict_name}"]
    return "\n".join(sections) + "\n"


def serve(port: int, store: Path, dicts: Path, host: str, stop: threading.Event) -> None:
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qf_echo") as tmp:
        cfg = Path(tmp) / "acceptor.cfg"
        cfg.write_text(settings_text(port, store, dicts, host))
        settings = fix.SessionSettings(str(cfg))
        app = EchoApplication()
        acceptor = fix.SocketAcceptor(app, fix.FileStoreFactory(settings), settings,
                                      fix.FileLogFactory(settings))
        acceptor.start()
        print(f"qf_echo listening on {host}:{port} (dictionaries {dicts})", flush=True)
        try:
            stop.wait()
        finally:
            acceptor.stop()


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets (the acceptor then closes cleanly)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fixscripts.qf_echo",
                                 description="QuickFIX echo acceptor for the FIX session scripts")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--store", type=Path, required=True, help="folder for the store and logs")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dicts", type=Path, help="folder holding FIX42.xml and FIX44.xml")
    args = ap.parse_args(argv)
    stop = stop_on_signals()
    serve(args.port, args.store, dictionary_dir(args.dicts), args.host, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
