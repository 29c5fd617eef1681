"""One pool's kubelet device plugin: the `v1beta1.DevicePlugin` gRPC service on its own socket.

The endpoint holds the pool's current device list; `update()` replaces it and wakes every
ListAndWatch stream, which sends the new list. Allocate answers from the same list, so an ID
the stream last called Unhealthy (or never listed) is refused with FAILED_PRECONDITION /
NOT_FOUND instead of silently succeeding.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures

import grpc

from multus_dp import logs
from multus_dp.kubelet import devices as dv
from multus_dp.kubelet.api import deviceplugin_pb2 as pb
from multus_dp.kubelet.api import deviceplugin_pb2_grpc as pb_grpc

log = logs.get("kubelet.plugin")
API_VERSION = "v1beta1"
# a stream re-checks that its client is still there this often (seconds) while nothing changes
STREAM_POLL = 1.0


class PoolEndpoint(pb_grpc.DevicePluginServicer):
    def __init__(self, resource: str, socket_path: str, *, sysfs_root: str, dev_root: str = "/dev",
                 policy: str = "", max_streams: int = 4, taken: Callable[[str], bool] | None = None) -> None:
        self.resource = resource                 # "<prefix>/<resourceName>"
        self.socket_path = socket_path
        self.sysfs_root = sysfs_root
        self.dev_root = dev_root
        self.policy = policy
        self.max_streams = max_streams
        # checked live at Allocate: a VF multus-dp's own allocator holds (the list may lag it)
        self.taken = taken or (lambda bdf: False)
        self._devices: dict[str, dv.PoolDevice] = {}
        self._generation = 0
        self._changed = threading.Condition()
        self._stopping = False
        self._server: grpc.Server | None = None
        self._socket_ino: int | None = None

    # ---- state ---------------------------------------------------------------------------
    def update(self, devices: list[dv.PoolDevice]) -> bool:
        """Replace the device list; True (and every stream is woken) when it changed."""
        new = {d.bdf: d for d in devices}
        with self._changed:
            if new == self._devices:
                return False
            self._devices = new
            self._generation += 1
            self._changed.notify_all()
        return True

    def devices(self) -> list[dv.PoolDevice]:
        with self._changed:
            return sorted(self._devices.values(), key=lambda d: d.bdf)

    # ---- serving -------------------------------------------------------------------------
    def start(self) -> None:
        """Serve on a fresh socket (a stale file of an earlier run is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        with self._changed:
            self._stopping = False
        # every ListAndWatch stream holds a worker thread for its lifetime: one kubelet stream
        # plus calls, and room for a restarted kubelet's stream while the old one winds down
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_streams,
                                                        thread_name_prefix=f"dp-{os.path.basename(self.socket_path)}"))
        pb_grpc.add_DevicePluginServicer_to_server(self, server)
        server.add_insecure_port(f"unix://{self.socket_path}")
        server.start()
        self._server = server
        self._socket_ino = os.stat(self.socket_path).st_ino
        log.info("device plugin for %s serving on %s", self.resource, self.socket_path)

    def socket_intact(self) -> bool:
        """Is our socket file still there (a restarting kubelet deletes the directory's sockets)?"""
        try:
            return os.stat(self.socket_path).st_ino == self._socket_ino
        except OSError:
            return False

    def stop(self, grace: float = 1.0) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait(grace + 1.0)
        if self._socket_ino is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.socket_path).st_ino == self._socket_ino:
                    os.unlink(self.socket_path)
        self._socket_ino = None

    # ---- the DevicePlugin service --------------------------------------------------------
    def GetDevicePluginOptions(self, request: pb.Empty,  # noqa: N802
                               context: grpc.ServicerContext) -> pb.DevicePluginOptions:
        return options()

    def ListAndWatch(self, request: pb.Empty,  # noqa: N802
                     context: grpc.ServicerContext) -> Iterator[pb.ListAndWatchResponse]:
        with self._changed:
            generation, current = self._generation, dict(self._devices)
        log.info("kubelet watches %s (%d devices)", self.resource, len(current))
        yield _list_response(current.values())
        while True:
            with self._changed:
                while self._generation == generation and not self._stopping and context.is_active():
                    self._changed.wait(STREAM_POLL)
                if self._stopping or not context.is_active():
                    return
                generation, current = self._generation, dict(self._devices)
            yield _list_response(current.values())

    def GetPreferredAllocation(self, request: pb.PreferredAllocationRequest,  # noqa: N802
                               context: grpc.ServicerContext) -> pb.PreferredAllocationResponse:
        with self._changed:
            current = dict(self._devices)
        out = pb.PreferredAllocationResponse()
        for req in request.container_requests:
            ids = dv.preferred(list(req.available_deviceIDs), list(req.must_include_deviceIDs),
                               req.allocation_size, current, self.policy)
            out.container_responses.add(deviceIDs=ids)
        return out

    def Allocate(self, request: pb.AllocateRequest, context: grpc.ServicerContext) -> pb.AllocateResponse:  # noqa: N802
        with self._changed:
            current = dict(self._devices)
        out = pb.AllocateResponse()
        for req in request.container_requests:
            try:
                held = [i for i in req.devices_ids if self.taken(i)]
                if held:
                    raise dv.AllocationRefused(f"{self.resource}: device(s) {', '.join(held)} are allocated by "
                                               "multus-dp to a pod that did not request the resource")
                answer = dv.allocate(self.resource, list(req.devices_ids), current, self.sysfs_root, self.dev_root)
            except dv.AllocationRefused as exc:
                log.warning("Allocate refused: %s", exc)
                unknown = any(i not in current for i in req.devices_ids)
                context.abort(grpc.StatusCode.NOT_FOUND if unknown else grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            resp = out.container_responses.add()
            resp.envs.update(answer.envs)
            for spec in answer.devices:
                resp.devices.add(container_path=spec.container_path, host_path=spec.host_path,
                                 permissions=spec.permissions)
        log.info("Allocate %s: %s", self.resource,
                 "; ".join(",".join(r.devices_ids) for r in request.container_requests))
        return out

    def PreStartContainer(self, request: pb.PreStartContainerRequest,  # noqa: N802
                          context: grpc.ServicerContext) -> pb.PreStartContainerResponse:
        return pb.PreStartContainerResponse()


def options() -> pb.DevicePluginOptions:
    return pb.DevicePluginOptions(pre_start_required=False, get_preferred_allocation_available=True)


def _list_response(devices: Iterable[dv.PoolDevice]) -> pb.ListAndWatchResponse:
    out = pb.ListAndWatchResponse()
    for dev in sorted(devices, key=lambda d: d.bdf):
        item = out.devices.add(ID=dev.bdf, health=dev.health)
        if dev.numa_node >= 0:
            item.topology.nodes.add(ID=dev.numa_node)
    return out


def register(kubelet_socket: str, endpoint: str, resource: str, timeout: float) -> None:
    """Register one endpoint (its socket's file name) with the kubelet; raises grpc.RpcError."""
    with grpc.insecure_channel(f"unix://{kubelet_socket}") as channel:
        stub = pb_grpc.RegistrationStub(channel)
        stub.Register(pb.RegisterRequest(version=API_VERSION, endpoint=endpoint, resource_name=resource,
                                         options=options()), timeout=timeout, wait_for_ready=False)
