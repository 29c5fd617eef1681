"""Starting the device plugins from the daemon: the one function the daemon's wiring calls."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from multus_dp import logs

if TYPE_CHECKING:
    from multus_dp.daemon.config import DaemonConfig
    from multus_dp.hardware.inventory import Inventory
    from multus_dp.kubelet.manager import DevicePluginManager

log = logs.get("kubelet")


def start_device_plugins(config: DaemonConfig, inventory: Inventory, stop_hooks: list[Callable[[], None]],
                         not_ready: Callable[[], str | None] | None = None) -> DevicePluginManager | None:
    """One device plugin endpoint per pool of `sriovPoolsConfig`, registered with the kubelet
    (None when `devicePlugin` is false). Its stop (remove our sockets) joins `stop_hooks`."""
    if not config.devicePlugin:
        log.info("devicePlugin is false: no device plugin registered (the SR-IOV network device plugin "
                 "advertises the VFs)")
        return None
    from multus_dp.kubelet.manager import DevicePluginManager, ManagerSettings

    manager = DevicePluginManager(ManagerSettings(
        plugins_dir=config.kubeletDevicePluginsDir, pools_path=config.sriovPoolsConfig, state_dir=config.stateDir,
        resync_interval=config.devicePluginResyncInterval, register_timeout=config.podResourcesTimeout), inventory,
        not_ready=not_ready)
    manager.start()
    stop_hooks.append(manager.stop)
    return manager


def device_plugin_status(config: DaemonConfig, manager: DevicePluginManager | None) -> dict[str, Any]:
    """`status`: the device plugins per pool (who holds which VF, from PodResources) and the
    source the CNI side reads assignments from."""
    from multus_dp.kubelet.assignments import for_conf

    assignments = for_conf(config.podResourcesSocket, config.kubeletCheckpoint, config.podResourcesTimeout)
    out: dict[str, Any] = {"enabled": manager is not None, "assignmentsSource": assignments.current_source()}

    def holders() -> dict[str, str]:
        try:
            return assignments.holders()
        except Exception as exc:   # status must answer even when the kubelet does not
            out["holdersError"] = str(exc)
            return {}

    if manager is not None:
        out.update(manager.status(holders))
    return out
