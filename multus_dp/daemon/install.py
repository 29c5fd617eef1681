"""`multus-dp install`: the shim into the CNI bin dir, our conflist into the CNI conf dir,
and (with --watch) keeping that conflist in step with the primary config and the
readiness indicator file."""
from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import multus_dp
from multus_dp import logs
from multus_dp.base import defaults

from . import confgen

log = logs.get("install")

SHIM_NAME = "multus-dp"            # the plugin type the runtime looks up in its bin dir
BUILT_SHIM = Path(multus_dp.__file__).parent / "bin" / "multus-dp-shim"


class InstallError(Exception):
    """Install cannot proceed; the message says what to fix."""


def built_shim() -> Path:
    path = Path(os.environ.get("MULTUS_DP_SHIM") or BUILT_SHIM)
    if not os.access(path, os.X_OK):
        raise InstallError(f"the multus-dp shim is not built at {path}; reinstall the package "
                           "(`pip install -e .` compiles native/shim.c)")
    return path


def install_shim(bin_dir: Path, source: Path | None = None) -> bool:
    """Copy the shim as `<bin_dir>/multus-dp` through a temp file + rename, so a runtime
    exec'ing the old one never sees "text file busy" or a half-copied binary. True if written."""
    source = source or built_shim()
    return confgen.write_if_changed(bin_dir / SHIM_NAME, source.read_bytes(), mode=0o755)


@dataclass
class Reconciled:
    state: str                  # "written", "unchanged", "withdrawn", "waiting", "skipped" (--no-conf)
    conf: Path
    primary: Path | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "conf": str(self.conf), "primary": str(self.primary) if self.primary else None,
                "reason": self.reason}


@dataclass
class ConfInstaller:
    conf_dir: Path
    readiness_file: str | None = None
    plugin_keys: dict[str, Any] = field(default_factory=dict)

    @property
    def conf_path(self) -> Path:
        return self.conf_dir / confgen.OUR_CONF_NAME

    def reconcile(self) -> Reconciled:
        """Make our conflist match the world once: written when the primary exists (and the
        readiness indicator, if any), withdrawn otherwise."""
        if self.readiness_file and not os.path.exists(self.readiness_file):
            removed = confgen.remove(self.conf_path)
            return Reconciled("withdrawn" if removed else "waiting", self.conf_path,
                              reason=f"readiness indicator file {self.readiness_file} does not exist")
        primary = confgen.find_primary(self.conf_dir)
        if primary is None:
            removed = confgen.remove(self.conf_path)
            return Reconciled("withdrawn" if removed else "waiting", self.conf_path,
                              reason=f"no primary .conf/.conflist in {self.conf_dir}")
        keys = dict(self.plugin_keys)
        if self.readiness_file:
            keys.setdefault("readinessindicatorfile", self.readiness_file)
        written = confgen.write_if_changed(self.conf_path, confgen.encode(confgen.render(primary, keys)))
        return Reconciled("written" if written else "unchanged", self.conf_path, primary.path)

    def _inputs(self) -> tuple[Any, ...]:
        """What our conf is made from: the candidate files and the indicator."""
        files = []
        for path in confgen.candidate_files(self.conf_dir):
            # content, not mtime: two writes within one clock tick share an mtime
            try:
                files.append((path.name, hashlib.sha256(path.read_bytes()).digest()))
            except OSError:
                continue
        indicator = bool(self.readiness_file) and os.path.exists(self.readiness_file or "")
        return tuple(files), indicator

    def _ours(self) -> bytes | None:
        try:
            return hashlib.sha256(self.conf_path.read_bytes()).digest()
        except OSError:
            return None

    def watch(self, stop: threading.Event, interval: float,
              on_change: Callable[[Reconciled], None] | None = None) -> None:
        """Poll the conf dir every `interval` s until `stop` is set; reconcile when an input
        changed or someone else changed or removed our conf."""
        last: tuple[Any, ...] | None = None
        while not stop.is_set():
            inputs = self._inputs()
            if (inputs, self._ours()) != last:
                try:
                    outcome = self.reconcile()
                except confgen.ConfGenError as exc:
                    log.warning("cannot regenerate %s: %s", self.conf_path, exc)
                    outcome = Reconciled("error", self.conf_path, reason=str(exc))
                # inputs as this reconcile saw them (a change meanwhile is caught next round),
                # our conf as it left it
                last = (inputs, self._ours())
                if outcome.state in ("written", "withdrawn", "error"):
                    log.info("%s %s", self.conf_path, outcome.state,
                             extra={"network": str(outcome.primary) if outcome.primary else None})
                if on_change is not None and outcome.state != "unchanged":
                    on_change(outcome)
            stop.wait(interval)

SOCKET_FILE_SUFFIX = ".socket"


def install_socket_file(bin_dir: Path, socket_path: str | None) -> bool:
    """`<bin_dir>/multus-dp.socket` names the daemon's socket for the shim when it is not the
    default: libcni checks a conflist by exec'ing VERSION with only {"cniVersion"} on stdin,
    so the conflist's socketPath alone does not reach the shim then. True if changed."""
    path = bin_dir / (SHIM_NAME + SOCKET_FILE_SUFFIX)
    if not socket_path:
        return confgen.remove(path)
    return confgen.write_if_changed(path, (socket_path + "\n").encode())


ON_DEMAND_SUFFIX = ".on-demand"     # native/shim.c reads `<its own path>.on-demand`
ON_DEMAND_HEADER = (
    "# multus-dp thin mode: the shim beside this file starts this daemon when none listens on its socket.\n"
    "# One argument a line; the shim adds --socket <its socket> (and --idle-timeout <the config's\n"
    "# daemonIdleTimeout>). Written by `multus-dp install --on-demand`; without this file (thick mode)\n"
    "# the shim never starts a daemon.\n")


def on_demand_command(idle_timeout: float | None = None, state_dir: str | None = None,
                      log_file: str | None = None, log_level: str | None = None,
                      python: str = sys.executable) -> list[str]:
    """`multus-dp daemon --on-demand ...` with this installation's interpreter. The log file is
    always named, so the shim can point at it when the daemon does not come up."""
    state = state_dir or defaults.STATE_DIR
    argv = [python, "-m", "multus_dp", "daemon", "--on-demand", "--log-file",
            log_file or os.path.join(state, defaults.ON_DEMAND_LOG_NAME)]
    if state_dir:
        argv += ["--state-dir", state_dir]
    if idle_timeout is not None:
        argv += ["--idle-timeout", f"{idle_timeout:g}"]
    if log_level:
        argv += ["--log-level", log_level]
    return argv


def install_on_demand_file(bin_dir: Path, argv: list[str] | None) -> bool:
    """`<bin_dir>/multus-dp.on-demand`: the daemon command the shim runs when none listens
    (thin mode); None removes it (thick mode: the shim never starts a daemon). True if changed."""
    path = bin_dir / (SHIM_NAME + ON_DEMAND_SUFFIX)
    if argv is None:
        return confgen.remove(path)
    bad = [a for a in argv if not a or "\n" in a or "\r" in a]
    if bad or not os.path.isabs(argv[0]):
        raise InstallError(f"cannot write {path}: every argument must be one non-empty line and the first an "
                           f"absolute path ({argv!r})")
    return confgen.write_if_changed(path, (ON_DEMAND_HEADER + "\n".join(argv) + "\n").encode(), mode=0o644)


def cleanup(bin_dir: Path, conf_dir: Path) -> list[Path]:
    """Remove what install wrote: our conflist, the shim and its socket and on-demand files."""
    removed = []
    for path in (conf_dir / confgen.OUR_CONF_NAME, bin_dir / SHIM_NAME, bin_dir / (SHIM_NAME + SOCKET_FILE_SUFFIX),
                 bin_dir / (SHIM_NAME + ON_DEMAND_SUFFIX)):
        if confgen.remove(path):
            removed.append(path)
    return removed

