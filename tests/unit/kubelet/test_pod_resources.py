"""The kubelet's device assignments through its PodResources API (a stand-in over real gRPC),
the checkpoint file only when the socket is absent, and the attachments' deviceIDs from them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.kubelet.assignments import CHECKPOINT, PODRESOURCES, KubeletAssignments
from multus_dp.kubelet.podresources import PodResourcesClient
from tests.support.kubelet_standin import KubeletStandin, short_dir
from tests.support.world import World, nad

pytestmark = pytest.mark.unit

RES = "intel.com/sriov_net"
ANN = "k8s.v1.cni.cncf.io/networks"


def write_checkpoint(path: Path, uid: str, resource: str, ids: list[str]) -> None:
    path.write_text(json.dumps({"Data": {"PodDeviceEntries": [
        {"PodUID": uid, "ContainerName": "app", "ResourceName": resource, "DeviceIDs": {"0": ids}}],
        "RegisteredDevices": {}}, "Checksum": 0}))


def test_get_answers_for_the_pod_over_all_its_containers(kubelet: KubeletStandin) -> None:
    kubelet.assign("ns1", "p", RES, ["0000:af:02.3", "0000:af:02.1"], container="a")
    kubelet.assign("ns1", "p", RES, ["0000:af:02.0"], container="b")
    kubelet.assign("ns1", "p", "example.org/other", ["x"], container="b")
    client = PodResourcesClient(str(kubelet.pod_resources_socket))
    pod = client.get("ns1", "p")
    assert pod is not None and pod.resources == {
        RES: ["0000:af:02.0", "0000:af:02.1", "0000:af:02.3"], "example.org/other": ["x"]}
    assert kubelet.calls == ["Get"] and client.get_supported
    assert client.get("ns1", "unknown") is None, "NOT_FOUND from Get falls back to List, which has no such pod"
    assert kubelet.calls == ["Get", "Get", "List"]
    client.close()


def test_without_get_the_client_lists_and_stops_trying_get(kubelet: KubeletStandin) -> None:
    kubelet.get_enabled = False
    kubelet.assign("ns1", "p", RES, ["0000:af:02.1"])
    kubelet.assign("ns1", "q", RES, ["0000:af:02.2"])
    client = PodResourcesClient(str(kubelet.pod_resources_socket))
    assert client.get("ns1", "q").resources == {RES: ["0000:af:02.2"]}
    assert client.get("ns1", "p").resources == {RES: ["0000:af:02.1"]}
    assert kubelet.calls == ["Get", "List", "List"] and client.get_supported is False
    client.close()


def test_assignments_prefer_pod_resources_and_fall_back_to_the_checkpoint(kubelet: KubeletStandin,
                                                                         tmp_path: Path) -> None:
    checkpoint = tmp_path / "kubelet_internal_checkpoint"
    write_checkpoint(checkpoint, "uid-1", RES, ["0000:3b:02.7"])
    kubelet.assign("ns1", "p", RES, ["0000:af:02.1", "0000:af:02.0"])
    kubelet.assign("ns1", "other", RES, ["0000:af:02.5"])
    lookup = KubeletAssignments(str(kubelet.pod_resources_socket), str(checkpoint))
    assert lookup.device_ids("uid-1", RES, "ns1", "p") == ["0000:af:02.0", "0000:af:02.1"]
    assert lookup.source == PODRESOURCES
    assert lookup.assigned(RES) == {"0000:af:02.0", "0000:af:02.1", "0000:af:02.5"}
    assert lookup.holders() == {"0000:af:02.0": "ns1/p", "0000:af:02.1": "ns1/p", "0000:af:02.5": "ns1/other"}

    absent = KubeletAssignments(str(tmp_path / "no-such.sock"), str(checkpoint))
    assert absent.device_ids("uid-1", RES, "ns1", "p") == ["0000:3b:02.7"]
    assert absent.source == CHECKPOINT and absent.current_source() == CHECKPOINT
    assert absent.assigned(RES) == {"0000:3b:02.7"}
    assert absent.holders() == {}


def test_a_kubelet_that_does_not_answer_is_try_again_later(tmp_path: Path) -> None:
    dead = short_dir() / "kubelet.sock"
    dead.write_text("")   # the socket path exists, nobody listens
    lookup = KubeletAssignments(str(dead), str(tmp_path / "checkpoint"), timeout=1.0)
    with pytest.raises(CNIError) as err:
        lookup.device_ids("uid-1", RES, "ns1", "p")
    assert err.value.code == 11 and "PodResources" in err.value.msg
    shutil.rmtree(dead.parent)


def test_attachments_take_the_vfs_pod_resources_reports(kubelet: KubeletStandin, tmp_path: Path,
                                                        fake_plugins) -> None:
    """Through the real entry (thin mode): the NAD's resourceName picks the pod's devices, sorted,
    one per attachment, and the checkpoint (which says otherwise) is not read."""
    fake_plugins.make("cluster")
    fake_plugins.make("vfplugin")
    world = World(tmp_path, fake_plugins.dir)
    world.add(nad("cluster-net", {"cniVersion": "1.0.0", "type": "cluster"}, namespace="kube-system"),
              nad("vf-net", {"cniVersion": "1.0.0", "type": "vfplugin"}, namespace="ns1", resource=RES))
    kubelet.assign("ns1", "pod1", RES, ["0000:af:02.4", "0000:af:02.2"])
    checkpoint = tmp_path / "checkpoint"
    write_checkpoint(checkpoint, "uid-1", RES, ["0000:3b:02.7", "0000:3b:02.6"])
    conf = world.conf(clusterNetwork="cluster-net", podResourcesSocket=str(kubelet.pod_resources_socket),
                      kubeletCheckpoint=str(checkpoint))
    reply = world.call("ADD", conf, {ANN: "vf-net,vf-net@vf1"})
    assert reply.exit_code == 0, reply.stdout
    calls = [json.loads(line) for line in (fake_plugins.logs / "vfplugin.jsonl").read_text().splitlines()]
    sent = {c["env"]["CNI_IFNAME"]: json.loads(c["stdin"])["deviceID"] for c in calls if c["command"] == "ADD"}
    assert sent == {"net1": "0000:af:02.2", "vf1": "0000:af:02.4"}

    # the same pod on a node without the PodResources socket: the checkpoint's VFs
    conf["podResourcesSocket"] = str(tmp_path / "absent.sock")
    reply = world.call("ADD", conf, {ANN: "vf-net,vf-net@vf1"}, cid="c2")
    assert reply.exit_code == 0, reply.stdout
    calls = [json.loads(line) for line in (fake_plugins.logs / "vfplugin.jsonl").read_text().splitlines()]
    sent = {c["env"]["CNI_IFNAME"]: json.loads(c["stdin"])["deviceID"] for c in calls
            if c["command"] == "ADD" and c["env"]["CNI_CONTAINERID"] == "c2"}
    assert sent == {"net1": "0000:3b:02.6", "vf1": "0000:3b:02.7"}
