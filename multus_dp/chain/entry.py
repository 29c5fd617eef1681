"""The plugin entry: one CNI request (env + stdin) in, one reply (exit code + stdout) out.

Thin mode (`multus-dp cni`) builds its process context and a runner per call; the daemon
passes a factory building runners from its long-lived context (chain/context.py). Nothing
here ever lets a traceback reach stdout.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from multus_dp import logs
from multus_dp.cni.config import load_json
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.request import CNIRequest, parse_request
from multus_dp.cni.versions import reply_version, require_supported, version_reply
from multus_dp.networks.conf import MultusConf, parse_multus_conf

from .context import thin_context
from .runner import ChainRunner

log = logs.get("entry")

RunnerFactory = Callable[[MultusConf], ChainRunner]


@dataclass(frozen=True)
class Reply:
    exit_code: int
    stdout: str


def build_thin_runner(conf: MultusConf) -> ChainRunner:
    return thin_context(conf).runner(conf)


def handle(env: Mapping[str, str], stdin: bytes, runner_factory: RunnerFactory = build_thin_runner) -> Reply:
    version = reply_version(stdin)
    req: CNIRequest | None = None
    start = time.monotonic()
    try:
        req = parse_request(env, stdin)
        if req.ignored_args:
            log.warning("%s: invalid pod identity in CNI_ARGS ignored, going on by container ID: %s", req.command,
                        "; ".join(req.ignored_args), extra={"command": req.command, "container": req.container_id})
        if req.command == "VERSION":
            return Reply(0, json.dumps(version_reply(stdin)))
        conf = parse_multus_conf(stdin)
        require_supported(conf.cniVersion)
        runner = runner_factory(conf)
        out = dispatch(runner, req, stdin)
        log.info("%s done", req.command, extra={"command": req.command, "container": req.container_id,
                                                 "pod": req.pod_label(),
                                                 "duration_ms": round((time.monotonic() - start) * 1000, 2)})
        return Reply(0, json.dumps(out) if out is not None else "")
    except CNIError as exc:
        log.warning("%s failed: %s", env.get("CNI_COMMAND", "?"), exc.msg,
                    extra={"command": env.get("CNI_COMMAND"), "container": env.get("CNI_CONTAINERID"),
                           "pod": req.pod_label() if req else None})
        return Reply(1, exc.to_json(version))
    except Exception as exc:  # never a traceback on stdout
        log.exception("internal error", extra={"command": env.get("CNI_COMMAND"),
                                                "container": env.get("CNI_CONTAINERID")})
        where = req.pod_label() if req else "request"
        err = CNIError(Code.INTERNAL, f"multus-dp internal error handling {env.get('CNI_COMMAND', '?')} for "
                       f"{where}: {type(exc).__name__}: {exc}", "see the multus-dp log for the traceback")
        return Reply(1, err.to_json(version))


def dispatch(runner: ChainRunner, req: CNIRequest, stdin: bytes) -> dict | None:
    if req.command == "ADD":
        reason = runner.not_ready_reason()
        if reason:
            raise CNIError(Code.TRY_AGAIN_LATER, f"multus-dp is not ready: {reason}")
        return runner.add(req)
    if req.command == "DEL":
        runner.delete(req)
        return None
    if req.command == "CHECK":
        runner.check(req)
        return None
    if req.command == "GC":
        errors = runner.gc(req, load_json(stdin))
        if errors:
            raise CNIError(Code.DELEGATE_FAILED, "GC could not remove every stale attachment: "
                           + "; ".join(e.msg for e in errors))
        return None
    if req.command == "STATUS":
        runner.status(req)
        return None
    raise CNIError(Code.INVALID_ENV, f"unsupported CNI_COMMAND {req.command!r}")
