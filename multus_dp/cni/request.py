"""A CNI request as the runtime sends it: environment plus stdin."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from multus_dp.base.names import label_problem, subdomain_problem

from .errors import CNIError, Code

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# The spec's required variables per command (section 2, "Parameters" and each operation).
REQUIRED_ENV: dict[str, tuple[str, ...]] = {
    "ADD": ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_COMMAND", "CNI_PATH"),
    "STATUS": ("CNI_COMMAND",),
    "VERSION": ("CNI_COMMAND",),
}

CONTAINER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Runtimes use 64 hex digits; every file named after the ID (the journal's temp file
# `.<id>.json.XXXXXXXX.tmp` is the longest) must stay within NAME_MAX (255 bytes).
CONTAINER_ID_MAX_BYTES = 200
# The pod identity names files (`<stateDir>/status/<ns>_<pod>.json`): Kubernetes' own syntax only.
POD_IDENTITY_RULES = (("K8S_POD_NAMESPACE", label_problem), ("K8S_POD_NAME", subdomain_problem))
POD_IDENTITY_KEYS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID", "K8S_POD_INFRA_CONTAINER_ID")
IFNAME_MAX_BYTES = 15


def check_ifname(name: str) -> None:
    """A Linux interface name: 1-15 bytes, not '.'/'..', no '/', ':' or whitespace."""
    problem = ifname_problem(name)
    if problem:
        raise CNIError(Code.INVALID_ENV, f"invalid interface name {name!r}: {problem}")


def ifname_problem(name: str) -> str | None:
    if not name:
        return "empty"
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > IFNAME_MAX_BYTES:
        return f"longer than {IFNAME_MAX_BYTES} bytes"
    if name in (".", ".."):
        return "'.' and '..' are not allowed"
    for ch in name:
        if ch in "/:" or ch.isspace() or ch == "\0":
            return f"contains {ch!r}"
    return None


def parse_cni_args(raw: str) -> dict[str, str]:
    """CNI_ARGS 'K=V;K2=V2' -> dict. An element without '=' is an error (libcni does the same)."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CNIError(Code.INVALID_ENV, f"invalid CNI_ARGS element {item!r}: expected K=V")
        out[key] = value
    return out


@dataclass(frozen=True)
class CNIRequest:
    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: Mapping[str, str] = field(default_factory=dict)
    args_raw: str = ""
    path: tuple[str, ...] = ()
    stdin: bytes = b""
    # DEL only: invalid pod-identity args that were dropped (see parse_request)
    ignored_args: tuple[str, ...] = ()

    @property
    def pod_namespace(self) -> str:
        return self.args.get("K8S_POD_NAMESPACE", "")

    @property
    def pod_name(self) -> str:
        return self.args.get("K8S_POD_NAME", "")

    @property
    def pod_uid(self) -> str:
        return self.args.get("K8S_POD_UID", "")

    def pod_label(self) -> str:
        if self.pod_name:
            return f"{self.pod_namespace or 'default'}/{self.pod_name}"
        return f"container {self.container_id}" if self.container_id else "(no container)"

    def env(self) -> dict[str, str]:
        """The CNI_* variables as the runtime set them (for passing on)."""
        out = {"CNI_COMMAND": self.command}
        if self.container_id:
            out["CNI_CONTAINERID"] = self.container_id
        if self.netns:
            out["CNI_NETNS"] = self.netns
        if self.ifname:
            out["CNI_IFNAME"] = self.ifname
        if self.args_raw:
            out["CNI_ARGS"] = self.args_raw
        if self.path:
            out["CNI_PATH"] = ":".join(self.path)
        return out


def parse_request(env: Mapping[str, str], stdin: bytes) -> CNIRequest:
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CNIError(Code.INVALID_ENV, "required environment variable CNI_COMMAND is not set")
    if command not in COMMANDS:
        raise CNIError(Code.INVALID_ENV, f"unknown CNI_COMMAND {command!r}; expected one of {', '.join(COMMANDS)}")
    for key in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"):
        if "\0" in env.get(key, ""):  # no real environment holds one; a socket client could send it
            raise CNIError(Code.INVALID_ENV, f"{command}: {key} contains a NUL byte")
    missing = [k for k in REQUIRED_ENV[command] if not env.get(k)]
    if missing:
        raise CNIError(Code.INVALID_ENV, f"{command}: required environment variable(s) not set: {', '.join(missing)}")
    container_id = env.get("CNI_CONTAINERID", "")
    if len(container_id) > CONTAINER_ID_MAX_BYTES:
        raise CNIError(Code.INVALID_ENV, f"invalid CNI_CONTAINERID {container_id[:64]!r}...: "
                       f"{len(container_id)} bytes, at most {CONTAINER_ID_MAX_BYTES} accepted")
    if container_id and not CONTAINER_ID_RE.match(container_id):
        raise CNIError(Code.INVALID_ENV, f"invalid CNI_CONTAINERID {container_id!r}: must match "
                       f"{CONTAINER_ID_RE.pattern}")
    ifname = env.get("CNI_IFNAME", "")
    if command in ("ADD", "CHECK", "DEL") or ifname:
        check_ifname(ifname)
    args_raw = env.get("CNI_ARGS", "")
    args = parse_cni_args(args_raw)
    problems = pod_identity_problems(args)
    ignored: tuple[str, ...] = ()
    if problems and command != "DEL":
        # code 4: CNI_ARGS is part of the environment the runtime set, and it is that
        # environment (not the network configuration, 7) that is wrong
        raise CNIError(Code.INVALID_ENV, f"{command}: invalid CNI_ARGS: " + "; ".join(problems.values()))
    if problems:
        # DEL stays idempotent: no ADD can have succeeded under an invalid name, so the name
        # identifies nothing. DEL goes on by container ID alone, as if the runtime had not sent it.
        # The whole identity goes: half of it (a name without its namespace) names another pod.
        ignored = tuple(problems.values())
        args = {k: v for k, v in args.items() if k not in POD_IDENTITY_KEYS}
        args_raw = ";".join(item for item in args_raw.split(";") if item.partition("=")[0] not in POD_IDENTITY_KEYS)
    path = tuple(p for p in env.get("CNI_PATH", "").split(":") if p)
    return CNIRequest(
        command=command,
        container_id=container_id,
        netns=env.get("CNI_NETNS", ""),
        ifname=ifname,
        args=args,
        args_raw=args_raw,
        path=path,
        stdin=stdin,
        ignored_args=ignored,
    )


def pod_identity_problems(args: Mapping[str, str]) -> dict[str, str]:
    """K8S_POD_NAMESPACE / K8S_POD_NAME that are not Kubernetes names -> {key: problem}."""
    out: dict[str, str] = {}
    for key, rule in POD_IDENTITY_RULES:
        value = args.get(key, "")
        problem = rule(value) if value else None
        if problem:
            out[key] = f"{key}={problem}"
    return out
