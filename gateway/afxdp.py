"""AF_XDP as a feed source (C: ``native/xdp/source_xdp.c``, its own CFFI
module ``gateway._native_xdp``, built only where libxdp, libbpf and clang
are).

Theory of operation
-------------------
The gateway attaches its own XDP program to the interface: it sends the
configured feeds -- (multicast group, port) pairs, and the retransmission
requester's (address, port) -- to one AF_XDP socket on the chosen queue,
with a receive timestamp and the line in front of each frame, and passes
everything else (ARP, IGMP, ping, other ports) to the kernel.  The decoder
reads frames in place in the UMEM.  This module only checks options,
turns errors into one line that says what is missing, and hands the main
module a ``struct gw_source *``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from gateway._native import ffi, lib
from gateway.errors import ConfigError, LocalError
from gateway.native import BurstSource

NOT_BUILT = ("afxdp was not built: install libxdp-dev, libbpf-dev, clang and pkg-config "
             "(scripts/install-deps --test), then rebuild (make build)")


def _module() -> Any:
    try:
        import gateway._native_xdp as mod
    except ImportError:
        raise ConfigError("--source", NOT_BUILT) from None
    return mod


@dataclass(frozen=True)
class Feed:
    """A destination the XDP program steers to the socket."""

    addr: str
    port: int
    line: int
    join: bool = True  # a multicast group to join on the interface


@dataclass
class XdpStatus:
    zerocopy: bool
    mode: str
    busy_poll: bool
    no_meta: int
    rx_dropped: int
    rx_invalid: int
    rx_ring_full: int
    fill_ring_empty: int


class XdpSource(BurstSource):
    """Frames of the configured feeds, from one AF_XDP socket per queue."""

    def __init__(self, interface: str, feeds: list[Feed], queues: tuple[int, ...] = (0,),
                 mode: str = "skb",
                 busy_poll: bool = False, timeout_ms: int = 10, frames: int = 4096,
                 force_copy: bool = False) -> None:
        mod = _module()
        xffi, xlib = mod.ffi, mod.lib
        if mode not in ("skb", "native"):
            raise ConfigError("--xdp-mode", f"{mode!r}; allowed: skb, native")
        if not interface:
            raise ConfigError("--interface", "AF_XDP needs the interface to attach to")
        if not feeds or len(feeds) > xlib.GW_XDP_MAX_FEEDS:
            raise ConfigError("--group", f"1 to {xlib.GW_XDP_MAX_FEEDS} feeds")
        if not queues or len(queues) > xlib.GW_XDP_MAX_QUEUES or len(set(queues)) != len(queues):
            raise ConfigError("--queue", f"1 to {xlib.GW_XDP_MAX_QUEUES} distinct queues")
        if min(queues) < 0:
            raise ConfigError("--queue", "a receive queue number (0, 1, ...)")
        cfg = xffi.new("struct gw_xdp_config *")
        cfg.interface = interface.encode()[:15]
        cfg.nqueues = len(queues)
        for i, q in enumerate(queues):
            cfg.queues[i] = q
        cfg.mode = xlib.GW_XDP_MODE_NATIVE if mode == "native" else xlib.GW_XDP_MODE_SKB
        cfg.flags = (xlib.GW_XDP_BUSY_POLL if busy_poll else 0) | (
            xlib.GW_XDP_FORCE_COPY if force_copy else 0)
        cfg.frames = frames
        cfg.timeout_ms = timeout_ms
        cfg.nfeeds = len(feeds)
        for i, f in enumerate(feeds):
            e = cfg.feeds[i]
            e.addr = int.from_bytes(socket.inet_aton(f.addr), "little")
            e.port, e.line, e.join = f.port, f.line, int(f.join)
        err = xffi.new("char[]", 512)
        out = xffi.new("struct gw_source **")
        rc = xlib.gw_source_open_xdp(out, cfg, err, 512)
        msg = xffi.string(err).decode()
        if rc == -19:  # ENODEV
            raise ConfigError("--interface", msg)
        if rc < 0:
            raise LocalError(msg or f"AF_XDP: error {rc}")
        self._mod = mod
        self._x = out[0]
        # The main module's view of the same object, for its decoder.
        self._h = ffi.gc(ffi.cast("struct gw_source *", int(xffi.cast("uintptr_t", out[0]))),
                         lib.gw_source_close)
        self.path = f"afxdp:{interface}:{','.join(map(str, queues))}"

    def status(self) -> XdpStatus:
        st = self._mod.ffi.new("struct gw_xdp_status *")
        self._mod.lib.gw_xdp_status(self._x, st)
        return XdpStatus(bool(st.zerocopy), "native" if st.mode == 2 else "skb",
                         bool(st.busy_poll), st.no_meta, st.rx_dropped, st.rx_invalid,
                         st.rx_ring_full, st.fill_ring_empty)
