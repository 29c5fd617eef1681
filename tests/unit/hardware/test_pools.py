"""Selector/pool semantics of sriov-network-device-plugin's config, as a table."""
from __future__ import annotations

import json

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.hardware import pools, sysfs
from tests.support.fakesysfs import FakeSysfs


@pytest.fixture
def model(fs: FakeSysfs):
    # ens1f0: Intel XL710 (i40e) with 8 iavf VFs; ens2f0: Mellanox CX-5 with 4 mlx5 VFs on NUMA 1
    fs.add_pf("0000:3b:00.0", netdev="ens1f0", total_vfs=8, num_vfs=8)
    fs.add_pf("0000:af:00.0", netdev="ens2f0", total_vfs=4, num_vfs=4, driver="mlx5_core", vf_driver="mlx5_core",
              vendor="15b3", device="1017", vf_device="1018", numa_node=1)
    return sysfs.scan(str(fs.root))


def ens1(*idx: int) -> list[str]:
    return [FakeSysfs.vf_bdf("0000:3b:00.0", i) for i in idx]


def ens2(*idx: int) -> list[str]:
    return [FakeSysfs.vf_bdf("0000:af:00.0", i) for i in idx]


ALL1, ALL2 = ens1(*range(8)), ens2(*range(4))

CASES = [
    ("empty selector takes every VF", {}, ALL1 + ALL2),
    ("vendors", {"vendors": ["15b3"]}, ALL2),
    ("devices", {"devices": ["154c"]}, ALL1),
    ("vendors AND devices", {"vendors": ["8086"], "devices": ["1018"]}, []),
    ("drivers", {"drivers": ["iavf"]}, ALL1),
    ("drivers: vfio-pci matches nothing yet", {"drivers": ["vfio-pci"]}, []),
    ("pciAddresses", {"pciAddresses": ["0000:3b:02.3", "0000:af:02.0"]}, ens1(3) + ens2(0)),
    ("pfNames whole PF", {"pfNames": ["ens1f0"]}, ALL1),
    ("pfNames with ranges", {"pfNames": ["ens1f0#0-3,6"]}, ens1(0, 1, 2, 3, 6)),
    ("pfNames several PFs", {"pfNames": ["ens1f0#7", "ens2f0#1-2"]}, ens1(7) + ens2(1, 2)),
    ("pfNames case-insensitive", {"pfNames": ["ENS2F0"]}, ALL2),
    ("pfNames regex", {"pfNames": ["ens[12]f0#0"]}, ens1(0) + ens2(0)),
    ("pfNames unknown PF", {"pfNames": ["ens9f9"]}, []),
    ("rootDevices", {"rootDevices": ["0000:af:00.0#2-3"]}, ens2(2, 3)),
    ("linkTypes", {"linkTypes": ["ether"]}, ALL1 + ALL2),
    ("linkTypes infiniband", {"linkTypes": ["infiniband"]}, []),
    ("needVhostNet is no filter", {"needVhostNet": True, "pfNames": ["ens2f0"]}, ALL2),
    ("unsupported selector matches nothing", {"ddpProfiles": ["GTP"]}, []),
]


@pytest.mark.parametrize("what,selectors,expected", CASES, ids=[c[0] for c in CASES])
def test_selector(model, what, selectors, expected) -> None:
    config = pools.parse({"resourceList": [{"resourceName": "pool", "selectors": selectors}]})
    assert config.assign(model) == {"intel.com/pool": sorted(expected)}


def test_first_matching_pool_wins_and_prefixes(model) -> None:
    config = pools.parse({"resourceList": [
        {"resourceName": "dpdk", "resourcePrefix": "example.com", "selectors": {"pfNames": ["ens1f0#6-7"]}},
        {"resourceName": "netdev", "selectors": {"vendors": ["8086"]}},
        {"resourceName": "never", "selectors": {"pfNames": ["ens1f0#0"]}},   # ens1f0 VF 0 already taken
        {"resourceName": "accel", "deviceType": "accelerator", "selectors": {"vendors": ["8086"]}},
    ]})
    assert config.assign(model) == {"example.com/dpdk": ens1(6, 7), "intel.com/netdev": ens1(*range(6)),
                                    "intel.com/never": []}


def test_list_of_selector_objects_is_an_or(model) -> None:
    config = pools.parse({"resourceList": [{"resourceName": "mixed", "selectors": [
        {"pfNames": ["ens1f0#0"]}, {"vendors": ["15b3"], "pfNames": ["ens2f0#3"]}]}]})
    assert config.assign(model) == {"intel.com/mixed": ens1(0) + ens2(3)}


def test_pool_of_as_another_driver(model) -> None:
    config = pools.parse({"resourceList": [
        {"resourceName": "dpdk", "selectors": {"drivers": ["vfio-pci"], "pfNames": ["ens1f0"]}},
        {"resourceName": "kernel", "selectors": {"pfNames": ["ens1f0"]}}]})
    vf = model.vf(ens1(0)[0])
    assert config.pool_of(model, vf) == "intel.com/kernel"
    assert config.pool_of(model, vf, as_driver="vfio-pci") == "intel.com/dpdk"


def test_go_style_keys_from_the_plugins_own_docs(tmp_path, model) -> None:
    # docs/config-file/README.md of the device plugin spells these keys this way
    path = tmp_path / "config.json"
    path.write_text('{"resourceList":[{"resourceName":"sriovnics","selectors":{"pfNames":["ens1f0#0-4","ens2f0#0-1"],'
                    '"IsRdma":false,"NeedVhostNet":false},"SelectorObj":null}]}')
    config = pools.load(str(path))
    assert config.assign(model) == {"intel.com/sriovnics": ens1(0, 1, 2, 3, 4) + ens2(0, 1)}


def test_yaml_file_and_default_prefix(tmp_path, model) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text("resourceList:\n- resourceName: a\n  selectors: {pfNames: [ens2f0]}\n")
    assert pools.load(str(path), default_prefix="acme.io").assign(model) == {"acme.io/a": ALL2}


@pytest.mark.parametrize("bad,message", [
    ({"resourceList": [{"resourceName": "bad name!"}]}, r"resourceList\[0\]\.resourceName"),
    ({"resourceList": [{"resourceName": "a", "selectors": {"pfNames": ["ens1f0#3-1"]}}]}, "end before start"),
    ({"resourceList": [{"resourceName": "a", "selectors": {"pfNames": ["ens1f0#x"]}}]}, "bad VF index range 'x'"),
    ({"resourceList": [{"resourceName": "a", "selectors": {"vendorz": ["8086"]}}]}, "vendorz"),
])
def test_bad_config_is_a_clear_error(bad, message) -> None:
    with pytest.raises(CNIError, match=message) as err:
        pools.parse(bad, source="pool config /etc/pcidp/config.json")
    assert err.value.code == 7 and "/etc/pcidp/config.json" in err.value.msg


def test_unreadable_file(tmp_path) -> None:
    with pytest.raises(CNIError, match="cannot be read"):
        pools.load(str(tmp_path / "nope.json"))


def test_warnings_name_unsupported_selectors() -> None:
    config = pools.parse({"resourceList": [{"resourceName": "rdma", "selectors": {"isRdma": True}}]})
    assert config.warnings() == ["pool intel.com/rdma: selectors isRdma are not supported by multus-dp; "
                                 "that selector matches no VF"]
    assert json.loads(json.dumps(config.names())) == ["intel.com/rdma"]
