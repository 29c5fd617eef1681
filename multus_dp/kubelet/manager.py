"""The device plugin manager: one endpoint per pool, kept registered and current.

One thread does everything, every `resync_interval` seconds, or at once when the hardware
model changes or something changes in the kubelet's directory, the pools file's directory or
the allocation records' directory (inotify, dirwatch.py):
- the pools file changed (mtime/size/inode) -> reload it: new pools get an endpoint and are
  registered, removed pools stop (their socket goes), kept pools keep their endpoint and send
  the list their new selectors give (VFs they no longer select leave the list);
- `kubelet.sock` was recreated (the kubelet restarted: it also deletes our sockets) or an
  endpoint's socket vanished -> serve again on a fresh socket and register again; a failed
  registration (kubelet not up yet) is retried on every pass;
- each pool's VFs are checked against sysfs (a VF gone or rebound without a udev event
  refreshes the model), their health evaluated (kubelet/devices.py) and pushed to the
  endpoints, whose ListAndWatch streams send the new list when it changed.
`stop()` (SIGTERM, through the daemon's stop hooks) stops every endpoint and removes its socket.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import grpc

from multus_dp import logs
from multus_dp.cni.errors import CNIError
from multus_dp.hardware import pools as pools_mod
from multus_dp.hardware import sysfs
from multus_dp.hardware.allocator import VfAllocator
from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.pools import PoolsConfig, ResourceConfig
from multus_dp.hardware.sysfs import NodeModel
from multus_dp.kubelet import devices as dv
from multus_dp.kubelet.dirwatch import DirWatch
from multus_dp.kubelet.plugin import PoolEndpoint, register

log = logs.get("kubelet.manager")
KUBELET_SOCKET = "kubelet.sock"
FileId = tuple[int, int, int, int] | None   # (device, inode, size, mtime_ns) or None: absent


def _file_id(path: str) -> FileId:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Pool:
    resource: str
    config: ResourceConfig
    endpoint: PoolEndpoint
    known: set[str] = field(default_factory=set)   # every VF the pool ever listed
    registered_at: float | None = None
    register_error: str | None = None
    serve_error: str | None = None


@dataclass
class ManagerSettings:
    plugins_dir: str
    pools_path: str
    state_dir: str
    resync_interval: float = 1.0
    register_timeout: float = 5.0
    dev_root: str = "/dev"


class DevicePluginManager:
    def __init__(self, settings: ManagerSettings, inventory: Inventory,
                 allocator: VfAllocator | None = None, not_ready: Callable[[], str | None] | None = None) -> None:
        self.settings = settings
        # SR-IOV not ready on this node (node-prep running or failed): nothing is advertised healthy
        self.not_ready = not_ready or (lambda: None)
        self.inventory = inventory
        self.allocator = allocator or VfAllocator(settings.state_dir)
        self.kubelet_socket = os.path.join(settings.plugins_dir, KUBELET_SOCKET)
        self._pools: dict[str, _Pool] = {}
        self._config = PoolsConfig()
        self._config_id: FileId | tuple[str] = ("unread",)
        self._config_error: str | None = None
        self._kubelet_id: FileId = None
        self._lock = threading.Lock()       # one pass at a time (the loop, or a test's sync())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        inventory.subscribe(self._model_changed)
        # at once: the kubelet's directory (restarts), the pools file's (ConfigMap updates) and
        # the allocation records' (a VF our own allocator takes turns Unhealthy in milliseconds)
        self._dirwatch = DirWatch([settings.plugins_dir, os.path.dirname(os.path.abspath(settings.pools_path)),
                                   self.allocator.dir], self._wake.set)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.sync()
        self._dirwatch.start()
        self._thread = threading.Thread(target=self._loop, name="device-plugins", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.resync_interval + self.settings.register_timeout + 5)
        self._dirwatch.stop()
        with self._lock:
            for pool in self._pools.values():
                pool.endpoint.stop()
            self._pools.clear()
        log.info("device plugins stopped; sockets removed")

    def _model_changed(self, model: NodeModel, changed: set[str] | None) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.resync_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._dirwatch.ensure()
                self.sync()
            except Exception:   # keep serving; the next pass tries again
                log.exception("device plugin pass failed")

    # ---- one pass ------------------------------------------------------------------------
    def sync(self) -> None:
        with self._lock:
            self._reload_config()
            kubelet_id = _file_id(self.kubelet_socket)
            kubelet_restarted = kubelet_id != self._kubelet_id and kubelet_id is not None
            self._kubelet_id = kubelet_id
            for pool in self._pools.values():
                if not pool.endpoint.socket_intact():
                    if pool.serve_error is None:
                        log.warning("socket of %s is gone (kubelet restart?): serving again", pool.resource)
                    pool.endpoint.stop(grace=0)
                    self._serve(pool)
                    pool.registered_at = None
                elif kubelet_restarted:
                    pool.registered_at = None
            self._refresh_devices()
            if kubelet_id is not None:
                for pool in self._pools.values():
                    if pool.registered_at is None and pool.serve_error is None:
                        self._register(pool)
            self.passes += 1

    def _reload_config(self) -> None:
        current = _file_id(self.settings.pools_path)
        if current == self._config_id:
            return
        self._config_id = current
        if current is None:
            config, self._config_error = PoolsConfig(), f"pools file {self.settings.pools_path} does not exist"
        else:
            try:
                config, self._config_error = pools_mod.load(self.settings.pools_path), None
            except CNIError as exc:   # keep serving the last good pools
                self._config_error = exc.msg
                log.error("pools config not reloaded: %s", exc.msg)
                return
        self._config = config
        wanted: dict[str, ResourceConfig] = {}
        sockets: dict[str, str] = {}
        for rc in config.net_pools():
            resource = rc.name(config.default_prefix)
            clash = sockets.setdefault(rc.resourceName, resource)
            if clash != resource:   # one socket per resourceName: the second pool cannot have one
                self._config_error = (f"pools {clash} and {resource} share the resourceName {rc.resourceName!r}; "
                                      f"only {clash} is advertised")
                log.error("%s", self._config_error)
                continue
            wanted[resource] = rc
        for resource in [r for r in self._pools if r not in wanted]:
            log.info("pool %s removed from the pools config: its device plugin stops", resource)
            self._pools.pop(resource).endpoint.stop()
        for resource, rc in wanted.items():
            pool = self._pools.get(resource)
            if pool is not None:
                pool.config = rc
                pool.endpoint.policy = rc.allocatePolicy
                pool.known = set()   # the new selectors decide anew; VFs they drop leave the list
                continue
            socket_path = os.path.join(self.settings.plugins_dir, dv.socket_name(rc.resourceName))
            endpoint = PoolEndpoint(resource, socket_path, sysfs_root=self.inventory.sysfs_root,
                                    dev_root=self.settings.dev_root, policy=rc.allocatePolicy, taken=self._held_by_us)
            self._pools[resource] = pool = _Pool(resource, rc, endpoint)
            self._serve(pool)
        log.info("pools config loaded: %s", ", ".join(wanted) or "no pools")

    def _serve(self, pool: _Pool) -> None:
        """Start the endpoint; a failure (no such directory yet, a socket path over 107 bytes)
        is kept for `status` and retried on the next pass."""
        try:
            pool.endpoint.start()
        except (OSError, RuntimeError) as exc:
            if pool.serve_error is None:
                log.error("cannot serve the device plugin of %s on %s: %s", pool.resource,
                          pool.endpoint.socket_path, exc)
            pool.serve_error = f"cannot serve on {pool.endpoint.socket_path}: {exc}"
            return
        pool.serve_error = None

    def _register(self, pool: _Pool) -> None:
        endpoint = os.path.basename(pool.endpoint.socket_path)
        try:
            register(self.kubelet_socket, endpoint, pool.resource, self.settings.register_timeout)
        except grpc.RpcError as exc:
            pool.register_error = f"{exc.code().name}: {exc.details()}"
            log.warning("registering %s with the kubelet failed (%s); retrying", pool.resource, pool.register_error)
            return
        pool.registered_at, pool.register_error = time.time(), None
        log.info("registered %s with the kubelet (endpoint %s)", pool.resource, endpoint)

    def _refresh_devices(self) -> None:
        model = self._verified_model()
        assigned = self._config.assign(model)
        ours = self._ours()
        root = model.sysfs_root
        link: dict[str, bool] = {}

        def link_down(pf_bdf: str) -> bool:
            if pf_bdf not in link:
                link[pf_bdf] = dv.pf_link_down(root, model, pf_bdf)
            return link[pf_bdf]

        not_ready = self.not_ready()
        for resource, pool in self._pools.items():
            pool.known.update(assigned.get(resource, []))
            devices = dv.evaluate(resource, pool.known, model, self._config, ours=ours, link_down=link_down)
            if not_ready:
                devices = [replace(d, problem=d.problem or f"SR-IOV not ready: {not_ready}") for d in devices]
            if pool.endpoint.update(devices):
                bad = [f"{d.bdf} ({d.problem})" for d in devices if not d.healthy]
                log.info("%s: %d device(s), unhealthy: %s", resource, len(devices), ", ".join(bad) or "none")

    def _verified_model(self) -> NodeModel:
        """The inventory's model, refreshed first for any pool VF whose sysfs entry no longer
        agrees with it (gone, or another driver): a missed udev event costs one pass, not a rescan."""
        model = self.inventory.model
        root = model.sysfs_root
        stale = set()
        for pool in self._pools.values():
            for bdf in pool.known:
                vf = model.vf(bdf)
                present = os.path.exists(sysfs.pci_dir(root, bdf))
                if vf is None:
                    if present:
                        stale.add(bdf)
                elif not present or sysfs.driver_of(root, bdf) != vf.driver:
                    stale.add(bdf)
        return self.inventory.refresh(stale) if stale else model

    def _ours(self) -> set[str]:
        """VFs multus-dp's own pool allocator holds (for pods that did not request a resource)."""
        try:
            records = self.allocator.records()
        except CNIError as exc:
            log.warning("allocation records unreadable: %s", exc.msg)
            return set()
        return {a.bdf for a in records if a.source == "pool" and self.allocator.netns_alive(a.owner.netns)}

    def _held_by_us(self, bdf: str) -> bool:
        try:
            alloc = self.allocator.record(bdf)
        except CNIError:
            return False
        return alloc is not None and alloc.source == "pool" and self.allocator.netns_alive(alloc.owner.netns)

    # ---- reporting -----------------------------------------------------------------------
    def status(self, holders: Callable[[], dict[str, str]] | None = None) -> dict[str, Any]:
        """Per pool: resource name, socket, registration, devices with health (and holder)."""
        held = holders() if holders else {}
        with self._lock:
            pools = list(self._pools.values())
            error = self._config_error
        out = []
        for pool in pools:
            devices = pool.endpoint.devices()
            out.append({
                "resource": pool.resource, "socket": pool.endpoint.socket_path,
                "registered": pool.registered_at is not None,
                "registerError": pool.serve_error or pool.register_error,
                "advertised": len(devices), "healthy": sum(d.healthy for d in devices),
                "unhealthy": len(devices) - sum(d.healthy for d in devices),
                "devices": [{"id": d.bdf, "health": d.health, "numaNode": d.numa_node, "problem": d.problem or None,
                             "holder": held.get(d.bdf)} for d in devices],
            })
        return {"kubeletSocket": self.kubelet_socket, "configError": error, "pools": out}
