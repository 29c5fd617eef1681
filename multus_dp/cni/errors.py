"""The CNI error object and the codes multus-dp returns.

Codes 1-7, 11, 50, 51 are the spec's; ours start at 100. MEANINGS is the table users read
(docs/errors.md is generated from it by scripts/gen-config-docs.py).
"""
from __future__ import annotations

import json
from enum import IntEnum
from typing import Any


class Code(IntEnum):
    # spec codes
    INCOMPATIBLE_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENV = 4
    IO_FAILURE = 5
    DECODE_FAILURE = 6
    INVALID_CONFIG = 7
    TRY_AGAIN_LATER = 11
    PLUGIN_NOT_AVAILABLE = 50
    LIMITED_CONNECTIVITY = 51
    # multus-dp codes (>= 100); give each a line in MEANINGS
    INTERNAL = 100
    DELEGATE_FAILED = 101
    DELEGATE_TIMEOUT = 102
    DELEGATE_BAD_OUTPUT = 103
    DELEGATE_NOT_FOUND = 104
    NETWORK_NOT_FOUND = 105
    POD_NOT_FOUND = 106
    BAD_ANNOTATION = 107
    DEVICE_UNAVAILABLE = 108
    STATE_FAILURE = 109
    KERNEL_OPERATION = 110
    ALREADY_ATTACHED = 111
    NOT_READY = 112
    UNTRUSTED_SOCKET = 113   # the C shim: the daemon socket is not served by root (or the configured uid)


MEANINGS: dict[Code, str] = {
    Code.INCOMPATIBLE_VERSION: "incompatible CNI version",
    Code.UNSUPPORTED_FIELD: "unsupported field in the network configuration",
    Code.UNKNOWN_CONTAINER: "container unknown or does not exist",
    Code.INVALID_ENV: "invalid necessary environment variables (`CNI_*`)",
    Code.IO_FAILURE: "I/O failure",
    Code.DECODE_FAILURE: "failed to decode content (the config on stdin, a delegate's result)",
    Code.INVALID_CONFIG: "invalid network configuration",
    Code.TRY_AGAIN_LATER: "try again later (the daemon is busy, unreachable or not ready yet)",
    Code.PLUGIN_NOT_AVAILABLE: "the plugin is not available (STATUS: not ready to serve ADD)",
    Code.LIMITED_CONNECTIVITY: "limited connectivity (STATUS)",
    Code.INTERNAL: "internal error (the traceback is in the log, never on stdout)",
    Code.DELEGATE_FAILED: "a delegate failed without a spec code of its own; or DEL failed for some attachments",
    Code.DELEGATE_TIMEOUT: "a delegate timed out (its process group was killed)",
    Code.DELEGATE_BAD_OUTPUT: "a delegate printed no or invalid result",
    Code.DELEGATE_NOT_FOUND: "delegate plugin not found in `CNI_PATH`/`binDir`",
    Code.NETWORK_NOT_FOUND: "network (NAD/Network/conf) not found",
    Code.POD_NOT_FOUND: "pod not found",
    Code.BAD_ANNOTATION: "invalid network-selection annotation",
    Code.DEVICE_UNAVAILABLE: "device (VF) unavailable",
    Code.STATE_FAILURE: "state (journal/allocation) cannot be read or written",
    Code.KERNEL_OPERATION: "kernel operation failed",
    Code.ALREADY_ATTACHED: "the container already has attachments (DEL it first)",
    Code.NOT_READY: "not ready",
    Code.UNTRUSTED_SOCKET: "the daemon's socket is not served by root (or the configured uid): the shim refuses "
                           "to talk to it",
}


class CNIError(Exception):
    """A failure that becomes a CNI error object on stdout."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self, cni_version: str) -> str:
        return json.dumps(self.to_dict(cni_version))

    def prefixed(self, prefix: str) -> "CNIError":
        """The same error with context (pod/network/interface) in front of the message."""
        return CNIError(self.code, f"{prefix}: {self.msg}", self.details)

    def __repr__(self) -> str:
        return f"CNIError(code={self.code}, msg={self.msg!r}, details={self.details!r})"


def from_plugin_output(data: dict[str, Any]) -> CNIError:
    """An error object printed by a plugin (Debian's print it without cniVersion)."""
    code = data.get("code")
    if not isinstance(code, int):
        code = Code.DELEGATE_FAILED
    return CNIError(code, str(data.get("msg", "")), str(data.get("details", "") or ""))
