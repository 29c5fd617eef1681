"""The built-in SR-IOV delegate (`"type": "sriov"` networks), handled in-process.

ADD: pick and allocate the VF (deviceID / kubelet checkpoint / own pool), snapshot its whole
state into the allocation record (fsync'd) before touching anything, set the VF config
through the PF, then
- kernel mode (the VF has a kernel driver and a netdev): move the netdev into the pod under
  a temporary name, rename it to CNI_IFNAME, set MAC (read back: some drivers apply it late),
  MTU, up; IPAM; addresses and routes; gratuitous ARP / unsolicited NA;
- DPDK mode (the VF is on vfio-pci or a uio driver, no netdev): IPAM optional (reported, not
  configured); the device-info file (type pci, pci-address, pf-pci-address).
Every step registers its undo; a failure runs them in reverse, so the VF is left exactly as
it was. DEL finds the VF by the allocation record (PCI address), never by name, restores the
whole snapshot and releases the VF; a container that does not own a VF never touches it.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from multus_dp import logs
from multus_dp.base.fileio import atomic_write
from multus_dp.cni.config import NetworkConfig
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf
from multus_dp.cni.versions import LATEST
from multus_dp.hardware import sysfs
from multus_dp.hardware.allocator import Allocation, Owner, VfAllocator, netns_alive
from multus_dp.hardware.assignments import DeviceAssignments
from multus_dp.hardware.resolve import choose_vf
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.netops.errors import NetOpsError
from multus_dp.netops.types import LinkInfo, LinkOps, VfOps

from .announce import announce
from .config import SriovConfig, parse_sriov_config
from .findnetdev import find_vf_netdev
from .ipam import Ipam, ipam_version
from .settings import SriovKeys
from .snapshot import VfSnapshot
from .udevwait import wait_until_udev_done

log = logs.get("sriov")
DEVICE_INFO_VERSION = "1.0.0"
PhaseObserver = Callable[[str, float, dict[str, str]], None]


@dataclass
class LocatedVf:
    bdf: str
    index: int
    pf_bdf: str
    pf_netdev: str
    netdev: str | None
    driver: str | None
    driver_override: str | None

    @property
    def mode(self) -> str:
        return "dpdk" if sysfs.state_of(self.driver) in ("vfio-pci", "uio") else "kernel"


def locate_vf(root: str, bdf: str, who: str) -> LocatedVf:
    pf_bdf = sysfs.link_name(os.path.join(sysfs.pci_dir(root, bdf), "physfn"))
    if pf_bdf is None:
        raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: {bdf} is not an SR-IOV VF on this node "
                       f"(no physfn under {root})")
    index = next((i for i, b in sysfs.virtfn_links(root, pf_bdf).items() if b == bdf), None)
    pf_netdevs = sysfs.netdevs_of(root, pf_bdf)
    if index is None or not pf_netdevs:
        raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: the PF {pf_bdf} of VF {bdf} has "
                       f"{'no netdev' if not pf_netdevs else 'no virtfn link to it'}")
    netdevs = sysfs.netdevs_of(root, bdf)
    return LocatedVf(bdf=bdf, index=index, pf_bdf=pf_bdf, pf_netdev=pf_netdevs[0],
                     netdev=netdevs[0] if netdevs else None, driver=sysfs.driver_of(root, bdf),
                     driver_override=sysfs.driver_override_of(root, bdf))


@dataclass
class _Undo:
    # what a step returns is ignored: only that it ran (or raised) matters
    steps: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def push(self, what: str, fn: Callable[[], object]) -> None:
        self.steps.append((what, fn))

    def run(self, who: str) -> None:
        for what, fn in reversed(self.steps):
            try:
                fn()
            except Exception as exc:  # keep undoing: every later step still matters
                log.error("undo step %r failed for %s: %s", what, who, exc)


class SriovDelegate:
    """`settings`: the node keys (the daemon config, or thin mode's plugin config);
    `allocator`: the VF records of the request's state dir; `assignments`: what the kubelet
    gave each pod; `observe_phase`: the runner's phase metrics (allocation)."""

    def __init__(self, invoker: DelegateInvoker, link_ops: LinkOps, vf_ops: VfOps, settings: SriovKeys,
                 allocator: VfAllocator, *, assignments: DeviceAssignments | None = None,
                 binder: VfioBinder | None = None, observe_phase: PhaseObserver | None = None,
                 announce_addresses: bool = True) -> None:
        self.settings = settings
        self.binder = binder or VfioBinder(settings.sysfsRoot)
        self.observe_phase = observe_phase
        self.announce_addresses = announce_addresses
        self.links = link_ops
        self.vfs = vf_ops
        self.ipam = Ipam(invoker)
        self.allocator = allocator
        self.assignments = assignments

    # ---- helpers -------------------------------------------------------------------------
    @staticmethod
    def _config(net: NetworkConfig, rt: RuntimeConf) -> SriovConfig:
        conf = dict(net.plugins[0])
        conf["name"] = net.name
        if rt.capability_args:
            conf["runtimeConfig"] = {**(conf.get("runtimeConfig") or {}), **rt.capability_args}
        return parse_sriov_config(conf)

    @staticmethod
    def _owner(rt: RuntimeConf) -> Owner:
        args = dict(rt.args)
        pod = f"{args.get('K8S_POD_NAMESPACE', 'default')}/{args['K8S_POD_NAME']}" if args.get("K8S_POD_NAME") else ""
        return Owner(container_id=rt.container_id, netns=rt.netns, ifname=rt.ifname, pod=pod,
                     pod_uid=args.get("K8S_POD_UID", ""))

    @staticmethod
    def _who(owner: Owner, network: str) -> str:
        pod = f"pod {owner.pod}, " if owner.pod else f"container {owner.container_id[:12]}, "
        return f"{pod}network {network}, interface {owner.ifname}"

    def _find_allocation(self, owner: Owner, device_id: str | None) -> Allocation | None:
        """The VF this container+interface owns, by record (PCI address), never by name."""
        if device_id:
            alloc = self.allocator.record(device_id)
            if alloc and (alloc.owner.container_id, alloc.owner.ifname) == (owner.container_id, owner.ifname):
                return alloc
        for alloc in self.allocator.records():
            if (alloc.owner.container_id, alloc.owner.ifname) == (owner.container_id, owner.ifname):
                return alloc
        return None

    # ---- ADD -----------------------------------------------------------------------------
    def add(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str],
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg = self._config(net, rt)
        owner = self._owner(rt)
        who = self._who(owner, net.name)
        resource = cfg.resource_name or (extra or {}).get("resourceName")
        nth = int((extra or {}).get("resourceIndex", 0))
        start = time.monotonic()
        alloc = choose_vf(self.allocator, owner, device_id=cfg.device_id, resource_name=resource, nth=nth,
                          assignments=self.assignments)
        if self.observe_phase is not None:
            self.observe_phase("allocation", time.monotonic() - start, {"type": "sriov"})
        undo = _Undo()
        undo.push("release allocation", lambda: self.allocator.release(alloc.bdf, owner.container_id))
        try:
            return self._add(cfg, rt, cni_path, alloc, owner, who, undo, ipam_version(net))
        except CNIError as exc:
            undo.run(who)
            raise exc.prefixed(f"VF {alloc.bdf}") from exc
        except Exception as exc:
            undo.run(who)
            raise CNIError(Code.INTERNAL, f"VF {alloc.bdf}: {type(exc).__name__}: {exc}") from exc

    def _add(self, cfg: SriovConfig, rt: RuntimeConf, cni_path: Sequence[str], alloc: Allocation, owner: Owner,
             who: str, undo: _Undo, version: str | None) -> dict[str, Any]:
        vf = locate_vf(self.settings.sysfsRoot, alloc.bdf, who)
        snap = self._snapshot(alloc, vf, who)
        bind = cfg.bind_vfio and vf.mode == "kernel"
        mode = "dpdk" if bind else vf.mode
        self.allocator.update(alloc.bdf, owner.container_id, snapshot=snap.to_json(), mode=mode,
                              boundVfio=bind, network=cfg.name)
        if bind:
            self.binder.bind(vf.bdf)
            undo.push("give the VF back to its driver", lambda: self._give_back(snap))
            vf = locate_vf(self.settings.sysfsRoot, alloc.bdf, who)
        settings = cfg.vf_settings()
        if settings:
            # undo first: the kernel applies a VF request field by field, so a refused field
            # (igb: 802.1ad) leaves the earlier ones (the MAC) set
            undo.push("restore VF settings", lambda: self._restore_vf(snap))
            self.vfs.set_vf(vf.pf_netdev, vf.index, **settings)
        ipam_result: dict[str, Any] = {}
        if cfg.ipam:
            ipam_rt = RuntimeConf(rt.container_id, rt.netns, rt.ifname, rt.args)
            ipam_result = self.ipam.add(cfg, ipam_rt, cni_path, version)
            undo.push("IPAM DEL", lambda: self.ipam.delete(cfg, ipam_rt, cni_path, version, ipam_result))
        if mode == "kernel":
            iface = self._attach_netdev(cfg, rt, vf, snap, undo, who, ipam_result)
        else:
            iface = self._attach_dpdk(cfg, rt, vf, undo)
        result: dict[str, Any] = {"cniVersion": LATEST, "interfaces": [iface]}
        ips = [{k: v for k, v in ip.items() if k != "interface"} | {"interface": 0}
               for ip in ipam_result.get("ips") or []]
        if ips:
            result["ips"] = ips
        if ipam_result.get("routes"):
            result["routes"] = ipam_result["routes"]
        if ipam_result.get("dns"):
            result["dns"] = ipam_result["dns"]
        log.info("VF attached", extra={"vf": alloc.bdf, "pod": owner.pod, "ifname": rt.ifname,
                                        "network": cfg.name})
        return result

    def _snapshot(self, alloc: Allocation, vf: LocatedVf, who: str) -> VfSnapshot:
        previous = ((alloc.previous or {}).get("data") or {}).get("snapshot")
        if previous:  # reclaimed from a pod whose netns died: its snapshot is the original state
            return VfSnapshot.from_json(previous)
        if alloc.data.get("snapshot"):
            return VfSnapshot.from_json(alloc.data["snapshot"])
        states = {s.index: s for s in self.vfs.get_vfs(vf.pf_netdev)}
        if vf.index not in states:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: PF {vf.pf_netdev} does not report VF {vf.index}")
        mac = mtu = up = None
        if vf.mode == "kernel":
            if vf.netdev is None:
                raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: VF {vf.bdf} has a kernel driver "
                               f"({vf.driver}) but no netdev in the host netns; is it in another pod?")
            info = self.links.link_info(None, vf.netdev)
            mac, mtu, up = info.mac, info.mtu, info.up
        return VfSnapshot.take(bdf=vf.bdf, pf_bdf=vf.pf_bdf, pf_netdev=vf.pf_netdev, index=vf.index,
                               mode=vf.mode, vf=states[vf.index], netdev=vf.netdev, netdev_mac=mac, mtu=mtu,
                               up=up, driver=vf.driver, driver_override=vf.driver_override)

    def _restore_vf(self, snap: VfSnapshot) -> None:
        """Put the PF's view of the VF back to the snapshot, sending only what differs."""
        current = {s.index: s for s in self.vfs.get_vfs(snap.pf_netdev)}.get(snap.index)
        if current is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"PF {snap.pf_netdev} no longer reports VF {snap.index}")
        settings = snap.settings_to_restore(current)
        if settings:
            self.vfs.set_vf(snap.pf_netdev, snap.index, **settings)

    def _give_back(self, snap: VfSnapshot) -> None:
        """Back to the driver it had (igbvf, iavf, ...); its netdev returns under the kernel's name.
        The VF settings are restored last: igbvf registers its netdev's MAC (the one udev's MAC
        policy sets) with the PF, which then reports it as the VF's admin MAC instead of the
        snapshot's (00:00:00:00:00:00)."""
        self.binder.restore(snap.bdf, snap.driver, snap.driver_override)
        if snap.netdev:
            self._settle_returned_netdev(snap)
        self._restore_vf(snap)

    def _settle_returned_netdev(self, snap: VfSnapshot) -> None:
        """Let udev finish with the VF's new netdev, then give it the snapshot's name, MAC, MTU."""
        link = self._returned_link(snap.bdf)
        if link is None:
            return
        if not wait_until_udev_done(link.index, self.settings.udevSettleTimeout, self.settings.udevDir):
            log.warning("udev did not finish with the VF's netdev in time; restoring it anyway",
                        extra={"vf": snap.bdf, "netdev": link.name})
        now = self._returned_link(snap.bdf)   # udev may have renamed it meanwhile
        if now is not None and (now.name, now.mac, now.mtu) != (snap.netdev, snap.netdev_mac, snap.mtu):
            self.links.move_to_netns(now.name, None, snap.netdev or now.name, mac=snap.netdev_mac, mtu=snap.mtu,
                                     up=bool(snap.up))

    def _returned_link(self, bdf: str, tries: int = 20, interval_s: float = 0.05) -> LinkInfo | None:
        """The VF's netdev in our netns by PCI address; udev renames it under our feet (the name
        read from sysfs can be gone by the time we look it up), so look again a few times."""
        for _ in range(tries):
            for name in sysfs.netdevs_of(self.settings.sysfsRoot, bdf):
                try:
                    return self.links.link_info(None, name)
                except NetOpsError:
                    continue
            time.sleep(interval_s)
        return None

    def _attach_netdev(self, cfg: SriovConfig, rt: RuntimeConf, vf: LocatedVf, snap: VfSnapshot, undo: _Undo,
                       who: str, ipam_result: dict[str, Any]) -> dict[str, Any]:
        assert vf.netdev is not None
        self.links.move_to_netns(vf.netdev, rt.netns, rt.ifname, mac=cfg.mac, mtu=cfg.mtu, up=True)
        undo.push("move the netdev back", lambda: self.links.move_from_netns(
            rt.ifname, rt.netns, snap.netdev or vf.netdev or rt.ifname, mac=snap.netdev_mac, mtu=snap.mtu))
        info = self.links.link_info(rt.netns, rt.ifname)
        if cfg.mac:
            info = self._read_back_mac(rt, cfg.mac, who)
        addresses = [ip["address"] for ip in ipam_result.get("ips") or []]
        if addresses:
            self.links.add_addresses(rt.netns, rt.ifname, addresses)
            routes = _routes_with_gateways(ipam_result)
            if routes:
                self.links.add_routes(rt.netns, rt.ifname, routes)
            if self.announce_addresses:
                announce(rt.netns, rt.ifname, info.mac, addresses)
        return {"name": rt.ifname, "mac": info.mac, "mtu": info.mtu, "sandbox": rt.netns, "pciID": vf.bdf}

    def _read_back_mac(self, rt: RuntimeConf, mac: str, who: str) -> Any:
        for _ in range(max(1, self.settings.macReadbackTries)):
            info = self.links.link_info(rt.netns, rt.ifname)
            if info.mac == mac:
                return info
            time.sleep(self.settings.macReadbackInterval)
        raise CNIError(Code.KERNEL_OPERATION, f"{who}: the VF netdev's MAC is {info.mac}, not {mac}, after "
                       f"{self.settings.macReadbackTries} reads")

    def _attach_dpdk(self, cfg: SriovConfig, rt: RuntimeConf, vf: LocatedVf, undo: _Undo) -> dict[str, Any]:
        info = {"type": "pci", "version": DEVICE_INFO_VERSION,
                "pci": {"pci-address": vf.bdf, "pf-pci-address": vf.pf_bdf}}
        path = cfg.device_info_file or self.own_device_info_path(rt.container_id, rt.ifname)
        # readable by the workload; derived from the allocation record (which is durable), so no fsync
        atomic_write(path, json.dumps(info), mode=0o644, durable=False)
        undo.push("remove device-info", lambda: _unlink(path))
        iface: dict[str, Any] = {"name": rt.ifname, "sandbox": rt.netns, "pciID": vf.bdf}
        if cfg.mac:
            iface["mac"] = cfg.mac
        return iface

    def own_device_info_path(self, container_id: str, ifname: str) -> str:
        return os.path.join(self.allocator.state_dir, "devinfo", f"{container_id}_{ifname}.json")

    # ---- DEL -----------------------------------------------------------------------------
    def delete(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
               extra: dict[str, Any] | None = None) -> list[CNIError]:
        owner = self._owner(rt)
        try:
            cfg = self._config(net, rt)
        except CNIError as exc:
            # nothing can have been attached with a config that does not parse
            log.warning("DEL with an invalid sriov config: %s", exc.msg, extra={"network": net.name})
            return []
        errors: list[CNIError] = []
        alloc = self._find_allocation(owner, cfg.device_id)
        if alloc is None:
            log.info("DEL: this container owns no VF for this interface; nothing to restore",
                     extra={"container": rt.container_id, "ifname": rt.ifname, "network": net.name})
        else:
            snap_data = alloc.data.get("snapshot")
            snap = VfSnapshot.from_json(snap_data) if snap_data else None
            if snap is not None:
                vf = f"VF {alloc.bdf}"
                # VF settings first: on igb an admin MAC set by the PF makes the VF driver's own
                # MAC change (the netdev's restore) a request the PF may refuse
                self._step(errors, vf, "restore the VF settings", lambda: self._restore_vf(snap))
                if alloc.data.get("mode", snap.mode) == "kernel":
                    self._step(errors, vf, "return the netdev",
                               lambda: self._detach_netdev(rt, alloc.bdf, snap, cfg.mac))
                    # ... and again after: a VF driver may register its netdev's MAC with the PF
                    self._step(errors, vf, "restore the VF settings", lambda: self._restore_vf(snap))
                else:
                    _unlink(self.own_device_info_path(rt.container_id, rt.ifname))
                if alloc.data.get("boundVfio"):
                    self._step(errors, vf, "give the VF back to its driver", lambda: self._give_back(snap))
        if cfg.ipam:
            self._step(errors, "IPAM", "DEL",
                       lambda: self.ipam.delete(cfg, RuntimeConf(rt.container_id, rt.netns, rt.ifname, rt.args),
                                                cni_path, ipam_version(net), prev))
        if alloc is not None and not errors:
            self.allocator.release(alloc.bdf, owner.container_id)
            self.allocator.clean_temp_files()  # a killed daemon's half-written records
        return errors

    @staticmethod
    def _step(errors: list[CNIError], label: str, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except CNIError as exc:
            errors.append(CNIError(exc.code, f"{label}: {what}: {exc.msg}", exc.details))

    def _detach_netdev(self, rt: RuntimeConf, bdf: str, snap: VfSnapshot, set_mac: str | None = None) -> None:
        """Back to the host under its original name, MAC and MTU, found by what identifies it
        (PCI address, or the MACs and names we gave it), never by CNI_IFNAME alone: a crash
        mid-move leaves it under the temporary move name, in the pod or on the host. From the
        pod when it is there; otherwise from wherever the kernel put it (a dead netns returns
        it to the host, possibly as devN)."""
        original = snap.netdev or rt.ifname
        if rt.netns and netns_alive(rt.netns):
            in_pod = self._in_pod(rt, bdf, snap, set_mac)
            if in_pod is not None:
                self.links.move_from_netns(in_pod, rt.netns, original, mac=snap.netdev_mac, mtu=snap.mtu)
                return
        on_host = self._wait_for_returned_netdev(bdf, snap, set_mac)
        if not on_host:
            log.warning("DEL: the VF's netdev is neither in the pod nor on the host; only the VF settings "
                        "are restored", extra={"vf": bdf, "ifname": rt.ifname})
            return
        # same-netns "move": rename + MAC/MTU in one call, link left down as the kernel gave it back
        self.links.move_to_netns(on_host[0], None, original, mac=snap.netdev_mac, mtu=snap.mtu,
                                 up=bool(snap.up))

    def _in_pod(self, rt: RuntimeConf, bdf: str, snap: VfSnapshot, set_mac: str | None) -> str | None:
        """The VF netdev's name in the pod: CNI_IFNAME after a complete ADD (one lookup), else
        found by identity (the temporary name a crash mid-move left)."""
        try:
            self.links.link_info(rt.netns, rt.ifname)
        except NetOpsError:
            pass
        else:
            return rt.ifname
        try:
            return find_vf_netdev(self.links, rt.netns, bdf, {rt.ifname}, {snap.netdev_mac, set_mac})
        except NetOpsError as exc:
            log.warning("DEL: cannot list the pod's links (%s)", exc.msg, extra={"vf": bdf, "ifname": rt.ifname})
            return None

    def _wait_for_returned_netdev(self, bdf: str, snap: VfSnapshot | None = None,
                                  set_mac: str | None = None) -> list[str]:
        """The VF's netdev names on the host: by sysfs (PCI address), else by identity (a crash
        mid-move back left it under the temporary name). A deleted netns hands its physical
        netdevs back asynchronously (the kernel's netns cleanup; slow under load), and a DEL
        can come first: wait for it, up to `vfNetdevReturnTimeout`."""
        deadline = time.monotonic() + self.settings.vfNetdevReturnTimeout
        while True:
            on_host = [name for name in sysfs.netdevs_of(self.settings.sysfsRoot, bdf) if self._on_host(name)]
            if not on_host and snap is not None:
                try:
                    found = find_vf_netdev(self.links, None, bdf, {snap.netdev} if snap.netdev else set(),
                                           {snap.netdev_mac, set_mac})
                except NetOpsError:
                    found = None
                on_host = [found] if found else []
            if on_host or time.monotonic() >= deadline:
                return on_host
            time.sleep(0.05)

    def _on_host(self, name: str) -> bool:
        try:
            self.links.link_info(None, name)
        except NetOpsError:
            return False
        return True

    # ---- CHECK ---------------------------------------------------------------------------
    def check(self, net: NetworkConfig, rt: RuntimeConf, cni_path: Sequence[str], prev: dict[str, Any] | None,
              extra: dict[str, Any] | None = None) -> bool:
        cfg = self._config(net, rt)
        owner = self._owner(rt)
        who = self._who(owner, net.name)
        alloc = self._find_allocation(owner, cfg.device_id)
        if alloc is None:
            raise CNIError(Code.UNKNOWN_CONTAINER, f"{who}: no VF is allocated to this attachment")
        snap = VfSnapshot.from_json(alloc.data["snapshot"])
        state = {s.index: s for s in self.vfs.get_vfs(snap.pf_netdev)}.get(snap.index)
        if state is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: PF {snap.pf_netdev} no longer reports VF {snap.index}")
        wanted = cfg.vf_settings()
        current = {"mac": state.mac, "vlan": state.vlan, "qos": state.qos, "vlan_proto": state.vlan_proto,
                   "spoofchk": state.spoofchk, "trust": state.trust, "link_state": state.link_state,
                   "min_tx_rate": state.min_tx_rate, "max_tx_rate": state.max_tx_rate}
        wrong = {k: (v, current[k]) for k, v in wanted.items() if current[k] != v}
        if wrong:
            raise CNIError(Code.INVALID_CONFIG, f"{who}: VF {alloc.bdf} settings changed: " + ", ".join(
                f"{k} is {now!r}, want {want!r}" for k, (want, now) in wrong.items()))
        if alloc.data.get("mode", snap.mode) == "kernel":
            try:
                info = self.links.link_info(rt.netns, rt.ifname)
            except NetOpsError as exc:
                raise CNIError(Code.UNKNOWN_CONTAINER, f"{who}: interface missing in the pod: {exc.msg}") from exc
            if cfg.mac and info.mac != cfg.mac:
                raise CNIError(Code.INVALID_CONFIG, f"{who}: MAC is {info.mac}, want {cfg.mac}")
        if cfg.ipam and prev:
            self.ipam.check(cfg, RuntimeConf(rt.container_id, rt.netns, rt.ifname, rt.args), cni_path,
                            ipam_version(net), prev)
        return True


def _routes_with_gateways(ipam_result: dict[str, Any]) -> list[dict[str, str]]:
    """IPAM routes without `gw` go through the gateway of their family (as sriov-cni does)."""
    gateways: dict[bool, str] = {}
    for ip in ipam_result.get("ips") or []:
        if ip.get("gateway"):
            gateways.setdefault(":" in ip["address"], ip["gateway"])
    routes = []
    for route in ipam_result.get("routes") or []:
        gw = route.get("gw") or gateways.get(":" in route["dst"])
        routes.append({"dst": route["dst"], **({"gw": gw} if gw else {})})
    return routes


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
