"""DPDK receive: an ethdev port read by its poll-mode driver, behind the same
burst interface as every other source (C, ``native/dpdk/source_dpdk.c``,
module ``gateway._native_dpdk``, built only where libdpdk is installed).

Theory of operation
-------------------
The EAL (DPDK's runtime: memory, lcores, devices) starts once per process
and cannot be restarted, so it is started here on first use from the
``--dpdk-args`` string -- whitespace-separated EAL options, for example
``--no-huge -m 256 --no-pci --vdev net_pcap0,rx_pcap=day.pcap`` or ``-l 2
-a 0000:3b:00.0`` -- and every later source must ask for the same
arguments.  Starting the EAL pins the calling thread to the main lcore (the
first of ``-l``), and threads started afterwards inherit that affinity.

A ``DpdkSource`` owns one port (``--dpdk-port``: a vdev name such as
``net_pcap0``, a PCI address as the EAL names it, or a port number): one
RX queue, an mbuf pool of its own, promiscuous and all-multicast on.  Its
handle is a ``struct gw_source *`` of the main module, so the decoder pumps
it like a capture or a socket; frames are read in place from the mbufs and
handed back on the next call.  ``info().nic_drops`` is what the port lost
before the source saw it (imissed + rx_nombuf + ierrors); DPDK closes a
port for good, so a port opens once per process.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from gateway._native import ffi, lib
from gateway.errors import ConfigError, LocalError
from gateway.native import BurstSource, check, strerror

try:
    from gateway._native_dpdk import ffi as dffi
    from gateway._native_dpdk import lib as dlib
except ImportError:  # built only where libdpdk is
    dffi = dlib = None

NOT_BUILT = "dpdk was not built: install libdpdk-dev and pkg-config, then reinstall (make build)"
PRIVILEGES = ("DPDK needs root, or CAP_NET_ADMIN, CAP_NET_RAW and CAP_IPC_LOCK "
              "(and hugepages, or --no-huge)")
_ERR = 512


def available() -> bool:
    """Whether ``gateway._native_dpdk`` was built."""
    return dlib is not None


def _module() -> tuple[Any, Any]:
    if dlib is None:
        raise ConfigError("--source", NOT_BUILT)
    return dffi, dlib


def eal_init(args: str) -> None:
    """Start the EAL with ``args`` unless it already runs with the same ones.

    ConfigError (``--dpdk-args``) for arguments the EAL rejects or that
    differ from those it runs with; LocalError for privileges or memory."""
    df, dl = _module()
    err = df.new("char[]", _ERR)
    rc = dl.gw_dpdk_eal_init(args.encode(), err, _ERR)
    detail = df.string(err).decode(errors="replace")
    if rc == 0:
        return
    if rc in (-errno.EINVAL, -errno.EALREADY):
        raise ConfigError("--dpdk-args", detail)
    if rc not in (-errno.EACCES, -errno.EPERM) and os.geteuid() != 0:
        detail = f"{detail}; not running as root: {PRIVILEGES}"
    raise LocalError(detail)


def eal_running() -> bool:
    return dlib is not None and bool(dlib.gw_dpdk_eal_running())


def ports() -> list[str]:
    """Names of the ports the running EAL found ([] before it runs)."""
    df, dl = _module()
    buf = df.new("char[]", 4096)
    dl.gw_dpdk_ports(buf, 4096)
    text = df.string(buf).decode()
    return text.split(", ") if text else []


@dataclass
class DpdkStatus:
    """What the open settled on, and the port's counters since the open."""

    port: str
    driver: str
    port_id: int
    queue: int
    ring_size: int
    mbufs: int
    socket: int
    ipackets: int
    ibytes: int
    imissed: int
    ierrors: int
    rx_nombuf: int


class DpdkSource(BurstSource):
    """One DPDK port's RX queue as a burst source.

    ``timeout_ms``: how long an idle ``next`` polls the queue before
    returning 0 (DPDK has no descriptor to sleep on: it polls between short
    sleeps, or spins with ``busy_poll``).  ``mbufs`` and ``ring_size``: 0
    sizes them from the burst (8191 mbufs, 1024 descriptors)."""

    def __init__(
        self,
        port: str,
        eal_args: str,
        line: int = 0,
        queue: int = 0,
        burst: int = 256,
        timeout_ms: int = 10,
        *,
        mbufs: int = 0,
        ring_size: int = 0,
        busy_poll: bool = False,
    ) -> None:
        df, dl = _module()
        self._dh: Any = None
        self._h = None
        if not port or len(port.encode()) > 63:
            raise ConfigError("--dpdk-port", f"{port!r}: a port name of 1 to 63 bytes, or a number")
        if queue != 0:
            raise ConfigError("--dpdk-queue", f"{queue}: the port is configured with one RX "
                              "queue, so only 0")
        if not 0 < burst <= dl.GW_DPDK_MAX_BURST:
            raise ConfigError("--burst", f"{burst}: allowed 1 to {dl.GW_DPDK_MAX_BURST}")
        if timeout_ms < 0:
            raise ConfigError("--timeout", f"{timeout_ms}: a wait in ms, 0 or more")
        self.path = f"dpdk:{port}"
        eal_init(eal_args)
        cfg = df.new("struct gw_dpdk_config *")
        if port.isdigit():
            cfg.port_id = int(port)
        else:
            cfg.port = port.encode()
        cfg.queue = queue
        cfg.line = line
        cfg.burst = burst
        cfg.mbufs = mbufs
        cfg.ring_size = ring_size
        cfg.timeout_ms = timeout_ms
        cfg.flags = dl.GW_DPDK_BUSY_POLL if busy_poll else 0
        err = df.new("char[]", _ERR)
        out = df.new("struct gw_source **")
        rc = dl.gw_source_open_dpdk(out, cfg, err, _ERR)
        detail = df.string(err).decode(errors="replace")
        if rc in (-errno.ENODEV, -errno.EBUSY, lib.GW_ECONFIG):
            raise ConfigError("--dpdk-port", detail)
        if rc in (-errno.EACCES, -errno.EPERM) and os.geteuid() != 0:
            raise LocalError(f"{detail}; {PRIVILEGES}")
        if rc < 0:
            raise LocalError(detail or f"{self.path}: {strerror(rc)}")
        self._dh = df.gc(out[0], dl.gw_dpdk_close)
        # The main module's view of the same source, for its decoder.
        self._h = ffi.cast("struct gw_source *", int(df.cast("uintptr_t", self._dh)))

    def status(self) -> DpdkStatus:
        df, dl = _module()
        if self._dh is None:
            raise LocalError("source is closed")
        st = df.new("struct gw_dpdk_status *")
        check(dl.gw_dpdk_status(self._dh, st), self.path)
        return DpdkStatus(
            port=df.string(st.port).decode(), driver=df.string(st.driver).decode(),
            port_id=st.port_id, queue=st.queue, ring_size=st.ring_size, mbufs=st.mbufs,
            socket=st.socket, ipackets=st.ipackets, ibytes=st.ibytes, imissed=st.imissed,
            ierrors=st.ierrors, rx_nombuf=st.rx_nombuf,
        )

    def close(self) -> None:
        """Stop and close the port (for good: DPDK releases it) and free the pool."""
        if self._dh is not None:
            self._h = None
            dffi.release(self._dh)
            self._dh = None
