"""Golden netlink bytes for VF configuration: no VFs exist on this host, so the request
each implementation would send is compared byte for byte, and against the kernel's
struct layout (linux/if_link.h)."""
from __future__ import annotations

import struct

import pytest

from multus_dp.netops import NetOpsError, get_vf_ops, native_available, pyroute2_ops
from tests.support.prereq import require

IFLA_VFINFO_LIST, IFLA_VF_INFO = 22, 1
IFLA_VF_MAC, IFLA_VF_SPOOFCHK, IFLA_VF_LINK_STATE, IFLA_VF_RATE = 1, 4, 5, 6
IFLA_VF_TRUST, IFLA_VF_VLAN_LIST, IFLA_VF_VLAN_INFO = 9, 12, 1

CASES = [
    {"mac": "02:aa:bb:cc:dd:01"},
    {"vlan": 100},
    {"vlan": 100, "qos": 5, "vlan_proto": "802.1ad"},
    {"vlan": 0},
    {"spoofchk": False, "trust": True},
    {"link_state": "disable"},
    {"link_state": 0},
    {"min_tx_rate": 100, "max_tx_rate": 1000},
    {"mac": "02:00:00:00:00:07", "vlan": 4095, "qos": 7, "vlan_proto": 0x8100, "spoofchk": True,
     "trust": False, "link_state": "enable", "min_tx_rate": 0, "max_tx_rate": 25000},
]


@pytest.fixture(scope="module")
def both():
    require(native_available(), "native netops helper built (pip install -e .)")
    return get_vf_ops("native"), get_vf_ops("pyroute2")


@pytest.fixture(scope="module")
def builders():
    """The message builders of both implementations (module functions, not part of VfOps)."""
    require(native_available(), "native netops helper built (pip install -e .)")
    from multus_dp.netops import native
    return native.build_set_vf_message, pyroute2_ops.build_set_vf_message


def attrs(data: bytes) -> list[tuple[int, bytes]]:
    out, off = [], 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, off)
        out.append((kind & 0x3FFF, data[off + 4:off + length]))
        off += (length + 3) & ~3
    return out


def vf_attrs(msg: bytes) -> dict[int, bytes]:
    # nlmsghdr (16) + ifinfomsg (16), then IFLA_VFINFO_LIST > IFLA_VF_INFO > per-VF attributes
    (kind, vflist), = attrs(msg[32:])
    assert kind == IFLA_VFINFO_LIST
    (kind, info), = attrs(vflist)
    assert kind == IFLA_VF_INFO
    return dict(attrs(info))


@pytest.mark.parametrize("settings", CASES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_native_and_pyroute2_send_the_same_bytes(builders, settings) -> None:
    native, pyroute2 = builders
    a = native(7, 3, seq=42, pid=1234, **settings)
    b = pyroute2(7, 3, seq=42, pid=1234, **settings)
    assert a.hex() == b.hex()
    length, kind, flags, seq, pid = struct.unpack_from("IHHII", a)
    assert (length, kind, seq, pid) == (len(a), 16, 42, 1234)  # RTM_NEWLINK
    assert struct.unpack_from("i", a, 20)[0] == 7               # ifi_index = the PF


def test_vlan_info_has_the_kernel_struct_size(builders) -> None:
    """struct ifla_vf_vlan_info is 16 bytes; the kernel refuses anything shorter with EINVAL."""
    for build in builders:
        vf = vf_attrs(build(2, 1, vlan=100, qos=3, vlan_proto="802.1ad"))
        (kind, info), = attrs(vf[IFLA_VF_VLAN_LIST])
        assert kind == IFLA_VF_VLAN_INFO and len(info) == 16
        assert struct.unpack_from("III", info) == (1, 100, 3)
        assert info[12:14] == b"\x88\xa8"  # vlan_proto is big-endian (__be16)


def test_every_field_lands_where_the_kernel_reads_it(builders) -> None:
    for build in builders:
        vf = vf_attrs(build(2, 4, mac="02:00:00:00:00:09", spoofchk=False, trust=True,
                            link_state="disable", min_tx_rate=10, max_tx_rate=20))
        assert struct.unpack_from("I", vf[IFLA_VF_MAC])[0] == 4
        assert vf[IFLA_VF_MAC][4:10] == bytes.fromhex("020000000009") and len(vf[IFLA_VF_MAC]) == 36
        assert struct.unpack("II", vf[IFLA_VF_SPOOFCHK]) == (4, 0)
        assert struct.unpack("II", vf[IFLA_VF_TRUST]) == (4, 1)
        assert struct.unpack("II", vf[IFLA_VF_LINK_STATE]) == (4, 2)
        assert struct.unpack("III", vf[IFLA_VF_RATE]) == (4, 10, 20)
        assert IFLA_VF_VLAN_LIST not in vf  # nothing asked, nothing sent


@pytest.mark.parametrize("settings, words", [
    ({"vlan": 4096}, "invalid vlan 4096"),
    ({"qos": 3}, "qos and vlan_proto need a vlan"),
    ({"vlan": 5, "vlan_proto": "802.1x"}, "invalid vlan_proto"),
    ({"link_state": "up"}, "invalid link_state 'up'"),
    ({"mac": "02:00:00:00:00"}, "invalid MAC address"),
    ({"min_tx_rate": 500, "max_tx_rate": 100}, "min_tx_rate 500 is above max_tx_rate 100"),
])
def test_bad_vf_settings_are_refused_the_same_way(both, settings, words) -> None:
    for ops in both:
        with pytest.raises(NetOpsError) as info:
            ops.set_vf("ens1f0", 2, **settings)
        assert info.value.errno == 22 and info.value.code == 110
        assert info.value.msg.startswith("set_vf ens1f0 vf 2: ") and words in info.value.msg
