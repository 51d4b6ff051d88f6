"""Live sources: the kernel UDP socket (C, ``source_udp.c``) behind the same
burst interface as the capture reader.

Theory of operation
-------------------
A feed is one or more lines (A, B, ...), each a multicast ``group:port``;
the gateway joins them on one interface and reads them through one C
source, which hands out bursts of MoldUDP64 payloads tagged with their line
and kernel receive time.  A socket bound here in Python (the retransmission
requester's, so its answers come back into the same burst stream) can be
added as one more line.  Everything per packet stays in C; this module only
parses addresses and owns the handle.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from gateway._native import ffi, lib
from gateway.errors import ConfigError
from gateway.native import BurstSource, check


@dataclass(frozen=True)
class Endpoint:
    """Where a line's datagrams arrive."""

    group: str
    port: int
    line: int = 0


def parse_addr(text: str, key: str, multicast: bool = False) -> tuple[str, int]:
    """``"239.1.2.3:30001"`` -> ``("239.1.2.3", 30001)``; errors name ``key``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(key, f"{text!r} is not ADDRESS:PORT (for example 239.1.1.1:30001)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(key, f"port {port} is outside 1-65535")
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        raise ConfigError(key, f"{host!r} is not an IPv4 address") from None
    if multicast and not addr.is_multicast:
        raise ConfigError(key, f"{host} is not a multicast group (224.0.0.0/4)")
    return str(addr), port


def interface_address(name: str) -> str:
    """The IPv4 address of interface ``name`` (for IP_MULTICAST_IF)."""
    import fcntl
    import struct

    if name in ("", "lo"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            req = struct.pack("256s", name.encode()[:15])
            res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
        except OSError as e:
            raise ConfigError("--interface", f"{name}: no IPv4 address ({e.strerror})") from None
    return socket.inet_ntoa(res[20:24])


class UdpSource(BurstSource):
    """Kernel UDP multicast lines as one burst source.

    ``timeout_ms``: how long a call waits when nothing is ready, so an idle
    feed does not spin a core (0: never wait).  ``fds``: already bound
    sockets to read too, as ``(fd, line)``; they stay the caller's."""

    path = "udp"

    def __init__(
        self,
        endpoints: list[Endpoint],
        interface: str = "",
        timeout_ms: int = 10,
        burst: int = 256,
        slot_size: int = 2048,
        rcvbuf: int = 4 << 20,
        fds: list[tuple[int, int]] | None = None,
    ) -> None:
        extra = fds or []
        if not endpoints and not extra:
            raise ConfigError("--group", "at least one line is needed")
        if len(endpoints) + len(extra) > lib.GW_UDP_MAX_ENDPOINTS:
            raise ConfigError("--group", f"at most {lib.GW_UDP_MAX_ENDPOINTS} lines")
        if len(interface.encode()) > 15:
            raise ConfigError("--interface", f"{interface!r} is longer than an interface name")
        cfg = ffi.new("struct gw_udp_config *")
        cfg.interface = interface.encode()
        cfg.timeout_ms = timeout_ms
        cfg.burst = burst
        cfg.slot_size = slot_size
        cfg.rcvbuf = rcvbuf
        eps = [(int.from_bytes(socket.inet_aton(e.group), "little"), e.port, e.line, -1)
               for e in endpoints] + [(0, 0, line, fd) for fd, line in extra]
        for i, (group, port, line, fd) in enumerate(eps):
            ep = cfg.endpoints[i]
            ep.group, ep.port, ep.line, ep.fd = group, port, line, fd
        cfg.nendpoints = len(eps)
        err = ffi.new("char[]", 512)
        out = ffi.new("struct gw_source **")
        rc = lib.gw_source_open_udp(out, cfg, err, 512)
        detail = ffi.string(err).decode()
        if rc == -19:  # ENODEV
            raise ConfigError("--interface", detail)
        check(rc, "udp source", detail)
        self._h = ffi.gc(out[0], lib.gw_source_close)
