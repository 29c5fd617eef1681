"""CNI spec versions: parsing, ordering, negotiation, and the version we answer in.

Imports nothing heavy (no pydantic): thin mode answers VERSION through this module alone.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from multus_dp.base.jsonin import decode

from .errors import CNIError, Code

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = SUPPORTED_VERSIONS[-1]


def parse(version: str) -> tuple[int, int, int]:
    """'1.0.0' -> (1, 0, 0). Anything else is a code-1 error (incompatible version)."""
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise CNIError(Code.INCOMPATIBLE_VERSION, f"invalid CNI version {version!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def is_supported(version: str) -> bool:
    return version in SUPPORTED_VERSIONS


def require_supported(version: str) -> str:
    if not is_supported(version):
        raise CNIError(Code.INCOMPATIBLE_VERSION, f"incompatible CNI versions: config is {version!r}, "
                       f"plugin supports {list(SUPPORTED_VERSIONS)}")
    return version


def highest_common(theirs: Iterable[str], ours: Iterable[str] = SUPPORTED_VERSIONS) -> str | None:
    common = set(theirs) & set(ours)
    valid = [v for v in common if _parses(v)]
    return max(valid, key=parse) if valid else None


def _parses(version: str) -> bool:
    try:
        parse(version)
    except CNIError:
        return False
    return True


def reply_version(config: bytes | str) -> str:
    """The cniVersion a reply (result or error) to this request is written in: its config's
    when we speak it, else the latest (also for an empty or undecodable config)."""
    try:
        version = decode(config).get("cniVersion")
    except (ValueError, AttributeError):   # not JSON (decode: a ValueError), not an object
        return LATEST
    return version if isinstance(version, str) and is_supported(version) else LATEST


def version_reply(config: bytes | str) -> dict[str, Any]:
    """Our VERSION answer: the asked version when we speak it, else the latest."""
    return {"cniVersion": reply_version(config), "supportedVersions": list(SUPPORTED_VERSIONS)}
