"""Fuzzed GC input: whatever `cni.dev/valid-attachments` holds, GC either deletes exactly the
attachments it does not list or — when the list is missing or malformed — deletes nothing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus_dp.chain.entry import handle
from multus_dp.chain.journal import JournalStore
from tests.fuzz.support import NAMES, check_reply, json_values, scratch
from tests.support.fakeplugin import FakePluginDir

VALID = "cni.dev/valid-attachments"
LEGACY = "cni.dev/attachments"
PODS = ("c1", "c2")


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fake = FakePluginDir(tmp_path_factory.mktemp("fuzz-plugins"))
    fake.make("pa")
    return fake.dir


ENTRY = st.dictionaries(st.sampled_from(["containerID", "ifname", "netns", "extra"]),
                        st.one_of(st.sampled_from([*PODS, "eth0", "net1"]), NAMES, json_values(2)), max_size=4)
LISTS = st.one_of(st.lists(ENTRY, max_size=3), json_values(6),
                  st.lists(st.builds(lambda c, i: {"containerID": c, "ifname": i}, st.sampled_from(PODS),
                                     st.sampled_from(["eth0", "net1"])), max_size=2))


def well_formed(value: Any) -> bool:
    return value is None or isinstance(value, list) and all(
        isinstance(v, dict) and isinstance(v.get("containerID"), str) and v["containerID"]
        and isinstance(v.get("ifname"), str) and v["ifname"] for v in value)


@given(keys=st.dictionaries(st.sampled_from([VALID, LEGACY]), LISTS, max_size=2))
def test_gc_input(plugins: Path, keys: dict[str, Any]) -> None:
    with scratch() as root:
        conf = {"cniVersion": "1.1.0", "name": "mdp", "stateDir": str(root / "state"), "binDir": "",
                "networksDir": str(root / "none"), "delegates": [{"cniVersion": "1.0.0", "name": "a", "type": "pa"}]}
        for cid in PODS:
            env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
                   "CNI_PATH": str(plugins)}
            assert handle(env, json.dumps(conf).encode()).exit_code == 0
        reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(plugins)}, json.dumps({**conf, **keys}).encode())
        check_reply(reply, "GC")
        left = JournalStore(str(root / "state")).list_ids()
        listed = keys.get(VALID, keys.get(LEGACY))
        if (VALID in keys or LEGACY in keys) and well_formed(listed):
            assert reply.exit_code == 0, reply.stdout
            assert left == sorted({v["containerID"] for v in listed or [] if v["ifname"] == "eth0"} & set(PODS))
        else:
            assert reply.exit_code == 1 and json.loads(reply.stdout)["code"] == 7, reply.stdout
            assert left == list(PODS), "a malformed GC deleted attachments"
