"""Golden tests: result conversion between every pair of spec versions (libcni's rules)."""
from __future__ import annotations

import copy
import itertools

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.cni.result import convert
from multus_dp.cni.versions import SUPPORTED_VERSIONS

IFACES_11 = [
    {"name": "cni0", "mac": "00:11:22:33:44:55", "mtu": 1500},
    {"name": "eth0", "mac": "00:11:22:33:44:66", "sandbox": "/run/netns/p", "mtu": 1400,
     "pciID": "0000:af:06.0"},
]
IFACES_10 = [
    {"name": "cni0", "mac": "00:11:22:33:44:55"},
    {"name": "eth0", "mac": "00:11:22:33:44:66", "sandbox": "/run/netns/p"},
]
ROUTES_11 = [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "priority": 10},
             {"dst": "fd00::/64", "gw": "fd00::1"}]
ROUTES_10 = [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "fd00::/64", "gw": "fd00::1"}]
DNS = {"nameservers": ["10.1.0.10"], "search": ["svc.local"]}
IPS_1X = [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 1},
          {"address": "10.1.0.6/24", "interface": 1},
          {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 1}]
IPS_0X = [{**ip, "version": "6" if ":" in ip["address"] else "4"} for ip in IPS_1X]

FULL = {
    "1.1.0": {"cniVersion": "1.1.0", "interfaces": IFACES_11, "ips": IPS_1X, "routes": ROUTES_11, "dns": DNS},
    "1.0.0": {"cniVersion": "1.0.0", "interfaces": IFACES_10, "ips": IPS_1X, "routes": ROUTES_10, "dns": DNS},
    "0.4.0": {"cniVersion": "0.4.0", "interfaces": IFACES_10, "ips": IPS_0X, "routes": ROUTES_10, "dns": DNS},
    "0.3.1": {"cniVersion": "0.3.1", "interfaces": IFACES_10, "ips": IPS_0X, "routes": ROUTES_10, "dns": DNS},
    "0.3.0": {"cniVersion": "0.3.0", "interfaces": IFACES_10, "ips": IPS_0X, "routes": ROUTES_10, "dns": DNS},
    "0.2.0": {"cniVersion": "0.2.0",
              "ip4": {"ip": "10.1.0.5/24", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]},
              "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1", "routes": [{"dst": "fd00::/64", "gw": "fd00::1"}]},
              "dns": DNS},
}
FULL["0.1.0"] = {**FULL["0.2.0"], "cniVersion": "0.1.0"}

# What a legacy (0.1/0.2) result becomes going up: one IP per family, no interface index.
LEGACY_IPS = [{"address": "10.1.0.5/24", "gateway": "10.1.0.1"}, {"address": "fd00::5/64", "gateway": "fd00::1"}]
FROM_LEGACY = {
    v: {"cniVersion": v, "ips": [{**ip, "version": "6" if ":" in ip["address"] else "4"} for ip in LEGACY_IPS]
        if v.startswith("0.") else LEGACY_IPS, "routes": ROUTES_10, "dns": DNS}
    for v in ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
}
FROM_LEGACY["0.1.0"] = FULL["0.1.0"]
FROM_LEGACY["0.2.0"] = FULL["0.2.0"]


def expected(source: str, target: str) -> dict:
    if source in ("0.1.0", "0.2.0"):
        return FROM_LEGACY[target]
    if target == "1.1.0" and source != "1.1.0":
        return {**FULL["1.0.0"], "cniVersion": "1.1.0"}  # 1.1-only fields were never there
    return FULL[target]


@pytest.mark.parametrize("source,target", list(itertools.product(SUPPORTED_VERSIONS, SUPPORTED_VERSIONS)))
def test_every_pair(source: str, target: str) -> None:
    original = copy.deepcopy(FULL[source])
    assert convert(original, target) == expected(source, target)
    assert original == FULL[source], "conversion must not mutate its input"


def test_down_to_legacy_without_ip_is_an_error() -> None:
    with pytest.raises(CNIError) as err:
        convert({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}, "0.2.0")
    assert err.value.code == 1 and "no valid IP" in err.value.msg


def test_unknown_version_refused() -> None:
    with pytest.raises(CNIError) as err:
        convert({"cniVersion": "0.5.0"}, "1.0.0")
    assert err.value.code == 1
