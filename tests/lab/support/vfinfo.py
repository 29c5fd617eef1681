"""The PF's view of its VFs, read over netlink independently of multus-dp's netops
(RTM_GETLINK with RTEXT_FILTER_VF: IFLA_VFINFO_LIST), to verify what multus-dp configured."""
from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute

RTEXT_FILTER_VF = 1
UNSET = 0xFFFFFFFF      # the driver does not report the setting


@dataclass(frozen=True)
class VfInfo:
    index: int
    mac: str
    vlan: int
    qos: int
    spoofchk: bool | None
    trust: bool | None
    max_tx_rate: int


def _flag(attr: dict | None, key: str) -> bool | None:
    if attr is None or attr[key] == UNSET:
        return None
    return bool(attr[key])


def vf_infos(pf_ifname: str) -> dict[int, VfInfo]:
    with IPRoute() as ip:
        index = ip.link_lookup(ifname=pf_ifname)[0]
        msg = ip.get_links(index, ext_mask=RTEXT_FILTER_VF)[0]
    vflist = msg.get_attr("IFLA_VFINFO_LIST")
    out: dict[int, VfInfo] = {}
    for info in vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else []:
        mac = info.get_attr("IFLA_VF_MAC")
        vlan = info.get_attr("IFLA_VF_VLAN") or {"vlan": 0, "qos": 0}
        rate = info.get_attr("IFLA_VF_RATE") or {"max_tx_rate": 0}
        out[mac["vf"]] = VfInfo(index=mac["vf"], mac=mac["mac"].lower(), vlan=vlan["vlan"], qos=vlan["qos"],
                                spoofchk=_flag(info.get_attr("IFLA_VF_SPOOFCHK"), "spoofchk"),
                                trust=_flag(info.get_attr("IFLA_VF_TRUST"), "trust"),
                                max_tx_rate=rate["max_tx_rate"])
    return out
