"""AF_XDP source options and the backend-missing error, without a link."""

from __future__ import annotations

import sys

import pytest

from gateway.afxdp import NOT_BUILT, Feed, XdpSource
from gateway.errors import ConfigError


def test_a_backend_that_was_not_built_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gateway._native_xdp", None)  # import fails
    with pytest.raises(ConfigError) as e:
        XdpSource("eth0", [Feed("239.1.1.1", 30001, 0)])
    assert e.value.key == "--source" and str(e.value) == f"--source: {NOT_BUILT}"
    assert "libxdp-dev" in NOT_BUILT and "clang" in NOT_BUILT


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"mode": "turbo"}, "--xdp-mode"),
    ({"interface": ""}, "--interface"),
    ({"feeds": []}, "--group"),
    ({"queues": (-1,)}, "--queue"),
    ({"queues": ()}, "--queue"),
    ({"queues": (0, 0)}, "--queue"),
])
def test_bad_options_name_the_option(kwargs: dict[str, object], key: str) -> None:
    pytest.importorskip("gateway._native_xdp", reason="the AF_XDP backend was not built")
    args: dict[str, object] = {"interface": "lo", "feeds": [Feed("239.1.1.1", 30001, 0)]}
    args.update(kwargs)
    with pytest.raises(ConfigError) as e:
        XdpSource(**args)  # type: ignore[arg-type]
    assert e.value.key == key
