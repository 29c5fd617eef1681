"""The version a reply is written in: one rule for the thin entry, the daemon and VERSION."""
from __future__ import annotations

import pytest

from multus_dp.cni.versions import LATEST, SUPPORTED_VERSIONS, reply_version, version_reply


@pytest.mark.parametrize("config,expected", [
    (b'{"cniVersion": "0.3.1"}', "0.3.1"),
    (b'{"cniVersion": "0.9.9"}', LATEST),      # one we do not speak
    (b'{"cniVersion": 1}', LATEST),
    (b'{"name": "x"}', LATEST),
    (b"", LATEST), (b"  \n", LATEST), (b"{not json", LATEST), (b"[1, 2]", LATEST), (b"\xff\xfe", LATEST),
])
def test_reply_version(config: bytes, expected: str) -> None:
    assert reply_version(config) == expected


def test_version_reply_lists_every_supported_version() -> None:
    assert version_reply(b'{"cniVersion": "0.4.0"}') == {"cniVersion": "0.4.0",
                                                          "supportedVersions": list(SUPPORTED_VERSIONS)}
