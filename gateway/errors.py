"""Errors that say whose fault it was.

``InputError``: the input (a capture, a packet, a peer) is wrong -- remote.
``ConfigError``: what the user asked for is wrong; names the key/option.
``LocalError``: the gateway or its host failed (memory, permissions, a bug).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class InputError(GatewayError):
    """The input is not what it claims to be (the sender's fault)."""


class ConfigError(GatewayError):
    """A configuration value or option is not allowed (the user's to fix)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


class LocalError(GatewayError):
    """The gateway or its host failed: memory, permissions, a library."""
