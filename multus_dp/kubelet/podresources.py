"""The kubelet's PodResources API (v1) client: which devices the kubelet assigned to which pod.

`Get` (one pod) is tried first; a kubelet without it (feature gate KubeletPodResourcesGet off,
or older than 1.27) answers UNIMPLEMENTED, after which this client uses `List` only. Any other
`Get` error also falls back to `List` for that call (as Multus does).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc

from multus_dp import logs
from multus_dp.cni.errors import CNIError, Code
from multus_dp.kubelet.api import podresources_pb2 as pb
from multus_dp.kubelet.api import podresources_pb2_grpc as pb_grpc

log = logs.get("kubelet.podresources")


@dataclass
class PodDevices:
    namespace: str
    name: str
    # resource name -> device IDs over all containers, sorted (Multus' order)
    resources: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _pod_devices(pod: pb.PodResources) -> PodDevices:
    found: dict[str, set[str]] = {}
    for container in pod.containers:
        for dev in container.devices:
            found.setdefault(dev.resource_name, set()).update(dev.device_ids)
    return PodDevices(pod.namespace, pod.name, {r: sorted(ids) for r, ids in sorted(found.items())})


class PodResourcesClient:
    def __init__(self, socket_path: str, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._channel: grpc.Channel | None = None
        self._guard = threading.Lock()
        self.get_supported: bool | None = None    # None: not tried yet

    def _stub(self) -> pb_grpc.PodResourcesListerStub:
        with self._guard:
            if self._channel is None:
                self._channel = grpc.insecure_channel(f"unix://{self.socket_path}")
            return pb_grpc.PodResourcesListerStub(self._channel)

    def close(self) -> None:
        with self._guard:
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _fail(self, what: str, exc: grpc.RpcError) -> CNIError:
        code = exc.code()
        return CNIError(Code.TRY_AGAIN_LATER if code == grpc.StatusCode.UNAVAILABLE else Code.INTERNAL,
                        f"kubelet PodResources {what} on {self.socket_path} failed: "
                        f"{code.name}: {exc.details()}")

    def list_pods(self) -> list[PodDevices]:
        try:
            resp = self._stub().List(pb.ListPodResourcesRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self._fail("List", exc) from exc
        return [_pod_devices(p) for p in resp.pod_resources]

    def get(self, namespace: str, name: str) -> PodDevices | None:
        """The pod's devices (None: the kubelet does not know the pod)."""
        if self.get_supported is not False:
            try:
                resp = self._stub().Get(pb.GetPodResourcesRequest(pod_name=name, pod_namespace=namespace),
                                        timeout=self.timeout)
                self.get_supported = True
                return _pod_devices(resp.pod_resources)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    self.get_supported = False
                    log.info("kubelet PodResources has no Get (feature gate off): using List")
                elif code == grpc.StatusCode.UNAVAILABLE:
                    raise self._fail("Get", exc) from exc
                else:
                    log.debug("PodResources Get %s/%s: %s; trying List", namespace, name, code.name)
        return next((p for p in self.list_pods() if (p.namespace, p.name) == (namespace, name)), None)

    def allocatable(self) -> dict[str, list[str]]:
        try:
            resp = self._stub().GetAllocatableResources(pb.AllocatableResourcesRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self._fail("GetAllocatableResources", exc) from exc
        out: dict[str, set[str]] = {}
        for dev in resp.devices:
            out.setdefault(dev.resource_name, set()).update(dev.device_ids)
        return {r: sorted(ids) for r, ids in out.items()}
