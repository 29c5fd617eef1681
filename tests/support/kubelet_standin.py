"""A kubelet stand-in for the device plugin and PodResources APIs, over real gRPC on unix sockets.

`KubeletStandin(base)` serves, like the kubelet:
- `v1beta1.Registration` on `<base>/device-plugins/kubelet.sock` (records every RegisterRequest);
- `v1.PodResourcesLister` on `<base>/pod-resources/kubelet.sock`, answering from `assign()`
  (Get can be switched off to see the List fallback: `get_enabled = False`).
`restart()` does what a restarting kubelet does: stops, deletes every socket in the
device-plugins directory (the plugins' too) and serves a fresh `kubelet.sock`.
`plugin(resource)` is a client that drives a registered plugin the way the kubelet does:
options, a ListAndWatch stream read in the background (`wait_for` a list matching a predicate),
GetPreferredAllocation and Allocate.
"""
from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc

from multus_dp.kubelet.api import deviceplugin_pb2 as dp
from multus_dp.kubelet.api import deviceplugin_pb2_grpc as dp_grpc
from multus_dp.kubelet.api import podresources_pb2 as pr
from multus_dp.kubelet.api import podresources_pb2_grpc as pr_grpc

DeviceList = dict[str, dp.Device]   # ID -> device, one ListAndWatch message


class _Registration(dp_grpc.RegistrationServicer):
    def __init__(self, standin: KubeletStandin) -> None:
        self.standin = standin

    def Register(self, request: dp.RegisterRequest, context: grpc.ServicerContext) -> dp.Empty:  # noqa: N802
        if request.version != "v1beta1":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported version {request.version}")
        with self.standin.lock:
            self.standin.registrations.append(request)
            self.standin.lock.notify_all()
        return dp.Empty()


class _PodResources(pr_grpc.PodResourcesListerServicer):
    def __init__(self, standin: KubeletStandin) -> None:
        self.standin = standin

    def _pod(self, key: tuple[str, str], containers: dict[str, dict[str, list[str]]]) -> pr.PodResources:
        pod = pr.PodResources(namespace=key[0], name=key[1])
        for container, resources in containers.items():
            c = pod.containers.add(name=container)
            for resource, ids in resources.items():
                c.devices.add(resource_name=resource, device_ids=ids)
        return pod

    def List(self, request: pr.ListPodResourcesRequest, context: grpc.ServicerContext) -> pr.ListPodResourcesResponse:  # noqa: N802
        with self.standin.lock:
            self.standin.calls.append("List")
            pods = [self._pod(k, v) for k, v in self.standin.pods.items()]
        return pr.ListPodResourcesResponse(pod_resources=pods)

    def Get(self, request: pr.GetPodResourcesRequest, context: grpc.ServicerContext) -> pr.GetPodResourcesResponse:  # noqa: N802
        with self.standin.lock:
            self.standin.calls.append("Get")
            if not self.standin.get_enabled:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, "feature gate KubeletPodResourcesGet is off")
            key = (request.pod_namespace, request.pod_name)
            if key not in self.standin.pods:
                context.abort(grpc.StatusCode.NOT_FOUND, f"pod {key[0]}/{key[1]} not found")
            return pr.GetPodResourcesResponse(pod_resources=self._pod(key, self.standin.pods[key]))

    def GetAllocatableResources(self, request: pr.AllocatableResourcesRequest,  # noqa: N802
                                context: grpc.ServicerContext) -> pr.AllocatableResourcesResponse:
        return pr.AllocatableResourcesResponse()


class KubeletStandin:
    def __init__(self, base: Path) -> None:
        self.plugins_dir = base / "device-plugins"
        self.pod_resources_socket = base / "pod-resources" / "kubelet.sock"
        self.plugins_dir.mkdir(parents=True, exist_ok=True)
        self.pod_resources_socket.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Condition()
        self.registrations: list[dp.RegisterRequest] = []
        self.pods: dict[tuple[str, str], dict[str, dict[str, list[str]]]] = {}
        self.calls: list[str] = []
        self.get_enabled = True
        self._registration: grpc.Server | None = None
        self._pod_resources: grpc.Server | None = None
        self._clients: list[PluginClient] = []

    @property
    def kubelet_socket(self) -> Path:
        return self.plugins_dir / "kubelet.sock"

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> KubeletStandin:
        self._start_registration()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pr_grpc.add_PodResourcesListerServicer_to_server(_PodResources(self), server)
        server.add_insecure_port(f"unix://{self.pod_resources_socket}")
        server.start()
        self._pod_resources = server
        return self

    def _start_registration(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        dp_grpc.add_RegistrationServicer_to_server(_Registration(self), server)
        server.add_insecure_port(f"unix://{self.kubelet_socket}")
        server.start()
        self._registration = server

    def restart(self) -> None:
        """The kubelet restarts: its streams end, every socket in the directory is deleted, a new
        kubelet.sock appears."""
        for client in self._clients:
            client.close()
        if self._registration is not None:
            self._registration.stop(0).wait()
        for entry in self.plugins_dir.iterdir():
            if entry.is_socket():
                entry.unlink()
        self._start_registration()

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        for server in (self._registration, self._pod_resources):
            if server is not None:
                server.stop(0).wait()

    # ---- what a test asks ----------------------------------------------------------------
    def assign(self, namespace: str, name: str, resource: str, ids: list[str], container: str = "app") -> None:
        with self.lock:
            self.pods.setdefault((namespace, name), {}).setdefault(container, {})[resource] = list(ids)

    def wait_registered(self, resource: str, *, after: int = 0, timeout: float = 10.0) -> dp.RegisterRequest:
        """The first registration of `resource` among those received after the first `after`."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [r for r in self.registrations[after:] if r.resource_name == resource]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [r.resource_name for r in self.registrations]
                    raise AssertionError(f"{resource} not registered within {timeout}s; registrations: {got}")
                self.lock.wait(left)

    def plugin(self, resource: str) -> PluginClient:
        """A kubelet-side client of the plugin registered last for `resource`."""
        with self.lock:
            request = next(r for r in reversed(self.registrations) if r.resource_name == resource)
        client = PluginClient(self.plugins_dir / request.endpoint)
        self._clients.append(client)
        return client


class PluginClient:
    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.stub = dp_grpc.DevicePluginStub(self.channel)
        self.lists: queue.Queue[DeviceList | None] = queue.Queue()
        self.latest: DeviceList | None = None
        self._stream: grpc.Future | None = None
        self._thread: threading.Thread | None = None

    def options(self) -> dp.DevicePluginOptions:
        return self.stub.GetDevicePluginOptions(dp.Empty(), timeout=5)

    def watch(self) -> PluginClient:
        """Open the ListAndWatch stream; its messages are read in the background."""
        stream = self.stub.ListAndWatch(dp.Empty())
        self._stream = stream

        def read() -> None:
            try:
                for message in stream:
                    self.lists.put({d.ID: d for d in message.devices})
            except grpc.RpcError:
                pass
            self.lists.put(None)
        self._thread = threading.Thread(target=read, daemon=True)
        self._thread.start()
        return self

    def wait_for(self, predicate: Callable[[DeviceList], bool], timeout: float = 2.0) -> DeviceList:
        """The first streamed list (the latest one included) for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        if self.latest is not None and predicate(self.latest):
            return self.latest
        while True:
            left = deadline - time.monotonic()
            try:
                got = self.lists.get(timeout=max(left, 0))
            except queue.Empty:
                raise AssertionError(f"no matching device list within {timeout}s; last: "
                                     f"{ {k: v.health for k, v in (self.latest or {}).items()} }") from None
            if got is None:
                raise AssertionError("the ListAndWatch stream ended")
            self.latest = got
            if predicate(got):
                return got

    def preferred(self, available: list[str], must: list[str], size: int) -> list[str]:
        request = dp.PreferredAllocationRequest()
        request.container_requests.add(available_deviceIDs=available, must_include_deviceIDs=must,
                                       allocation_size=size)
        return list(self.stub.GetPreferredAllocation(request, timeout=5).container_responses[0].deviceIDs)

    def allocate(self, *containers: list[str]) -> dp.AllocateResponse:
        request = dp.AllocateRequest()
        for ids in containers:
            request.container_requests.add(devices_ids=ids)
        return self.stub.Allocate(request, timeout=5)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self.channel.close()


def healthy(devices: DeviceList) -> set[str]:
    return {i for i, d in devices.items() if d.health == "Healthy"}


def unhealthy(devices: DeviceList) -> set[str]:
    return {i for i, d in devices.items() if d.health == "Unhealthy"}


def short_dir() -> Path:
    """A fresh directory with a short path: a unix socket path must fit in 107 bytes, which
    pytest's tmp_path (plus device-plugins/multus-dp-<name>.sock) does not."""
    return Path(tempfile.mkdtemp(prefix="mdp-kubelet-"))
