"""Building the SR-IOV delegate for a runner, lazily: thin mode pays for netops (and
pyroute2) only when a pod actually has an SR-IOV network."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from multus_dp.cni.config import NetworkConfig
from multus_dp.cni.errors import CNIError
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf
from multus_dp.networks.conf import MultusConf

from .delegate import SriovDelegate, SriovSettings

SRIOV_TYPE = "sriov"


def settings_for(conf: MultusConf) -> SriovSettings:
    return SriovSettings(sysfs_root=conf.sysfsRoot, state_dir=conf.stateDir, checkpoint=conf.kubeletCheckpoint,
                         mac_readback_tries=conf.macReadbackTries, mac_readback_interval=conf.macReadbackInterval,
                         udev_dir=conf.udevDir, udev_settle_timeout=conf.udevSettleTimeout,
                         netdev_return_timeout=conf.vfNetdevReturnTimeout)


def pool_members(conf: MultusConf):
    """Pool name -> its VFs, from the device-plugin config and a fresh sysfs scan."""
    def members(pool: str) -> Sequence[str]:
        from multus_dp.hardware import pools, sysfs

        config = pools.load(conf.sriovPoolsConfig)
        return config.assign(sysfs.scan(conf.sysfsRoot)).get(pool, [])
    return members


class LazySriov:
    """A BuiltinDelegate that builds the real one on first use."""

    def __init__(self, conf: MultusConf, invoker: DelegateInvoker) -> None:
        self.conf = conf
        self.invoker = invoker
        self._lock = threading.Lock()
        self._delegate: SriovDelegate | None = None
        self.observe_phase: Any = None

    def get(self) -> SriovDelegate:
        with self._lock:
            if self._delegate is None:
                from multus_dp.netops import get_link_ops, get_vf_ops

                vf_ops = get_vf_ops()
                if self.conf.sriovSimulatedPf:
                    from .simulated import SimulatedPf
                    vf_ops = SimulatedPf(self.conf.sriovSimulatedPf)
                self._delegate = SriovDelegate(self.invoker, get_link_ops(), vf_ops, settings_for(self.conf),
                                               pools=pool_members(self.conf))
            self._delegate.observe_phase = self.observe_phase
            return self._delegate

    def add(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.get().add(net, rt, cni_path, extra)

    def delete(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
               extra: dict[str, Any] | None = None) -> list[CNIError]:
        return self.get().delete(net, rt, cni_path, prev, extra)

    def check(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
              extra: dict[str, Any] | None = None) -> bool:
        return self.get().check(net, rt, cni_path, prev, extra)


def sriov_builtins(conf: MultusConf, invoker: DelegateInvoker) -> dict[str, Any]:
    if conf.sriovExternal:
        return {}  # `"type": "sriov"` goes to an sriov binary in CNI_PATH instead
    return {SRIOV_TYPE: LazySriov(conf, invoker)}
