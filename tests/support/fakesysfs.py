"""A fake sysfs tree of SR-IOV NICs and a fake PCI driver core that mutates it like the kernel.

`FakeSysfs(base)` builds `<base>/sys` (the sysfs root to hand to the code under test) and
`<base>/dev` (for `/dev/vfio/<group>` nodes), laid out as the kernel lays out its own:

    sys/devices/pci0000:00/<bdf>/{vendor,device,class,numa_node,driver_override,driver->,
                                  iommu_group->,net/<if>/,sriov_*,virtfnN->,physfn->}
    sys/bus/pci/devices/<bdf> -> the device dir;  sys/bus/pci/drivers/<drv>/{bind,unbind,<bdf>->}
    sys/bus/pci/drivers_probe;  sys/kernel/iommu_groups/<g>/devices/<bdf>->;  sys/class/net/<if>->
    sys/class/iommu/<unit> (IOMMU present);  sys/module/vfio/parameters/enable_unsafe_noiommu_mode
    sys/kernel/mm/hugepages/hugepages-<kB>kB/{nr,free}_hugepages (+ per NUMA node)

`FakeDriverCore(fs)` implements the `SysfsWriter` protocol (through the real
`DeadlineWriter`, so deadlines are the production code's): writes to `driver_override`,
`bind`, `unbind`, `drivers_probe`, `sriov_numvfs` and `sriov_drivers_autoprobe` change the
tree as the kernel would (VF dirs and `virtfnN`/`physfn` links appear and vanish, netdevs
come with the kernel driver, vfio-pci needs an IOMMU or no-IOMMU mode and creates the group's
device node). `hang_on()` and `fail_on()` make chosen writes block or fail.

Each VF's netdev name can be chosen (`vf_netdevs`), e.g. real veth ends made by a test.
"""
from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from multus_dp.hardware.vfio import NetdevUsage
from multus_dp.hardware.writer import DeadlineWriter

IFF_UP = 0x1
FLAGS_DOWN = 0x1002  # BROADCAST|MULTICAST


def _atomic_write(path: Path, text: str) -> None:
    """A sysfs attribute never reads half-written: replace it whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class FakeDevice:
    bdf: str
    native_driver: str | None          # the kernel driver whose id table matches the device
    netdevs: list[str]                 # created while bound to the native driver
    is_vf: bool = False
    pf: str | None = None
    index: int | None = None


@dataclass
class FakePf:
    bdf: str
    netdev: str | None
    vf_driver: str | None
    vf_vendor: str
    vf_device: str
    numa_node: int
    vf_netdevs: Callable[[int], str | None]
    vf_group: Callable[[int], str | None]
    total_vfs: int


@dataclass
class _Fault:
    match: str
    value: str | None
    times: int
    err: int = 0
    release: threading.Event = field(default_factory=threading.Event)


class FakeSysfs:
    """Builder of the fake tree. `root` is the sysfs root, `dev_root` the /dev stand-in."""

    def __init__(self, base: Path, *, iommu: bool = True, noiommu_mode: bool = False) -> None:
        self.base = Path(base)
        self.root = self.base / "sys"
        self.dev_root = self.base / "dev"
        self.devices: dict[str, FakeDevice] = {}
        self.pfs: dict[str, FakePf] = {}
        self._groups = 0
        self._mac = 0
        self._link_type: dict[str, int] = {}   # bdf -> ARPHRD type of its netdevs
        self.failing_probes: set[tuple[str, str]] = set()   # (bdf, driver) whose probe returns an error
        self.lock = threading.RLock()   # the fake kernel's big lock: one mutation at a time
        for d in ("devices/pci0000:00", "bus/pci/devices", "bus/pci/drivers", "kernel/iommu_groups",
                  "class/net", "class/iommu", "module/vfio/parameters"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "bus/pci/drivers_probe").write_text("")
        self.dev_root.mkdir(parents=True, exist_ok=True)
        if iommu:
            (self.root / "class/iommu/dmar0").mkdir()
        self.set_noiommu_mode(noiommu_mode)
        self.iommu = iommu
        self.add_driver("vfio-pci")

    # --- building ------------------------------------------------------------------------
    def set_noiommu_mode(self, enabled: bool) -> None:
        (self.root / "module/vfio/parameters/enable_unsafe_noiommu_mode").write_text("Y\n" if enabled else "N\n")

    @property
    def noiommu_mode(self) -> bool:
        return (self.root / "module/vfio/parameters/enable_unsafe_noiommu_mode").read_text().strip() == "Y"

    def add_driver(self, name: str) -> None:
        d = self.root / "bus/pci/drivers" / name
        if not d.exists():
            d.mkdir(parents=True)
            for f in ("bind", "unbind", "new_id", "remove_id"):
                (d / f).write_text("")

    def device_dir(self, bdf: str) -> Path:
        return self.root / "devices/pci0000:00" / bdf

    def new_group(self) -> str:
        self._groups += 1
        group = str(self._groups)
        (self.root / "kernel/iommu_groups" / group / "devices").mkdir(parents=True)
        (self.root / "kernel/iommu_groups" / group / "type").write_text("DMA\n")
        return group

    def add_device(self, bdf: str, *, vendor: str = "8086", device: str = "1572", pci_class: str = "0x020000",
                   driver: str | None = None, netdevs: list[str] | None = None, numa_node: int = 0,
                   iommu_group: str | None = "new", link_type: int = 1) -> str:
        """A PCI function without SR-IOV; `iommu_group="new"` gives it a group of its own."""
        with self.lock:
            d = self.device_dir(bdf)
            d.mkdir(parents=True)
            (d / "vendor").write_text(f"0x{vendor}\n")
            (d / "device").write_text(f"0x{device}\n")
            (d / "class").write_text(f"{pci_class}\n")
            (d / "numa_node").write_text(f"{numa_node}\n")
            (d / "driver_override").write_text("(null)\n")
            (d / "remove").write_text("")
            self._link(self.root / "bus/pci/devices" / bdf, d)
            self.devices[bdf] = FakeDevice(bdf, driver, list(netdevs or []))
            self._link_type[bdf] = link_type
            if iommu_group == "new":
                iommu_group = self.new_group() if self.iommu else None
            if iommu_group is not None:
                self.join_group(bdf, iommu_group)
            if driver:
                self.add_driver(driver)
                self._bind(bdf, driver)
            return bdf

    def add_pf(self, bdf: str = "0000:3b:00.0", *, netdev: str | None = "ens1f0", total_vfs: int = 8,
               num_vfs: int = 0, driver: str = "i40e", vf_driver: str | None = "iavf", vendor: str = "8086",
               device: str = "1572", vf_device: str = "154c", numa_node: int = 0, autoprobe: bool = True,
               vf_netdevs: Mapping[int, str | None] | Callable[[int], str | None] | None = None,
               vf_groups: str = "own", link_type: int = 1) -> str:
        """A PF with `total_vfs` possible VFs, `num_vfs` of them created now.

        vf_netdevs: VF index -> netdev name (default `<netdev>v<index>`), None for no netdev.
        vf_groups: "own" gives every VF its own IOMMU group, "pf" puts them in the PF's.
        """
        self.add_device(bdf, vendor=vendor, device=device, driver=driver, netdevs=[netdev] if netdev else [],
                        numa_node=numa_node, link_type=link_type)
        d = self.device_dir(bdf)
        (d / "sriov_totalvfs").write_text(f"{total_vfs}\n")
        (d / "sriov_numvfs").write_text("0\n")
        (d / "sriov_drivers_autoprobe").write_text("1\n" if autoprobe else "0\n")
        (d / "sriov_vf_device").write_text(f"{vf_device}\n")
        if vf_netdevs is None:
            def names(i: int) -> str | None:
                return f"{netdev}v{i}" if netdev else None
        elif callable(vf_netdevs):
            names = vf_netdevs
        else:
            mapping = dict(vf_netdevs)

            def names(i: int) -> str | None:
                return mapping.get(i)
        pf_group = self.group_of(bdf)

        def group(i: int) -> str | None:
            if not self.iommu:
                return None
            return pf_group if vf_groups == "pf" else self.new_group()
        if vf_driver:
            self.add_driver(vf_driver)
        self.pfs[bdf] = FakePf(bdf, netdev, vf_driver, vendor, vf_device, numa_node, names, group, total_vfs)
        if num_vfs:
            self.create_vfs(bdf, num_vfs)
        return bdf

    @staticmethod
    def vf_bdf(pf_bdf: str, index: int) -> str:
        """VF addresses as NICs lay them out: function 0's VFs at <bus>:02.0 onward; another
        function's on a bus of their own (<bus>+0x80+fn) so two ports never collide."""
        domain, bus, devfn = pf_bdf.split(":")
        function = int(devfn.split(".")[1])
        vf_bus = int(bus, 16) if function == 0 else (int(bus, 16) + 0x80 + function) & 0xFF
        return f"{domain}:{vf_bus:02x}:{0x02 + index // 8:02x}.{index % 8}"

    def create_vfs(self, pf_bdf: str, count: int) -> None:
        with self.lock:
            pf = self.pfs[pf_bdf]
            pdir = self.device_dir(pf_bdf)
            autoprobe = (pdir / "sriov_drivers_autoprobe").read_text().strip() == "1"
            for i in range(count):
                vf = self.vf_bdf(pf_bdf, i)
                self.add_device(vf, vendor=pf.vf_vendor, device=pf.vf_device, numa_node=pf.numa_node,
                                iommu_group=pf.vf_group(i), link_type=self._link_type.get(pf_bdf, 1))
                fake = self.devices[vf]
                fake.native_driver, fake.is_vf, fake.pf, fake.index = pf.vf_driver, True, pf_bdf, i
                name = pf.vf_netdevs(i)
                fake.netdevs = [name] if name else []
                self._link(self.device_dir(vf) / "physfn", pdir)
                self._link(pdir / f"virtfn{i}", self.device_dir(vf))
                if autoprobe and pf.vf_driver:
                    self._bind(vf, pf.vf_driver)
            _atomic_write(pdir / "sriov_numvfs", f"{count}\n")

    def remove_vfs(self, pf_bdf: str) -> None:
        with self.lock:
            pdir = self.device_dir(pf_bdf)
            for link in sorted(pdir.glob("virtfn*")):
                vf = os.path.basename(os.readlink(link))
                self.remove_device(vf)
                link.unlink()
            _atomic_write(pdir / "sriov_numvfs", "0\n")

    def remove_device(self, bdf: str) -> None:
        with self.lock:
            driver = self.driver_of(bdf)
            if driver:
                self._unbind(bdf, driver)
            group = self.group_of(bdf)
            if group is not None:
                self.leave_group(bdf, group)
            (self.root / "bus/pci/devices" / bdf).unlink()
            d = self.device_dir(bdf)
            for p in sorted(d.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                p.unlink() if (p.is_symlink() or p.is_file()) else p.rmdir()
            d.rmdir()
            self.devices.pop(bdf, None)

    def join_group(self, bdf: str, group: str) -> None:
        gdir = self.root / "kernel/iommu_groups" / group
        self._link(gdir / "devices" / bdf, self.device_dir(bdf))
        self._link(self.device_dir(bdf) / "iommu_group", gdir)

    def leave_group(self, bdf: str, group: str) -> None:
        gdir = self.root / "kernel/iommu_groups" / group
        (gdir / "devices" / bdf).unlink(missing_ok=True)
        (self.device_dir(bdf) / "iommu_group").unlink(missing_ok=True)
        if not any((gdir / "devices").iterdir()):
            for p in gdir.iterdir():
                p.rmdir() if p.is_dir() else p.unlink()
            gdir.rmdir()

    def set_hugepages(self, *, size_kb: int = 2048, total: int, free: int, numa_node: int | None = None) -> None:
        base = self.root / "kernel/mm/hugepages" if numa_node is None else \
            self.root / f"devices/system/node/node{numa_node}/hugepages"
        d = base / f"hugepages-{size_kb}kB"
        d.mkdir(parents=True, exist_ok=True)
        (d / "nr_hugepages").write_text(f"{total}\n")
        (d / "free_hugepages").write_text(f"{free}\n")

    def set_up(self, ifname: str, up: bool = True) -> None:
        flags = self.root / "class/net" / ifname / "flags"
        flags.write_text(hex((int(flags.read_text(), 0) | IFF_UP) if up else (int(flags.read_text(), 0) & ~IFF_UP)) + "\n")
        # a fake link has carrier whenever it is up
        (self.root / "class/net" / ifname / "operstate").write_text("up\n" if up else "down\n")

    # --- reading back ------------------------------------------------------------------
    def driver_of(self, bdf: str) -> str | None:
        link = self.device_dir(bdf) / "driver"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def override_of(self, bdf: str) -> str | None:
        value = (self.device_dir(bdf) / "driver_override").read_text().strip()
        return None if value == "(null)" else value

    def group_of(self, bdf: str) -> str | None:
        link = self.device_dir(bdf) / "iommu_group"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def numvfs(self, pf_bdf: str) -> int:
        with self.lock:
            return int((self.device_dir(pf_bdf) / "sriov_numvfs").read_text())

    def netdevs(self, bdf: str) -> list[str]:
        d = self.device_dir(bdf) / "net"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    def vfio_nodes(self) -> list[str]:
        d = self.dev_root / "vfio"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    # --- the driver core's effects -------------------------------------------------------
    def _link(self, link: Path, target: Path) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target, link.parent), link)

    def _bind(self, bdf: str, driver: str) -> None:
        d = self.device_dir(bdf)
        ddir = self.root / "bus/pci/drivers" / driver
        self._link(d / "driver", ddir)
        self._link(ddir / bdf, d)
        fake = self.devices[bdf]
        if driver == "vfio-pci":
            group = self.group_of(bdf)
            if group is None:  # no-IOMMU mode: vfio makes a fake group on probe
                group = self.new_group()
                (self.root / "kernel/iommu_groups" / group / "name").write_text("vfio-noiommu\n")
                self.join_group(bdf, group)
            node = self.dev_root / "vfio" / (group if self.iommu else f"noiommu-{group}")
            node.parent.mkdir(parents=True, exist_ok=True)
            (node.parent / "vfio").touch()
            node.touch()
        elif driver == fake.native_driver:
            for name in fake.netdevs:
                self._mac += 1
                n = d / "net" / name
                n.mkdir(parents=True)
                (n / "type").write_text(f"{self._link_type.get(bdf, 1)}\n")
                (n / "flags").write_text(f"{FLAGS_DOWN:#x}\n")
                (n / "address").write_text("02:00:00:%02x:%02x:%02x\n" % (self._mac >> 16 & 255, self._mac >> 8 & 255, self._mac & 255))
                (n / "operstate").write_text("down\n")
                self._link(self.root / "class/net" / name, n)

    def _unbind(self, bdf: str, driver: str) -> None:
        d = self.device_dir(bdf)
        (d / "driver").unlink()
        (self.root / "bus/pci/drivers" / driver / bdf).unlink()
        net = d / "net"
        if net.exists():
            for n in sorted(net.iterdir()):
                (self.root / "class/net" / n.name).unlink(missing_ok=True)
                for f in n.iterdir():
                    f.unlink()
                n.rmdir()
            net.rmdir()
        if driver == "vfio-pci":
            group = self.group_of(bdf)
            gdir = self.root / "kernel/iommu_groups" / str(group)
            members_on_vfio = [m.name for m in (gdir / "devices").iterdir() if self.driver_of(m.name) == "vfio-pci"]
            if not members_on_vfio:
                for name in (str(group), f"noiommu-{group}"):
                    (self.dev_root / "vfio" / name).unlink(missing_ok=True)
            if (gdir / "name").exists():  # a no-IOMMU group lives only while vfio holds the device
                self.leave_group(bdf, str(group))

    def can_bind(self, bdf: str, driver: str) -> bool:
        """Does `driver` exist and match the device (driver_override wins over id tables)?"""
        if not (self.root / "bus/pci/drivers" / driver).is_dir():
            return False
        override = self.override_of(bdf)
        if override is not None:
            return override == driver
        return driver == self.devices[bdf].native_driver

    def probe_ok(self, bdf: str, driver: str) -> bool:
        if (bdf, driver) in self.failing_probes:
            return False
        # vfio-pci's probe fails with -22 without an IOMMU unless no-IOMMU mode is on
        return driver != "vfio-pci" or self.iommu or self.noiommu_mode


class FakeNetState:
    """Host addresses and routes per netdev: the netlink side the vfio binder asks about."""

    def __init__(self) -> None:
        self.addresses: dict[str, list[str]] = {}
        self.routes: dict[str, list[str]] = {}

    def usage(self, ifname: str) -> NetdevUsage:
        return NetdevUsage(addresses=list(self.addresses.get(ifname, [])), routes=list(self.routes.get(ifname, [])))


class FakeDriverCore:
    """SysfsWriter whose writes act on a FakeSysfs as the kernel's PCI core would."""

    def __init__(self, fs: FakeSysfs, *, vf_create_delay: float = 0.0) -> None:
        self.fs = fs
        self.vf_create_delay = vf_create_delay
        self.writes: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._writer = DeadlineWriter(self.apply)
        self._timers: list[threading.Timer] = []

    # the SysfsWriter protocol, with the production deadline logic
    def write(self, path: str, value: str, deadline: float) -> None:
        self._writer.write(path, value, deadline)

    def hang_on(self, match: str, value: str | None = None, times: int = 1) -> threading.Event:
        """Writes whose path contains `match` (and equal `value`) block until the event is set."""
        fault = _Fault(match, value, times)
        self._faults.append(fault)
        return fault.release

    def fail_on(self, match: str, value: str | None = None, err: int = errno.EIO, times: int = 1) -> None:
        self._faults.append(_Fault(match, value, times, err))

    def release(self) -> None:
        for fault in self._faults:
            fault.release.set()
        for t in self._timers:
            t.cancel()

    def writes_to(self, match: str) -> list[str]:
        return [v for p, v in self.writes if match in p]

    def _fault_for(self, path: str, value: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.match in path and (fault.value is None or fault.value == value.strip()):
                fault.times -= 1
                return fault
        return None

    def apply(self, path: str, value: str) -> None:
        fault = self._fault_for(path, value)
        if fault is not None:
            if fault.err:
                raise OSError(fault.err, os.strerror(fault.err), path)
            fault.release.wait()
        with self.fs.lock:
            self.writes.append((path, value))
            self._apply(Path(path), value.strip())

    def _apply(self, path: Path, value: str) -> None:
        fs = self.fs
        rel = os.path.relpath(os.path.realpath(path.parent), fs.root)
        parts = rel.split(os.sep)
        name = path.name
        if parts[:3] == ["bus", "pci", "drivers"] and len(parts) == 4 and name in ("bind", "unbind"):
            self._bind_unbind(parts[3], name, value)
        elif rel == os.path.join("bus", "pci") and name == "drivers_probe":
            self._probe(value)
        elif parts[:2] == ["devices", "pci0000:00"] and len(parts) == 3 and parts[2] in fs.devices:
            self._device_attr(parts[2], name, value, path)
        else:
            if not path.exists():
                raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
            path.write_text(value + "\n")

    def _bind_unbind(self, driver: str, op: str, bdf: str) -> None:
        fs = self.fs
        if bdf not in fs.devices:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        current = fs.driver_of(bdf)
        if op == "unbind":
            if current != driver:
                raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
            fs._unbind(bdf, driver)
            return
        if current is not None:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        if not fs.can_bind(bdf, driver):
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        if not fs.probe_ok(bdf, driver):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        fs._bind(bdf, driver)

    def _probe(self, bdf: str) -> None:
        fs = self.fs
        if bdf not in fs.devices:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        if fs.driver_of(bdf) is not None:
            return
        override = fs.override_of(bdf)
        candidate = override if override is not None else fs.devices[bdf].native_driver
        # like the kernel: no match or a failing probe leaves the device unbound, write succeeds
        if candidate and fs.can_bind(bdf, candidate) and fs.probe_ok(bdf, candidate):
            fs._bind(bdf, candidate)

    def _device_attr(self, bdf: str, name: str, value: str, path: Path) -> None:
        fs = self.fs
        if name == "driver_override":
            path.write_text((value or "(null)") + "\n")
        elif name == "sriov_numvfs":
            self._numvfs(bdf, int(value))
        elif name == "sriov_drivers_autoprobe":
            path.write_text(("1" if value not in ("0", "") else "0") + "\n")
        elif path.exists():
            path.write_text(value + "\n")
        else:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))

    def _numvfs(self, bdf: str, count: int) -> None:
        fs = self.fs
        if bdf not in fs.pfs:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        current = fs.numvfs(bdf)
        if count > fs.pfs[bdf].total_vfs or count < 0:
            raise OSError(errno.ERANGE, os.strerror(errno.ERANGE))
        if fs.driver_of(bdf) is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        if count == current:
            return
        if count and current:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        if count == 0:
            for t in self._timers:   # VFs disabled before their creation finished
                t.cancel()
            fs.remove_vfs(bdf)
        elif self.vf_create_delay > 0:
            # VF creation finishing after the write returned, as some drivers do
            _atomic_write(fs.device_dir(bdf) / "sriov_numvfs", f"{count}\n")
            timer = threading.Timer(self.vf_create_delay, fs.create_vfs, (bdf, count))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        else:
            fs.create_vfs(bdf, count)


@dataclass
class FakeVfState:
    index: int
    mac: str = "00:00:00:00:00:00"
    spoofchk: bool | None = True
    trust: bool | None = False


class FakeVfNetlink:
    """The PF's VF table over netlink, in memory: one record per VF the fake tree has.

    A local fake of the kernel side effect (IFLA_VFINFO_LIST / RTM_SETLINK) with the
    `VfConfigurator` shape; `fail_on_vf` makes setting one VF fail like a driver would.
    """

    def __init__(self, fs: FakeSysfs) -> None:
        self.fs = fs
        self.state: dict[tuple[str, int], FakeVfState] = {}
        self.calls: list[tuple[str, int, dict]] = []
        self.fail_on_vf: set[tuple[str, int]] = set()

    def _pf(self, pf_ifname: str) -> str:
        for bdf, pf in self.fs.pfs.items():
            if pf.netdev == pf_ifname:
                return bdf
        from multus_dp.cni.errors import CNIError
        raise CNIError(110, f"no such link {pf_ifname}")

    def get_vfs(self, pf_ifname: str) -> list[FakeVfState]:
        count = self.fs.numvfs(self._pf(pf_ifname))
        return [self.state.setdefault((pf_ifname, i), FakeVfState(i)) for i in range(count)]

    def set_vf(self, pf_ifname: str, vf_index: int, **settings) -> None:
        from multus_dp.cni.errors import CNIError
        if vf_index >= self.fs.numvfs(self._pf(pf_ifname)):
            raise CNIError(110, f"{pf_ifname}: VF {vf_index} does not exist")
        if (pf_ifname, vf_index) in self.fail_on_vf:
            raise CNIError(110, f"{pf_ifname}: setting VF {vf_index} failed: Operation not supported")
        self.calls.append((pf_ifname, vf_index, dict(settings)))
        record = self.state.setdefault((pf_ifname, vf_index), FakeVfState(vf_index))
        for key, value in settings.items():
            if value is not None:
                setattr(record, key, value)
