from __future__ import annotations

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.sriov.config import parse_sriov_config

BASE = {"type": "sriov", "name": "vf-net", "deviceID": "0000:af:06.0"}

BAD = [
    ("vlan", {"vlan": 4095}, "0-4094"), ("vlan", {"vlan": -1}, "0-4094"), ("vlan", {"vlan": "100"}, "integer"),
    ("vlanQoS", {"vlan": 10, "vlanQoS": 8}, "0-7"), ("vlanQoS", {"vlanQoS": 3}, "non-zero \"vlan\""),
    ("vlanProto", {"vlan": 10, "vlanProto": "802.1x"}, "802.1q or 802.1ad"),
    ("vlanProto", {"vlanProto": "802.1ad"}, "non-zero"),
    ("mac", {"mac": "zz:00:00:00:00:00"}, "MAC"), ("mac", {"mac": "01:00:00:00:00:01"}, "multicast"),
    ("spoofchk", {"spoofchk": "yes"}, "\"on\" or \"off\""), ("trust", {"trust": 1}, "\"on\" or \"off\""),
    ("link_state", {"link_state": "up"}, "auto, enable, disable"),
    ("min_tx_rate", {"min_tx_rate": 500, "max_tx_rate": 100}, "must not exceed"),
    ("max_tx_rate", {"max_tx_rate": -5}, "integer"), ("mtu", {"mtu": 20}, "68-65535"),
    ("deviceID", {"deviceID": "../x"}, "device ID"), ("ipam", {"ipam": {"subnet": "10.0.0.0/24"}}, "\"type\""),
    ("runtimeConfig.ips", {"runtimeConfig": {"ips": ["10.0.0.1"]}}, "prefix"),
]


@pytest.mark.parametrize("key,override,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_invalid_values_are_code_7_naming_the_key(key, override, text) -> None:
    with pytest.raises(CNIError) as err:
        parse_sriov_config({**BASE, **override})
    assert err.value.code == 7
    assert f'"{key}"' in err.value.msg and "vf-net" in err.value.msg and text in err.value.msg


def test_sriov_cni_keys_become_vf_settings() -> None:
    cfg = parse_sriov_config({**BASE, "vlan": 100, "vlanQoS": 3, "vlanProto": "802.1AD", "mac": "02:00:00:00:00:AA",
                              "spoofchk": "off", "trust": "on", "link_state": "enable", "max_tx_rate": 1000})
    assert cfg.vf_settings() == {"mac": "02:00:00:00:00:aa", "vlan": 100, "qos": 3, "vlan_proto": 0x88A8,
                                 "spoofchk": False, "trust": True, "link_state": "enable",
                                 "min_tx_rate": 0, "max_tx_rate": 1000}


def test_runtime_config_wins() -> None:
    cfg = parse_sriov_config({**BASE, "mac": "02:00:00:00:00:01", "runtimeConfig": {
        "mac": "02:00:00:00:00:02", "deviceID": "0000:af:06.3", "CNIDeviceInfoFile": "/x/y"}})
    assert (cfg.mac, cfg.device_id, cfg.device_info_file) == ("02:00:00:00:00:02", "0000:af:06.3", "/x/y")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(CNIError) as err:
        parse_sriov_config({**BASE, "vlan": 5000, "vlanQoS": 2, "trust": "maybe", "runtimeConfig": {"mac": "x"}})
    msg = err.value.msg
    assert msg.startswith("sriov network vf-net: ")
    # a bad vlan is reported once: vlanQoS is not also blamed for it
    assert '"vlan" must be' in msg and '"trust" must be' in msg and '"runtimeConfig.mac"' in msg
    assert "vlanQoS" not in msg


def test_older_pci_bus_id_key_and_defaults() -> None:
    cfg = parse_sriov_config({"type": "sriov", "name": "n", "pciBusID": "0000:af:06.1", "vlan": 7})
    assert cfg.device_id == "0000:af:06.1" and not cfg.bind_vfio and cfg.ipam is None and cfg.ips == []
    assert cfg.vf_settings() == {"vlan": 7, "qos": 0, "vlan_proto": 0x8100}
