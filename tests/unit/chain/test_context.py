"""The process context: built once, per request only the runner; the keys a request owns vs
the keys the process owns; VF pools read from the inventory, not from a sysfs scan."""
from __future__ import annotations

import json
import os
from pathlib import Path

from multus_dp.chain.context import ProcessContext, standalone_context
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.daemon.config import DaemonConfig
from multus_dp.hardware.assignments import CheckpointAssignments
from multus_dp.hardware.inventory import Inventory
from multus_dp.networks.conf import PROCESS_KEYS, REQUEST_KEYS, MultusConf
from multus_dp.sriov.builtin import SriovParts
from tests.support.fakesysfs import FakeSysfs

PF = "0000:3b:00.0"


def test_every_plugin_key_is_owned_by_the_process_or_by_the_request() -> None:
    assert not set(PROCESS_KEYS) & set(REQUEST_KEYS)
    assert set(PROCESS_KEYS) | set(REQUEST_KEYS) == set(MultusConf.model_fields)
    assert set(PROCESS_KEYS) <= set(DaemonConfig.model_fields)   # the daemon can set every key it owns


def daemon_context(tmp_path: Path, **keys: object) -> ProcessContext:
    config = DaemonConfig.model_validate({"stateDir": str(tmp_path / "daemon-state"), **keys})
    assignments = CheckpointAssignments(config.kubeletCheckpoint)
    return ProcessContext(keys=config, invoker=DelegateInvoker(timeout=config.delegateTimeout),
                          assignments=assignments, sriov=SriovParts(config, assignments), owns_keys=True)


def request(tmp_path: Path, **keys: object) -> MultusConf:
    return MultusConf.model_validate({"stateDir": str(tmp_path / "state"), "networksDir": str(tmp_path / "nets"),
                                      **keys})


def test_runners_share_the_long_lived_parts(tmp_path: Path) -> None:
    context = daemon_context(tmp_path)
    first, second = context.runner(request(tmp_path)), context.runner(request(tmp_path, parallel=False))
    assert first is not second and first.journals is not second.journals   # per request: cheap
    assert first.delegates.invoker is second.delegates.invoker is context.invoker
    assert first.delegates.builtins["sriov"] is second.delegates.builtins["sriov"]
    assert first.select.network_source is second.select.network_source   # type: ignore[attr-defined]
    # a request's own delegateTimeout: its own invoker, the VERSION cache still the process's
    slow = context.runner(request(tmp_path, delegateTimeout=5)).delegates.invoker
    assert slow.timeout == 5 and slow.versions is context.invoker.versions
    assert context.runner(request(tmp_path, delegateTimeout=5)).delegates.invoker is slow
    # another stateDir: its own journals and SR-IOV records
    other = context.runner(request(tmp_path, stateDir=str(tmp_path / "other")))
    assert other.journals.dir == tmp_path / "other" / "attachments"
    assert other.delegates.builtins["sriov"] is not first.delegates.builtins["sriov"]
    assert context.cache_sizes() == {"delegateVersions": 0}


def test_a_request_keeps_its_own_keys_and_the_daemon_keeps_its_own(tmp_path: Path) -> None:
    context = daemon_context(tmp_path, sysfsRoot=str(tmp_path / "sys"), kubeletCheckpoint="/daemon/checkpoint")
    conf = request(tmp_path, sysfsRoot="/elsewhere", kubeletCheckpoint="/request/checkpoint", parallel=False,
                   clusterNetwork="cluster", deviceInfoDir=str(tmp_path / "devinfo"))
    runner = context.runner(conf)
    assert (runner.conf.sysfsRoot, runner.conf.kubeletCheckpoint) == (str(tmp_path / "sys"), "/daemon/checkpoint")
    assert (runner.conf.parallel, runner.conf.clusterNetwork, runner.conf.stateDir, runner.conf.deviceInfoDir) == (
        False, "cluster", str(tmp_path / "state"), str(tmp_path / "devinfo"))
    assert (conf.sysfsRoot, conf.kubeletCheckpoint) == ("/elsewhere", "/request/checkpoint")   # not modified


def test_thin_mode_takes_every_key_from_the_request(tmp_path: Path) -> None:
    conf = request(tmp_path, sysfsRoot=str(tmp_path / "sys"), sriovExternal=False)
    context = standalone_context(conf)
    assert context.runner(conf).conf is conf
    assert standalone_context(request(tmp_path, sriovExternal=True)).runner(conf).delegates.builtins == {}


def pools_file(path: Path, *pools: tuple[str, str]) -> str:
    path.write_text(json.dumps({"resourceList": [{"resourceName": name, "selectors": {"pfNames": [sel]}}
                                                 for name, sel in pools]}))
    return str(path)


def test_pool_lookups_read_the_inventory_and_the_once_loaded_config(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path / "node")
    fs.add_pf(PF, netdev="ens1f0", total_vfs=8, num_vfs=2)
    path = pools_file(tmp_path / "pcidp.json", ("fast", "ens1f0#0-5"))
    inventory = Inventory(str(fs.root))
    keys = DaemonConfig(sysfsRoot=str(fs.root), sriovPoolsConfig=path)
    sriov = SriovParts(keys, CheckpointAssignments(keys.kubeletCheckpoint), inventory=lambda: inventory)
    vfs = [fs.vf_bdf(PF, i) for i in range(6)]
    assert sriov.pools.members("intel.com/fast") == vfs[:2]
    fs.remove_vfs(PF)
    fs.create_vfs(PF, 6)                      # sysfs changed; the model has not heard of it yet
    assert sriov.pools.members("intel.com/fast") == vfs[:2]
    inventory.refresh(set(vfs))               # what the udev watcher does on the events
    assert sriov.pools.members("intel.com/fast") == vfs
    pools_file(tmp_path / "pcidp.json", ("fast", "ens1f0#0-1"), ("rest", "ens1f0#2-5"))
    os.utime(path, ns=(1, 1))                 # a new mtime: the file is read again
    assert (sriov.pools.members("intel.com/fast"), sriov.pools.members("intel.com/rest")) == (vfs[:2], vfs[2:])
    assert sriov.allocator(str(tmp_path / "state")) is sriov.allocator(str(tmp_path / "state"))
