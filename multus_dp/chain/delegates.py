"""How one attachment's delegate runs: exec'd CNI plugins, or a built-in handler.

Built-ins (the SR-IOV delegate) register by plugin `type`; everything else is exec'd
through the CNI invoker. This is the seam between the chain and the plugins.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from multus_dp.cni.config import NetworkConfig
from multus_dp.cni.errors import CNIError
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf, Started


class BuiltinDelegate(Protocol):
    """A delegate handled in-process for single-plugin networks of one `type`. `extra` is the
    attachment's selection context (e.g. resourceName, resourceIndex)."""

    def add(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
            extra: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def delete(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
               prev: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> list[CNIError]: ...

    def check(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
              prev: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> bool: ...


class Delegates:
    def __init__(self, invoker: DelegateInvoker, builtins: dict[str, BuiltinDelegate] | None = None) -> None:
        self.invoker = invoker
        self.builtins = dict(builtins or {})

    def _builtin(self, net: NetworkConfig) -> BuiltinDelegate | None:
        if len(net.plugins) == 1:
            return self.builtins.get(str(net.plugins[0].get("type")))
        return None

    def start(self, net: NetworkConfig, command: str, rt: RuntimeConf, cni_path: Sequence[str]) -> Started | None:
        """The first plugin process of an exec'd delegate's `command`, started ahead of the call
        that gives it its configuration (cni/invoke.py `start`); None for a built-in."""
        if self._builtin(net) is not None:
            return None
        return self.invoker.start(net, command, rt, cni_path)

    def add(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
            extra: dict[str, Any] | None = None, ready: Started | None = None) -> dict[str, Any]:
        builtin = self._builtin(net)
        if builtin is not None:
            return builtin.add(net, rt, cni_path, extra)
        return self.invoker.add_list(net, rt, cni_path, ready)

    def delete(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
               prev: dict[str, Any] | None, extra: dict[str, Any] | None = None,
               ready: Started | None = None) -> list[CNIError]:
        builtin = self._builtin(net)
        if builtin is not None:
            return builtin.delete(net, rt, cni_path, prev, extra)
        return self.invoker.del_list(net, rt, cni_path, prev, ready)

    def check(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
              prev: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> bool:
        builtin = self._builtin(net)
        if builtin is not None:
            return builtin.check(net, rt, cni_path, prev, extra)
        return self.invoker.check_list(net, rt, cni_path, prev)
