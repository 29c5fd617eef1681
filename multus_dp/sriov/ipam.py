"""The IPAM delegate of an SR-IOV network (host-local, static, dhcp, ...), exec'd like libcni does."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multus_dp.cni import result as cniresult
from multus_dp.cni.config import NetworkConfig
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf
from multus_dp.cni.versions import LATEST, at_least, require_supported

from .config import SriovConfig


def ipam_version(net: NetworkConfig) -> str | None:
    """The version the IPAM plugin is called with: the network's own cniVersion, as sriov-cni
    hands its own config to IPAM; None when the config declares none (then negotiated)."""
    return net.cni_version if net.version_declared else None


class Ipam:
    def __init__(self, invoker: DelegateInvoker) -> None:
        self.invoker = invoker

    def _conf(self, cfg: SriovConfig, version: str, prev: dict[str, Any] | None) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": version, "name": cfg.name, "type": "sriov", "ipam": cfg.ipam}
        if cfg.ips:
            conf["runtimeConfig"] = {"ips": list(cfg.ips)}
        if prev is not None:
            conf["prevResult"] = cniresult.convert(prev, version)
        return conf

    def _plugin(self, cfg: SriovConfig, cni_path: Sequence[str], config_version: str | None) -> tuple[str, str]:
        assert cfg.ipam is not None
        path = self.invoker.find(cfg.ipam.get("type"), cni_path)
        if config_version is None:
            return path, self.invoker.negotiate(path, "0.1.0")
        return path, require_supported(config_version)

    def add(self, cfg: SriovConfig, rt: RuntimeConf, cni_path: Sequence[str], version: str | None) -> dict[str, Any]:
        path, negotiated = self._plugin(cfg, cni_path, version)
        out = self.invoker.exec_plugin(path, "ADD", self._conf(cfg, negotiated, None), rt, cni_path)
        assert out is not None
        return cniresult.convert(out, LATEST)

    def delete(self, cfg: SriovConfig, rt: RuntimeConf, cni_path: Sequence[str], version: str | None,
               prev: dict[str, Any] | None) -> None:
        path, negotiated = self._plugin(cfg, cni_path, version)
        use_prev = prev if prev and at_least(negotiated, "0.4.0") else None
        self.invoker.exec_plugin(path, "DEL", self._conf(cfg, negotiated, use_prev), rt, cni_path)

    def check(self, cfg: SriovConfig, rt: RuntimeConf, cni_path: Sequence[str], version: str | None,
              prev: dict[str, Any] | None) -> None:
        path, negotiated = self._plugin(cfg, cni_path, version)
        if at_least(negotiated, "0.4.0"):
            self.invoker.exec_plugin(path, "CHECK", self._conf(cfg, negotiated, prev), rt, cni_path)
