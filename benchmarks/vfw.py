"""Scenario 3, the vFW pod: `eth0` + 2 kernel-mode VFs + 2 DPDK-mode VFs.

Here the VFs are simulated (a temp sysfs tree whose VF netdevs are real veth ends); in the lab
they are real igb VFs. The scenario needs multus-dp's SR-IOV delegate (`sriov` in the CNI dir
or the built-in one in multus_dp.sriov); until it exists the scenario is reported as pending
and produces no number.
"""
from __future__ import annotations

import importlib.util
import os


def sriov_delegate_available(cni_dir: str) -> bool:
    if os.access(os.path.join(cni_dir, "sriov"), os.X_OK):
        return True
    try:
        return importlib.util.find_spec("multus_dp.sriov.delegate") is not None
    except ModuleNotFoundError:
        return False


def pending_reason(cni_dir: str) -> str | None:
    if not sriov_delegate_available(cni_dir):
        return (f"the SR-IOV delegate is not there yet (no `sriov` plugin in {cni_dir}, no "
                "multus_dp.sriov.delegate); scenario 3 runs once it lands")
    return ("the SR-IOV delegate exists but this harness does not yet drive it over the simulated sysfs "
            "(its config contract is not settled); no number is reported")
