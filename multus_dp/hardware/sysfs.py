"""A read-only model of the node's PCI network devices, read from a sysfs root.

Only class 0x02 (network controller) functions are modelled. A function with a `physfn`
link is a VF; every other one is a PF (with `total_vfs == 0` when it cannot do SR-IOV).
`scan()` reads everything once; `refresh()` re-reads a few devices for the udev watcher.
The root is injectable so tests build a temp tree and the lab reads the real `/sys`.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from multus_dp.base import defaults

DEFAULT_SYSFS_ROOT = defaults.SYSFS_ROOT
NETWORK_CLASS_PREFIX = "0x02"

State = Literal["kernel", "vfio-pci", "uio", "unbound"]
USERSPACE_DRIVERS: dict[str, State] = {"vfio-pci": "vfio-pci", "uio_pci_generic": "uio", "igb_uio": "uio"}
# ARPHRD_* values of /sys/class/net/<if>/type, spelled as netlink's EncapType (the device
# plugin's `linkTypes` selector compares against these names)
LINK_TYPES = {1: "ether", 32: "infiniband", 772: "loopback", 65534: "none"}


def state_of(driver: str | None) -> State:
    if not driver:
        return "unbound"
    return USERSPACE_DRIVERS.get(driver, "kernel")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


@dataclass(kw_only=True)
class PciFunction:
    bdf: str
    vendor: str                  # "8086" (no 0x)
    device: str                  # "154c"
    pci_class: str               # "0x020000"
    driver: str | None
    driver_override: str | None
    numa_node: int               # -1: no NUMA information
    iommu_group: str | None
    netdevs: list[str] = field(default_factory=list)
    link_type: str | None = None  # of the first netdev; "ether", "infiniband", ...

    @property
    def state(self) -> State:
        return state_of(self.driver)

    @property
    def netdev(self) -> str | None:
        return self.netdevs[0] if self.netdevs else None

    def to_json(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in asdict(self).items()} | {"state": self.state}


@dataclass(kw_only=True)
class PF(PciFunction):
    total_vfs: int = 0
    num_vfs: int = 0
    drivers_autoprobe: bool | None = None
    vfs: dict[int, str] = field(default_factory=dict)   # VF index -> VF bdf

    @property
    def sriov_capable(self) -> bool:
        return self.total_vfs > 0


@dataclass(kw_only=True)
class VF(PciFunction):
    index: int
    pf_bdf: str


@dataclass
class NodeModel:
    sysfs_root: str
    pfs: dict[str, PF] = field(default_factory=dict)
    vfs: dict[str, VF] = field(default_factory=dict)
    iommu_groups: dict[str, list[str]] = field(default_factory=dict)   # group -> member bdfs
    iommu_present: bool = False
    noiommu_mode: bool = False

    def vf(self, bdf: str) -> VF | None:
        return self.vfs.get(bdf)

    def pf(self, bdf: str) -> PF | None:
        return self.pfs.get(bdf)

    def device(self, bdf: str) -> PF | VF | None:
        return self.vfs.get(bdf) or self.pfs.get(bdf)

    def pf_of(self, bdf: str) -> PF | None:
        """The PF of a VF (or the PF itself when given a PF's address)."""
        vf = self.vfs.get(bdf)
        return self.pfs.get(vf.pf_bdf) if vf else self.pfs.get(bdf)

    def vfs_of(self, pf_bdf: str) -> list[VF]:
        pf = self.pfs.get(pf_bdf)
        if not pf:
            return []
        return [self.vfs[b] for _, b in sorted(pf.vfs.items()) if b in self.vfs]

    def pf_by_name(self, name_or_bdf: str) -> PF | None:
        if name_or_bdf in self.pfs:
            return self.pfs[name_or_bdf]
        return next((pf for pf in self.pfs.values() if name_or_bdf in pf.netdevs), None)

    def by_netdev(self, ifname: str) -> PF | VF | None:
        vf = next((v for v in self.vfs.values() if ifname in v.netdevs), None)
        return vf if vf is not None else next((p for p in self.pfs.values() if ifname in p.netdevs), None)

    def iommu_members(self, bdf: str) -> list[str]:
        dev = self.device(bdf)
        if not dev or dev.iommu_group is None:
            return []
        return list(self.iommu_groups.get(dev.iommu_group, []))

    def numa_nodes(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for dev in (*self.pfs.values(), *self.vfs.values()):
            out.setdefault(dev.numa_node, []).append(dev.bdf)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "sysfsRoot": self.sysfs_root,
            "iommu": {"present": self.iommu_present, "noiommuMode": self.noiommu_mode},
            "pfs": [pf.to_json() | {"vfs": {str(i): b for i, b in sorted(pf.vfs.items())}}
                    for pf in sorted(self.pfs.values(), key=lambda p: p.bdf)],
            "vfs": [vf.to_json() for vf in sorted(self.vfs.values(), key=lambda v: (v.pf_bdf, v.index))],
            "iommuGroups": {g: m for g, m in sorted(self.iommu_groups.items(), key=lambda kv: _group_key(kv[0]))},
            "numaNodes": {str(k): v for k, v in self.numa_nodes().items()},
        }


def _group_key(group: str) -> tuple[int, str]:
    return (int(group), "") if group.isdigit() else (1 << 30, group)


# --- reading -----------------------------------------------------------------------------

def read_text(path: str) -> str | None:
    # os.open/os.read: sysfs attributes are tiny and a buffered file object costs more than the read
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode(errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_int(path: str, default: int) -> int:
    text = read_text(path)
    try:
        return int(text, 0) if text is not None else default
    except ValueError:
        return default


def link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def pci_dir(root: str, bdf: str) -> str:
    return os.path.join(root, "bus", "pci", "devices", bdf)


def driver_of(root: str, bdf: str) -> str | None:
    return link_name(os.path.join(pci_dir(root, bdf), "driver"))


def driver_override_of(root: str, bdf: str) -> str | None:
    value = read_text(os.path.join(pci_dir(root, bdf), "driver_override"))
    return None if value in (None, "", "(null)") else value


def netdevs_of(root: str, bdf: str) -> list[str]:
    base = pci_dir(root, bdf)
    names = _listdir(os.path.join(base, "net"))
    if not names:
        # virtio NICs hang their netdev one level down: <bdf>/virtio0/net/eth0
        names = [n for sub in _listdir(base) if sub.startswith("virtio")
                 for n in _listdir(os.path.join(base, sub, "net"))]
    return sorted(names)


def virtfn_links(root: str, pf_bdf: str) -> dict[int, str]:
    """VF index -> VF bdf from the PF's `virtfnN` links."""
    base = pci_dir(root, pf_bdf)
    out: dict[int, str] = {}
    for name in _listdir(base):
        if name.startswith("virtfn") and name[6:].isdigit():
            target = link_name(os.path.join(base, name))
            if target:
                out[int(name[6:])] = target
    return out


def iommu_present(root: str) -> bool:
    return bool(_listdir(os.path.join(root, "class", "iommu")))


def noiommu_enabled(root: str) -> bool:
    value = read_text(os.path.join(root, "module", "vfio", "parameters", "enable_unsafe_noiommu_mode"))
    return value in ("Y", "y", "1")


def iommu_group_members(root: str, group: str) -> list[str]:
    return sorted(_listdir(os.path.join(root, "kernel", "iommu_groups", group, "devices")))


def netdev_link_type(root: str, bdf: str, ifname: str) -> str | None:
    value = read_text(os.path.join(root, "class", "net", ifname, "type"))
    if value is None or not value.isdigit():
        return None
    return LINK_TYPES.get(int(value), value)


def netdev_is_up(root: str, bdf: str, ifname: str) -> bool:
    """IFF_UP from the netdev's `flags` (administratively up)."""
    return bool(_read_int(os.path.join(root, "class", "net", ifname, "flags"), 0) & 0x1)


def _read_common(root: str, bdf: str, pci_class: str | None = None) -> dict[str, Any] | None:
    base = f"{root}/bus/pci/devices/{bdf}"
    pci_class = pci_class or read_text(f"{base}/class")
    if pci_class is None:
        return None
    netdevs = netdevs_of(root, bdf)
    return {
        "bdf": bdf,
        "vendor": (read_text(f"{base}/vendor") or "").removeprefix("0x"),
        "device": (read_text(f"{base}/device") or "").removeprefix("0x"),
        "pci_class": pci_class,
        "driver": link_name(f"{base}/driver"),
        "driver_override": driver_override_of(root, bdf),
        "numa_node": _read_int(f"{base}/numa_node", -1),
        "iommu_group": link_name(f"{base}/iommu_group"),
        "netdevs": netdevs,
        "link_type": netdev_link_type(root, bdf, netdevs[0]) if netdevs else None,
    }


def read_pf(root: str, bdf: str, pci_class: str | None = None) -> PF | None:
    common = _read_common(root, bdf, pci_class)
    if common is None:
        return None
    base = pci_dir(root, bdf)
    autoprobe = read_text(os.path.join(base, "sriov_drivers_autoprobe"))
    return PF(**common,
              total_vfs=_read_int(os.path.join(base, "sriov_totalvfs"), 0),
              num_vfs=_read_int(os.path.join(base, "sriov_numvfs"), 0),
              drivers_autoprobe=None if autoprobe is None else autoprobe == "1",
              vfs=virtfn_links(root, bdf))


def read_vf(root: str, bdf: str, pf_bdf: str, index: int, pci_class: str | None = None) -> VF | None:
    common = _read_common(root, bdf, pci_class)
    if common is None:
        return None
    return VF(**common, index=index, pf_bdf=pf_bdf)


def _is_network(root: str, bdf: str) -> bool:
    return (read_text(os.path.join(pci_dir(root, bdf), "class")) or "").startswith(NETWORK_CLASS_PREFIX)


def scan(sysfs_root: str = DEFAULT_SYSFS_ROOT) -> NodeModel:
    """Read every PCI network function under `sysfs_root`."""
    root = os.fspath(sysfs_root)
    model = NodeModel(sysfs_root=root, iommu_present=iommu_present(root), noiommu_mode=noiommu_enabled(root))
    classes = {b: read_text(f"{root}/bus/pci/devices/{b}/class") or "" for b in _listdir(f"{root}/bus/pci/devices")}
    devices = sorted(b for b, c in classes.items() if c.startswith(NETWORK_CLASS_PREFIX))
    physfn = {b: link_name(f"{root}/bus/pci/devices/{b}/physfn") for b in devices}
    for bdf in devices:
        if physfn[bdf] is None and (pf := read_pf(root, bdf, classes[bdf])):
            model.pfs[bdf] = pf
    for pf in model.pfs.values():
        for index, vf_bdf in pf.vfs.items():
            if physfn.get(vf_bdf) == pf.bdf and (vf := read_vf(root, vf_bdf, pf.bdf, index, classes[vf_bdf])):
                model.vfs[vf_bdf] = vf
    _fill_groups(model)
    return model


def _fill_groups(model: NodeModel, reuse: dict[str, list[str]] | None = None) -> None:
    reuse = reuse or {}
    groups = {d.iommu_group for d in (*model.pfs.values(), *model.vfs.values()) if d.iommu_group is not None}
    model.iommu_groups = {g: reuse[g] if g in reuse else iommu_group_members(model.sysfs_root, g) for g in groups}


def refresh(model: NodeModel, bdfs: set[str]) -> NodeModel:
    """A new model with `bdfs` re-read; gone devices are dropped.

    A known VF that still exists is re-read alone (a driver change); a VF that appeared or
    vanished, or a PF, re-reads the whole PF with its VF set.
    """
    root = model.sysfs_root
    pfs, vfs = dict(model.pfs), dict(model.vfs)
    whole_pfs: set[str] = set()
    for bdf in bdfs:
        exists = _is_network(root, bdf)
        parent = link_name(os.path.join(pci_dir(root, bdf), "physfn")) if exists else None
        if bdf in vfs and exists and parent == vfs[bdf].pf_bdf:
            if (vf := read_vf(root, bdf, parent, vfs[bdf].index)) is not None:
                vfs[bdf] = vf
            continue
        if bdf in vfs:
            whole_pfs.add(vfs.pop(bdf).pf_bdf)
        if parent is not None:
            whole_pfs.add(parent)
        elif exists:
            whole_pfs.add(bdf)
        elif bdf in pfs:
            for vf_bdf in pfs.pop(bdf).vfs.values():
                vfs.pop(vf_bdf, None)
    for pf_bdf in sorted(whole_pfs):
        old = pfs.pop(pf_bdf, None)
        for vf_bdf in (old.vfs.values() if old else []):
            vfs.pop(vf_bdf, None)
        pf = read_pf(root, pf_bdf) if _is_network(root, pf_bdf) else None
        if pf is None:
            continue
        pfs[pf_bdf] = pf
        for index, vf_bdf in pf.vfs.items():
            if (vf := read_vf(root, vf_bdf, pf_bdf, index)) is not None:
                vfs[vf_bdf] = vf
    out = replace(model, pfs=pfs, vfs=vfs, iommu_present=iommu_present(root), noiommu_mode=noiommu_enabled(root))
    # re-list only the IOMMU groups a re-read device was or is in; keep the others
    touched = {d.iommu_group for d in (*pfs.values(), *vfs.values(), *model.pfs.values(), *model.vfs.values())
               if d.iommu_group is not None and (d.bdf in bdfs or d.bdf in whole_pfs
                                                 or getattr(d, "pf_bdf", None) in whole_pfs)}
    _fill_groups(out, reuse={g: m for g, m in model.iommu_groups.items() if g not in touched})
    return out
