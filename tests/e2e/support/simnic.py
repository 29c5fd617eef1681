"""A simulated SR-IOV NIC for pods started by a real runtime (no SR-IOV hardware here).

As `multus-dp demo` and the benchmarks do it (multus_dp.sriov.simulated): a sysfs tree under a
temp dir with one PF whose kernel-mode VFs have real veth ends as netdevs (moved into the pod
and back by the kernel) and whose DPDK-mode VFs sit on vfio-pci, plus the PF's VF table in a
JSON file. The daemon is pointed at it by its config keys `sysfsRoot`, `sriovSimulatedPf` (keys
the process owns); the conflist names the device-info dir (a key each request owns).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multus_dp.netops.types import VfState
from multus_dp.sriov.simulated import SimulatedPf, build_sysfs
from tests.support.netns import NetLab, ip

PF_BDF = "0000:5e:00.0"


class SimulatedNic:
    def __init__(self, root: Path, lab: NetLab, *, kernel_vfs: int = 2, dpdk_vfs: int = 1) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.sysfs = root / "sysfs"
        self.pf_state = root / "simulated-pf.json"
        self.device_info = root / "devinfo"
        self.pf = lab.name("pf")  # exists only in the sysfs tree and the VF table
        self.vf_netdevs = []
        for _ in range(kernel_vfs):
            _wire, vf = lab.add_veth()  # the wire end stays up on the host: the VF's "port"
            self.vf_netdevs.append(vf)
        self.bdfs = build_sysfs(str(self.sysfs), pf_bdf=PF_BDF, pf_netdev=self.pf,
                                vf_netdevs=[*self.vf_netdevs, *[None] * dpdk_vfs])
        self._pf = SimulatedPf(str(self.pf_state))
        self._pf.add_pf(self.pf, len(self.bdfs))

    def daemon_keys(self) -> dict[str, str]:
        return {"sysfsRoot": str(self.sysfs), "sriovSimulatedPf": str(self.pf_state)}

    def install_args(self) -> list[str]:
        keys = {"deviceInfoDir": str(self.device_info)}
        return [arg for key, value in keys.items() for arg in ("--set", f"{key}={json.dumps(value)}")]

    def vf_table(self) -> list[VfState]:
        """What the PF reports for its VFs (IFLA_VFINFO_LIST on real hardware)."""
        return self._pf.get_vfs(self.pf)

    @staticmethod
    def host_link(name: str) -> dict[str, Any] | None:
        """The netdev `name` in the host namespace (name, MAC, MTU), or None when it is gone."""
        out = ip("-j", "link", "show", "dev", name, check=False)
        links = json.loads(out) if out.strip() else []
        return {"name": links[0]["ifname"], "mac": links[0]["address"], "mtu": links[0]["mtu"]} if links else None
