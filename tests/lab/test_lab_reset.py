"""The NIC reset between lab tests undoes what a test may leave behind: VF netdevs in pod
namespaces, VFs on vfio-pci, driver_override on the PF, the PF down, VFs at all."""
from __future__ import annotations

import subprocess
from pathlib import Path

from pyroute2 import IPRoute

from multus_dp.hardware import sysfs
from multus_dp.hardware.vfio import VfioBinder
from tests.lab.support.guest import IFF_UP, NETNS_DIR, LabPF, create_vfs, reset_nic, write_with_deadline


def test_reset_leaves_no_netns_no_vfs_no_override_and_the_pf_up(lab_pf: LabPF) -> None:
    vf0, vf1 = create_vfs(lab_pf, 2)
    netdev0 = sysfs.scan("/sys").vf(vf0).netdev
    subprocess.run(["ip", "netns", "add", "left-behind"], check=True)
    subprocess.run(["ip", "link", "set", netdev0, "netns", "left-behind"], check=True)
    VfioBinder("/sys").bind(vf1)
    write_with_deadline(lab_pf.device / "driver_override", "igb")
    with IPRoute() as ip:
        ip.link("set", index=ip.link_lookup(ifname=lab_pf.name)[0], state="down")

    reset_nic(lab_pf)

    assert not (NETNS_DIR.is_dir() and any(NETNS_DIR.iterdir()))
    pf = sysfs.scan("/sys").pf(lab_pf.bdf)
    assert pf is not None and (pf.num_vfs, pf.vfs, pf.driver, pf.driver_override) == (0, {}, "igb", None)
    assert not any(Path("/sys/bus/pci/devices", bdf).exists() for bdf in (vf0, vf1))
    with IPRoute() as ip:
        assert ip.get_links(ip.link_lookup(ifname=lab_pf.name)[0])[0]["flags"] & IFF_UP
