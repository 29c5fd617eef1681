"""The VF settings' names and kernel values, in one place (netops' inputs, the simulated PF
and the SR-IOV netconf all read them).

VLAN protocols are the ethertypes of IFLA_VF_VLAN_INFO; link states are IFLA_VF_LINK_STATE_*.
"""
from __future__ import annotations

ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
# sriov-cni's `vlanProto` spellings (matched case-insensitively) -> ethertype
VLAN_PROTOS: dict[str, int] = {"802.1q": ETH_P_8021Q, "802.1ad": ETH_P_8021AD}
DEFAULT_VLAN_PROTO = ETH_P_8021Q

# sriov-cni's `link_state` names -> IFLA_VF_LINK_STATE_AUTO/ENABLE/DISABLE
LINK_STATES: dict[str, int] = {"auto": 0, "enable": 1, "disable": 2}
LINK_STATE_NAMES: dict[int, str] = {value: name for name, value in LINK_STATES.items()}


def vlan_proto_value(proto: int | str) -> int | None:
    """An ethertype from a name ("802.1ad", any case) or a number; None if it is neither protocol."""
    value = VLAN_PROTOS.get(proto.lower()) if isinstance(proto, str) else proto
    return value if value in VLAN_PROTOS.values() else None


def link_state_value(state: int | str) -> int | None:
    """IFLA_VF_LINK_STATE_* from a name (any case) or the number; None if it is no link state."""
    value = LINK_STATES.get(state.lower()) if isinstance(state, str) else state
    return value if value in LINK_STATE_NAMES else None
