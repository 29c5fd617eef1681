"""Delegate invocation: locate a plugin, exec it with its config's own cniVersion, parse its
output, and run a whole network configuration list with libcni's semantics.

Versions (as libcni, and so Multus): every plugin of a list is called with the list's
`cniVersion` (the highest of `cniVersions` we speak when that is given), whatever we speak
ourselves; results are converted only for our own use (prevResult for the next plugin when
it speaks another version, merging, network-status, the reply). A config without any
cniVersion is called at the highest version both we and the plugin support (a VERSION probe,
cached). GC and STATUS go to a list whose version is 1.1.0 or later (libcni), and there only
to plugins that advertise 1.1.0 (probed: a plugin that does not would fail them).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from multus_dp.base import defaults
from multus_dp.base.fileio import atomic_write
from multus_dp.base.jsonin import decode

from . import result as cniresult
from .config import NetworkConfig
from .errors import CNIError, Code, from_plugin_output
from .exec import Executor, Spawned, SubprocessExecutor
from .versions import LATEST, at_least, highest_common, is_supported

PLAIN_NAME_RE = re.compile(r"^[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*$")
DEFAULT_DELEGATE_TIMEOUT = defaults.DELEGATE_TIMEOUT


def check_plugin_type(plugin_type: Any) -> str:
    """A plugin `type` must be a plain file name: no path, no '..', no NUL."""
    if (not isinstance(plugin_type, str) or not plugin_type or "/" in plugin_type or ".." in plugin_type
            or "\0" in plugin_type or not PLAIN_NAME_RE.match(plugin_type)):
        raise CNIError(Code.INVALID_CONFIG,
                       f"invalid plugin type {plugin_type!r}: must be a plain executable name found in CNI_PATH")
    return plugin_type


def find_plugin(plugin_type: str, paths: Sequence[str], root: str = "/") -> str:
    """The plugin's path as the plugin sees it; with a `root` (chrootDir) the file is looked up
    under it, as the plugin will run there."""
    check_plugin_type(plugin_type)
    for directory in paths:
        candidate = os.path.join(directory, plugin_type)
        seen = in_root(root, candidate)
        if os.path.isfile(seen) and os.access(seen, os.X_OK):
            return candidate
    raise CNIError(Code.DELEGATE_NOT_FOUND,
                   f"failed to find plugin {plugin_type!r} in path {list(paths)}")


def in_root(root: str, path: str, max_links: int = 40) -> str:
    """`path` of the tree rooted at `root` (chrootDir), as this process sees it. Symlinks are
    followed inside that tree: a CNI bin dir of links to /usr/lib/cni/... must not resolve to
    this process's own /usr/lib/cni."""
    if root == "/":
        return path
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        seen = os.path.join(root, *resolved, part)
        if os.path.islink(seen) and links < max_links:
            links += 1
            target = os.readlink(seen)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


@dataclass
class RuntimeConf:
    """What the runtime knows about one attachment (libcni's RuntimeConf)."""

    container_id: str
    netns: str
    ifname: str
    args: Sequence[tuple[str, str]] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)

    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


class Started:
    """One plugin call's process, started ahead and waiting for its stdin; given to the call
    it was started for (same binary, same environment), else killed."""

    def __init__(self, executor: Executor, path: str, env: dict[str, str], spawned: Spawned) -> None:
        self.executor = executor
        self.path = path
        self.env = env
        self.spawned = spawned
        self._lock = threading.Lock()
        self._done = False

    def take(self, path: str, env: dict[str, str]) -> bool:
        """Claim it for the call about to run: True when that call is the one it was started
        for (then the call finishes it); otherwise it is killed and the call execs afresh."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            if path == self.path and env == self.env:
                return True
        self.executor.cancel(self.spawned)
        return False

    def cancel(self) -> None:
        """Kill it unless a call took it (it read nothing: nothing happened)."""
        with self._lock:
            if self._done:
                return
            self._done = True
        self.executor.cancel(self.spawned)


class VersionCache:
    """VERSION answers per plugin binary, keyed by path + mtime so an upgrade is noticed.

    With `file`, answers are also kept on disk: thin mode (one process per CNI call) then
    probes each plugin once, not on every call."""

    def __init__(self, file: str | None = None) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], tuple[str, ...]] = {}
        self.file = file
        if file:
            try:
                with open(file, encoding="utf-8") as fh:
                    for path, mtime, versions in json.load(fh):
                        self._cache[(path, int(mtime))] = tuple(versions)
            except (OSError, ValueError, TypeError):
                pass  # no cache yet, or a broken one: probe again

    def size(self) -> int:
        """Plugin binaries with a cached answer (for `multus-dp status`)."""
        with self._lock:
            return len(self._cache)

    def get(self, path: str) -> tuple[str, ...] | None:
        key = (path, _mtime(path))
        with self._lock:
            return self._cache.get(key)

    def put(self, path: str, versions: Iterable[str]) -> None:
        key = (path, _mtime(path))
        with self._lock:
            self._cache[key] = tuple(versions)
            if self.file:
                self._save()

    def _save(self) -> None:
        assert self.file is not None
        # a cache: losing it to a crash only costs a VERSION probe, so no fsync
        with contextlib.suppress(OSError):
            atomic_write(self.file, json.dumps([[p, m, list(v)] for (p, m), v in self._cache.items()]),
                         durable=False)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


class DelegateInvoker:
    """Runs plugins. Thread-safe: secondary attachments may run in parallel."""

    def __init__(self, executor: Executor | None = None, timeout: float = DEFAULT_DELEGATE_TIMEOUT,
                 version_cache: VersionCache | None = None, base_env: Mapping[str, str] | None = None,
                 root: str = "/") -> None:
        # chrootDir (Multus thick's key): plugins run with `root` as their root, so a primary
        # plugin finds its binaries, configs and state where the host has them
        self.root = root
        self.executor = executor or SubprocessExecutor(chroot=None if root == "/" else root)
        self.timeout = timeout
        self.versions = version_cache or VersionCache()
        if base_env is None:
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.base_env = dict(base_env)

    # ---- one plugin -------------------------------------------------------------------
    def find(self, plugin_type: Any, cni_path: Sequence[str]) -> str:
        """The plugin binary for `type` in CNI_PATH, looked up where it will run (chrootDir)."""
        return find_plugin(plugin_type, cni_path, self.root)

    def supported_versions(self, path: str, fallback: str) -> tuple[str, ...]:
        seen = in_root(self.root, path)   # the cache keys on the file as this process sees it
        cached = self.versions.get(seen)
        if cached is not None:
            return cached
        probe = json.dumps({"cniVersion": fallback}).encode()
        env = {**self.base_env, "CNI_COMMAND": "VERSION"}
        outcome = self.executor.run(path, env, probe, self.timeout)
        versions: tuple[str, ...] = (fallback,)
        if outcome.returncode == 0 and not outcome.timed_out:
            try:
                data = decode(outcome.stdout)
                found = tuple(v for v in data.get("supportedVersions", []) if isinstance(v, str))
                if found:
                    versions = found
            except (ValueError, AttributeError):
                pass
        self.versions.put(seen, versions)
        return versions

    def call_version(self, net: NetworkConfig, path: str) -> str:
        """The cniVersion a plugin of `net` is called with: the config's own (libcni's rule);
        without one, the highest version both sides speak (lenient, probed)."""
        if net.cni_versions:
            declared = [v for v in net.cni_versions if is_supported(v)]
            if net.version_declared:
                declared.append(net.cni_version)
            best = highest_common(declared)
            if best is not None:
                return best
        if not net.version_declared:
            return self.negotiate(path, net.cni_version)
        if not is_supported(net.cni_version):
            raise CNIError(Code.INCOMPATIBLE_VERSION,
                           f"network {net.name!r} has cniVersion {net.cni_version!r}, which multus-dp does not speak")
        return net.cni_version

    def _gc_version(self, net: NetworkConfig, path: str) -> str | None:
        """The version GC/STATUS go out with, or None when this plugin does not get them."""
        version = self.call_version(net, path) if net.version_declared or net.cni_versions else LATEST
        if not at_least(version, "1.1.0"):
            return None  # libcni skips GC/STATUS below 1.1.0
        return version if "1.1.0" in self.supported_versions(path, net.cni_version) else None

    def negotiate(self, path: str, config_version: str) -> str:
        """The highest version both we and the plugin support."""
        theirs = self.supported_versions(path, config_version)
        best = highest_common(theirs)
        if best is None:
            raise CNIError(Code.INCOMPATIBLE_VERSION,
                           f"plugin {os.path.basename(path)} supports {list(theirs)}, none of which multus-dp speaks")
        return best

    def _env(self, command: str, rt: RuntimeConf, cni_path: Sequence[str]) -> dict[str, str]:
        env = dict(self.base_env)
        env.update({"CNI_COMMAND": command, "CNI_PATH": ":".join(cni_path)})
        if command not in ("GC", "STATUS"):
            env.update({"CNI_CONTAINERID": rt.container_id, "CNI_IFNAME": rt.ifname})
            if rt.netns:
                env["CNI_NETNS"] = rt.netns
            if rt.args:
                env["CNI_ARGS"] = rt.cni_args()
        return env

    def exec_plugin(self, path: str, command: str, netconf: dict[str, Any], rt: RuntimeConf,
                    cni_path: Sequence[str], ready: Started | None = None) -> dict[str, Any] | None:
        """One plugin call; `ready`: this very call, started ahead (`start`)."""
        env = self._env(command, rt, cni_path)
        plugin = os.path.basename(path)
        stdin = json.dumps(netconf).encode()
        if ready is not None and ready.take(path, env):
            outcome = self.executor.finish(ready.spawned, stdin, self.timeout)
        else:
            outcome = self.executor.run(path, env, stdin, self.timeout)
        if outcome.timed_out:
            raise CNIError(Code.DELEGATE_TIMEOUT,
                           f"plugin {plugin} {command} timed out after {self.timeout:g}s; its process group was killed")
        if outcome.returncode != 0:
            raise _plugin_error(plugin, command, outcome.returncode, outcome.stdout, outcome.stderr)
        if command != "ADD":
            return None
        text = outcome.stdout.strip()
        if not text:
            raise CNIError(Code.DELEGATE_BAD_OUTPUT, f"plugin {plugin} ADD printed no result")
        try:
            data = decode(text)
        except ValueError as exc:
            raise CNIError(Code.DELEGATE_BAD_OUTPUT, f"plugin {plugin} ADD printed invalid JSON: {exc}",
                           text[:500].decode(errors="replace")) from exc
        if not isinstance(data, dict):
            raise CNIError(Code.DELEGATE_BAD_OUTPUT, f"plugin {plugin} ADD printed JSON that is not an object")
        if "cniVersion" not in data:
            data["cniVersion"] = netconf.get("cniVersion", LATEST)
        return cniresult.validate(data)

    # ---- a network configuration list (libcni semantics) --------------------------------
    def _plugin_conf(self, net: NetworkConfig, plugin: dict[str, Any], version: str, rt: RuntimeConf,
                     prev: dict[str, Any] | None) -> dict[str, Any]:
        """libcni's injection: name, cniVersion, the runtimeConfig of the declared capabilities,
        prevResult in the plugin's version (passed through untouched when already in it)."""
        conf = dict(plugin)
        conf["name"] = net.name
        conf["cniVersion"] = version
        caps = plugin.get("capabilities") or {}
        runtime_config = {cap: rt.capability_args[cap] for cap, enabled in caps.items()
                          if enabled and cap in rt.capability_args}
        if runtime_config:
            conf["runtimeConfig"] = runtime_config
        else:
            conf.pop("runtimeConfig", None)
        if prev is not None:
            try:
                conf["prevResult"] = prev if prev.get("cniVersion") == version else cniresult.convert(prev, version)
            except CNIError:
                conf.pop("prevResult", None)  # a 0.1/0.2 plugin cannot take a result without IPs
        else:
            conf.pop("prevResult", None)
        return conf

    def _resolve(self, net: NetworkConfig, plugin: dict[str, Any], cni_path: Sequence[str]) -> tuple[str, str]:
        path = self.find(plugin.get("type"), cni_path)
        return path, self.call_version(net, path)

    # ---- starting a plugin ahead -------------------------------------------------------
    def start(self, net: NetworkConfig, command: str, rt: RuntimeConf, cni_path: Sequence[str]) -> Started | None:
        """Start the plugin that `command` (ADD or DEL) of `net` runs first, without its
        configuration: its exec and start-up overlap what runs before that call (the delegate
        before it); it acts only once the call gives it its stdin. None when it cannot be
        started ahead: the call then execs it as always (and raises whatever error it meets)."""
        if not net.plugins:
            return None
        return self._start(net.plugins[0] if command == "ADD" else net.plugins[-1], command, rt, cni_path)

    def _start(self, plugin: dict[str, Any], command: str, rt: RuntimeConf,
               cni_path: Sequence[str]) -> Started | None:
        try:
            path = self.find(plugin.get("type"), cni_path)
            env = self._env(command, rt, cni_path)
            return Started(self.executor, path, env, self.executor.spawn(path, env))
        except (CNIError, OSError):
            return None

    def _start_next(self, plugins: Sequence[dict[str, Any]], index: int, command: str, rt: RuntimeConf,
                    cni_path: Sequence[str]) -> Started | None:
        """Plugin `index + 1` of a list, started while plugin `index` runs."""
        if index + 1 >= len(plugins):
            return None
        return self._start(plugins[index + 1], command, rt, cni_path)

    def add_list(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
                 ready: Started | None = None) -> dict[str, Any]:
        """ADD every plugin in order (each gets the previous one's result as it printed it);
        returns the final result in canonical (latest) form. `ready`: the first plugin, started
        ahead (`start`); the next one is started while one runs."""
        prev: dict[str, Any] | None = None
        try:
            for index, plugin in enumerate(net.plugins):
                path, version = self._resolve(net, plugin, cni_path)
                conf = self._plugin_conf(net, plugin, version, rt, prev)
                if ready is None and index + 1 < len(net.plugins):
                    ready = self._start(plugin, "ADD", rt, cni_path)   # its start-up overlaps starting the next
                current, ready = ready, self._start_next(net.plugins, index, "ADD", rt, cni_path)
                try:
                    prev = self.exec_plugin(path, "ADD", conf, rt, cni_path, current)
                finally:
                    if current is not None:
                        current.cancel()
                assert prev is not None
        finally:
            if ready is not None:
                ready.cancel()
        assert prev is not None
        return cniresult.convert(prev, LATEST)

    def del_list(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
                 prev: dict[str, Any] | None, ready: Started | None = None) -> list[CNIError]:
        """DEL in reverse; carries on past errors and returns them. `ready`: the first plugin
        DEL runs (the list's last), started ahead; the next one is started while one runs."""
        errors: list[CNIError] = []
        plugins = list(reversed(net.plugins))
        try:
            for index, plugin in enumerate(plugins):
                if ready is None and index + 1 < len(plugins):
                    ready = self._start(plugin, "DEL", rt, cni_path)   # its start-up overlaps starting the next
                current, ready = ready, self._start_next(plugins, index, "DEL", rt, cni_path)
                try:
                    path, version = self._resolve(net, plugin, cni_path)
                    use_prev = prev if at_least(version, "0.4.0") else None
                    conf = self._plugin_conf(net, plugin, version, rt, use_prev)
                    self.exec_plugin(path, "DEL", conf, rt, cni_path, current)
                except CNIError as exc:
                    errors.append(exc)
                finally:
                    if current is not None:
                        current.cancel()
        finally:
            if ready is not None:
                ready.cancel()
        return errors

    def check_list(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
                   prev: dict[str, Any] | None) -> bool:
        """CHECK each plugin with the cached result; skipped (False) when below 0.4.0 or disabled."""
        if net.disable_check or not at_least(net.cni_version, "0.4.0"):
            return False
        ran = False
        for plugin in net.plugins:
            path, version = self._resolve(net, plugin, cni_path)
            if not at_least(version, "0.4.0"):
                continue
            conf = self._plugin_conf(net, plugin, version, rt, prev)
            self.exec_plugin(path, "CHECK", conf, rt, cni_path)
            ran = True
        return ran

    def gc_list(self, net: NetworkConfig, cni_path: Sequence[str], valid: list[dict[str, str]]) -> list[CNIError]:
        """GC goes only to plugins that advertise 1.1.0 (others answer GC with code 3)."""
        errors: list[CNIError] = []
        if net.disable_gc:
            return errors
        rt = RuntimeConf(container_id="", netns="", ifname="")
        for plugin in net.plugins:
            try:
                path = self.find(plugin.get("type"), cni_path)
                version = self._gc_version(net, path)
                if version is None:
                    continue
                conf = self._plugin_conf(net, plugin, version, rt, None)
                conf["cni.dev/valid-attachments"] = valid
                conf["cni.dev/attachments"] = valid
                self.exec_plugin(path, "GC", conf, rt, cni_path)
            except CNIError as exc:
                errors.append(exc)
        return errors

    def status_list(self, net: NetworkConfig, cni_path: Sequence[str]) -> None:
        """STATUS to plugins that advertise 1.1.0; raises the first plugin's error."""
        rt = RuntimeConf(container_id="", netns="", ifname="")
        for plugin in net.plugins:
            path = self.find(plugin.get("type"), cni_path)
            version = self._gc_version(net, path)
            if version is None:
                continue
            conf = self._plugin_conf(net, plugin, version, rt, None)
            self.exec_plugin(path, "STATUS", conf, rt, cni_path)


def _plugin_error(plugin: str, command: str, returncode: int, stdout: bytes, stderr: bytes) -> CNIError:
    text = stdout.strip()
    try:
        data = decode(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict) and ("code" in data or "msg" in data):
        err = from_plugin_output(data)
        return CNIError(err.code, f"plugin {plugin} {command} failed: {err.msg}", err.details)
    detail = (stderr.strip() or text)[:2000].decode(errors="replace")
    return CNIError(Code.DELEGATE_FAILED, f"plugin {plugin} {command} failed with exit status {returncode}",
                    detail)
