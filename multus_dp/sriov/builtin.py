"""The node's SR-IOV side, built once per process context: the hardware inventory, the VF
pools, the kernel handles, the VF allocator and the built-in SR-IOV delegate (one per state
dir and invoker; one in production).

Everything is built on first use: thin mode pays for netops (and pyroute2) and for the
sysfs scan only when a pod actually has an SR-IOV network.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from multus_dp.cni.config import NetworkConfig
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf
from multus_dp.hardware.allocator import VfAllocator
from multus_dp.hardware.assignments import DeviceAssignments
from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.hardware.vfpools import VfPools
from multus_dp.netops.types import LinkOps, VfOps

from .delegate import PhaseObserver, SriovDelegate
from .settings import SriovKeys

SRIOV_TYPE = "sriov"


class SriovParts:
    """`inventory`: where the hardware model comes from (the daemon's udev-fed inventory);
    None: one sysfs scan, on the first pool lookup (thin mode).
    `link_ops`/`vf_ops`/`binder`: the kernel handles (default: netops, or the simulated PF of
    `sriovSimulatedPf`; the VFIO binder on `sysfsRoot`)."""

    def __init__(self, settings: SriovKeys, assignments: DeviceAssignments, *,
                 inventory: Callable[[], Inventory] | None = None,
                 link_ops: LinkOps | None = None, vf_ops: VfOps | None = None, binder: VfioBinder | None = None,
                 observe_phase: PhaseObserver | None = None, not_ready: Callable[[], str | None] | None = None) -> None:
        self.settings = settings
        # why SR-IOV is not ready on this node (node-prep running or failed); None: ready
        self.not_ready = not_ready or (lambda: None)
        self.assignments = assignments
        self.observe_phase = observe_phase
        self.binder = binder
        self._inventory_source = inventory
        self._scanned: Inventory | None = None
        self._link_ops = link_ops
        self._vf_ops = vf_ops
        self._lock = threading.Lock()
        self._allocators: dict[str, VfAllocator] = {}
        self._delegates: dict[tuple[str, int], LazySriov] = {}
        self.pools = VfPools(settings.sriovPoolsConfig, self.inventory)

    def inventory(self) -> Inventory:
        if self._inventory_source is not None:
            return self._inventory_source()
        with self._lock:
            if self._scanned is None:
                self._scanned = Inventory(self.settings.sysfsRoot)
            return self._scanned

    def unassigned_members(self, pool: str) -> Sequence[str]:
        """The pool's VFs multus-dp's own allocator may hand out: every VF the kubelet assigned
        to some pod is left out (one allocation truth: those belong to the pods that requested
        the resource)."""
        vfs = self.pools.members(pool)
        taken = self.assignments.assigned(pool) if vfs else set()
        return [v for v in vfs if v not in taken]

    def allocator(self, state_dir: str) -> VfAllocator:
        """The VF records under `state_dir`, allocating from the pools."""
        with self._lock:
            allocator = self._allocators.get(state_dir)
            if allocator is None:
                allocator = self._allocators[state_dir] = VfAllocator(state_dir, pools=self.unassigned_members)
            return allocator

    def builtin(self, state_dir: str, invoker: DelegateInvoker) -> LazySriov:
        """The built-in delegate for requests of `state_dir` run by `invoker` (the invoker runs
        the IPAM plugin; the context keeps one per delegateTimeout)."""
        key = (state_dir, id(invoker))
        with self._lock:
            lazy = self._delegates.get(key)
            if lazy is None:
                lazy = self._delegates[key] = LazySriov(lambda: self._delegate(state_dir, invoker), self.not_ready)
            return lazy

    def _delegate(self, state_dir: str, invoker: DelegateInvoker) -> SriovDelegate:
        link_ops, vf_ops = self._kernel()
        return SriovDelegate(invoker, link_ops, vf_ops, self.settings, self.allocator(state_dir),
                             assignments=self.assignments, binder=self.binder, observe_phase=self.observe_phase)

    def _kernel(self) -> tuple[LinkOps, VfOps]:
        with self._lock:
            if self._link_ops is None:
                from multus_dp.netops import get_link_ops

                self._link_ops = get_link_ops()
            if self._vf_ops is None:
                if self.settings.sriovSimulatedPf:
                    from .simulated import SimulatedPf

                    self._vf_ops = SimulatedPf(self.settings.sriovSimulatedPf)
                else:
                    from multus_dp.netops import get_vf_ops

                    self._vf_ops = get_vf_ops()
            return self._link_ops, self._vf_ops


class LazySriov:
    """A BuiltinDelegate that builds the real one on first use."""

    def __init__(self, build: Callable[[], SriovDelegate], not_ready: Callable[[], str | None]) -> None:
        self._build = build
        self._not_ready = not_ready
        self._lock = threading.Lock()
        self._delegate: SriovDelegate | None = None

    def get(self) -> SriovDelegate:
        with self._lock:
            if self._delegate is None:
                self._delegate = self._build()
            return self._delegate

    def add(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
        problem = self._not_ready()
        if problem:  # DEL and CHECK still run: what was attached must always be detachable
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"SR-IOV is not ready on this node: {problem}")
        return self.get().add(net, rt, cni_path, extra)

    def delete(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
               extra: dict[str, Any] | None = None) -> list[CNIError]:
        return self.get().delete(net, rt, cni_path, prev, extra)

    def check(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
              extra: dict[str, Any] | None = None) -> bool:
        return self.get().check(net, rt, cni_path, prev, extra)
