"""The node daemon: serves CNI requests and health/status/metrics on a unix socket.

One process per node holds the long-lived parts in one process context built at start
(chain/context.py: VERSION cache, watch caches, hardware inventory, SR-IOV delegate). Each
CNI request runs `chain.entry.handle` under the daemon's rules: at most `maxConcurrency` at once, one at a time per container, GC alone. SIGTERM: the socket is
removed and closed (new callers get "try again later" from the shim), in-flight work
finishes, the process exits. With `idleTimeout` (the on-demand daemon of thin mode) it also
exits after that long without a request: the socket file goes first (a new shim starts a new
daemon), what is already queued on the socket is served, then the process exits.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import queue
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multus_dp import logs
from multus_dp.base.jsonin import decode
from multus_dp.chain.context import ProcessContext
from multus_dp.chain.entry import Reply, handle
from multus_dp.chain.journal import JournalStore
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.request import parse_cni_args
from multus_dp.cni.versions import LATEST, reply_version

from . import sockdir
from .concurrency import Busy, ContainerLocks, GCGate, Slots
from .config import DaemonConfig, parse_address
from .health import Readiness
from .metrics import DaemonMetrics
from .protocol import CNI_PATH, EXIT_CODE_HEADER, env_from_headers
from .wiring import build_context

log = logs.get("daemon")

MAX_BODY = 16 << 20
# idle exit: how long the socket must stay quiet after its file is removed before the daemon
# stops accepting (a connect that resolved the path just before the removal lands within it)
IDLE_EXIT_GRACE = 0.2
SERIALIZED = ("ADD", "DEL", "CHECK", "GC")


class DaemonError(Exception):
    """The daemon cannot start; the message says why."""


class Daemon:
    def __init__(self, config: DaemonConfig, context: ProcessContext | None = None,
                 metrics: DaemonMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or DaemonMetrics()
        self.context = context or build_context(config, self.metrics)
        self.readiness = Readiness(config.readinessindicatorfile)
        self.readiness.checks.extend(self.context.ready_checks)
        # per request only the runner is built; an ADD asks the daemon's whole readiness
        self.runner_factory = functools.partial(self.context.runner, ready=self.readiness.serving_reason)
        self.locks = ContainerLocks()
        self.gate = GCGate()
        self.slots = Slots(config.maxConcurrency, config.maxQueue)
        self.state_dirs: set[str] = {config.stateDir}
        self._inflight: dict[int, dict[str, Any]] = {}
        self._inflight_cond = threading.Condition()
        self._connections = 0
        self._ids = itertools.count()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._metrics_server: Any = None
        self._socket_ino: int | None = None
        self._started_at = time.time()
        self._last_activity = time.monotonic()
        self._stop_requested = threading.Event()

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._server = _Server(self)
        self._server.bind_unix(self.config.socketPath)
        self._socket_ino = os.stat(self.config.socketPath).st_ino
        # journal temp files of a killed daemon (each removed under its container's lock)
        cleaned = JournalStore(self.config.stateDir).clean_temp_files()
        if cleaned:
            log.info("removed %d journal temp file(s) left by an interrupted write", cleaned)
        self._serve_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                              name="daemon-accept", daemon=True)
        self._serve_thread.start()
        if self.config.metricsAddress:
            self._start_metrics(self.config.metricsAddress)
        self.readiness.mark_started()
        log.info("serving on %s (maxConcurrency %d)", self.config.socketPath, self.config.maxConcurrency)

    def _start_metrics(self, address: str) -> None:
        from prometheus_client import start_http_server

        host, port = parse_address(address)
        try:
            self._metrics_server, _ = start_http_server(port, addr=host, registry=self.metrics.registry)
        except OSError as exc:
            self.stop()
            raise DaemonError(f"cannot serve metrics on {address}: {exc.strerror}") from exc

    @property
    def metrics_port(self) -> int | None:
        return self._metrics_server.server_port if self._metrics_server else None

    def stop(self, serve_queued: bool = False) -> list[dict[str, Any]]:
        """Stop accepting, let in-flight work finish (up to shutdownTimeout), release the socket.
        Returns what was still running when the time ran out. `serve_queued` (idle exit): the
        connections already queued on the socket are served, not cut (SIGTERM cuts them: the
        shim answers 11 and the runtime retries)."""
        self.readiness.mark_stopping()
        server, self._server = self._server, None
        if server is not None:
            self._unlink_socket()
            if serve_queued:
                self._serve_queued()
            server.shutdown()
            if serve_queued:
                self._accept_backlog(server)
            server.server_close()
        left = self.wait_idle(self.config.shutdownTimeout)
        if left:
            log.error("shutdown timeout: %d request(s) still running", len(left),
                      extra={"container": ",".join(r["container"] for r in left)})
        self.context.stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        log.info("stopped")
        return left

    def _unlink_socket(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.config.socketPath).st_ino == self._socket_ino:
                os.unlink(self.config.socketPath)

    def _serve_queued(self) -> None:
        """The socket file is gone, so no new connection can arrive; a shim that resolved the
        path just before may still be connecting: keep accepting until the socket has been
        quiet for IDLE_EXIT_GRACE seconds."""
        while True:
            with self._inflight_cond:
                quiet = time.monotonic() - self._last_activity
            if quiet >= IDLE_EXIT_GRACE:
                return
            time.sleep(IDLE_EXIT_GRACE - quiet)

    def _accept_backlog(self, server: _Server) -> None:
        """What connected between the last accept and the shutdown of the accept loop."""
        server.socket.setblocking(False)
        while True:
            try:
                request, address = server.get_request()
            except (BlockingIOError, OSError):
                return
            server.process_request(request, address)

    def connection_opened(self) -> None:
        with self._inflight_cond:
            self._connections += 1
            self._last_activity = time.monotonic()

    def connection_closed(self) -> None:
        with self._inflight_cond:
            self._connections -= 1
            self._last_activity = time.monotonic()
            self._inflight_cond.notify_all()

    def idle_seconds(self) -> float:
        """Seconds since the last connection ended; 0 while one is open or a request runs."""
        with self._inflight_cond:
            if self._connections or self._inflight:
                return 0.0
            return time.monotonic() - self._last_activity

    def wait_idle(self, timeout: float) -> list[dict[str, Any]]:
        """Wait until every accepted connection got its reply; returns what is still running."""
        deadline = time.monotonic() + timeout
        with self._inflight_cond:
            while (self._inflight or self._connections) and time.monotonic() < deadline:
                self._inflight_cond.wait(deadline - time.monotonic())
            return list(self._inflight.values())

    def run_forever(self) -> int:
        """Serve until SIGTERM/SIGINT, or until idle for idleTimeout seconds when set."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop_requested.set())
        self.start()
        idle_timeout = self.config.idleTimeout
        tick = min(1.0, idle_timeout / 4) if idle_timeout else 1.0
        while not self._stop_requested.wait(tick):
            if idle_timeout and self.idle_seconds() >= idle_timeout:
                log.info("no request for %g s: exiting (idleTimeout)", idle_timeout)
                return 1 if self.stop(serve_queued=True) else 0
        log.info("signal received: stopping")
        return 1 if self.stop() else 0

    # ---- CNI requests --------------------------------------------------------------------
    def handle_cni(self, env: dict[str, str], stdin: bytes) -> Reply:
        command = env.get("CNI_COMMAND", "")
        start = time.monotonic()
        token = self._track(env)
        reply = Reply(1, "")  # what the metrics see if handling itself blew up
        try:
            if command in SERIALIZED:
                reply = self._serialized(command, env, stdin)
            else:
                reply = handle(env, stdin, self.runner_factory)
            if command == "ADD" and reply.exit_code == 0:
                self._remember_state_dir(stdin)
            return reply
        finally:
            self._untrack(token)
            self.metrics.observe_request(command, time.monotonic() - start, reply.exit_code, reply.stdout)

    def _serialized(self, command: str, env: dict[str, str], stdin: bytes) -> Reply:
        container = env.get("CNI_CONTAINERID", "")
        deadline = time.monotonic() + self.config.queueTimeout
        left = lambda: max(0.0, deadline - time.monotonic())  # noqa: E731
        try:
            with self.slots.admit():
                gate = self.gate.exclusive if command == "GC" else self.gate.shared
                with gate(left()):
                    lock = self.locks.hold(container, left()) if container else contextlib.nullcontext()
                    with lock, self.slots.slot(left()):
                        return handle(env, stdin, self.runner_factory)
        except Busy as exc:
            where = _pod_label(env)
            log.warning("%s refused: %s", command, exc, extra={"command": command, "container": container,
                                                                 "pod": where})
            err = CNIError(Code.TRY_AGAIN_LATER, f"multus-dp daemon is busy, {command} for {where} was not started: "
                           f"{exc}", "raise maxConcurrency/maxQueue/queueTimeout in the daemon config if this "
                           "happens under normal load")
            return Reply(1, err.to_json(reply_version(stdin)))

    def _track(self, env: dict[str, str]) -> int:
        token = next(self._ids)
        with self._inflight_cond:
            self._inflight[token] = {"command": env.get("CNI_COMMAND", ""), "container": env.get("CNI_CONTAINERID", ""),
                                     "pod": _pod_label(env), "since": time.time()}
            self.metrics.in_flight.set(len(self._inflight))
        return token

    def _untrack(self, token: int) -> None:
        with self._inflight_cond:
            self._inflight.pop(token, None)
            self.metrics.in_flight.set(len(self._inflight))
            self._inflight_cond.notify_all()

    def _remember_state_dir(self, stdin: bytes) -> None:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            state_dir = decode(stdin).get("stateDir")
            if isinstance(state_dir, str) and state_dir:
                self.state_dirs.add(state_dir)

    # ---- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        reason = self.readiness.reason()
        with self._inflight_cond:
            inflight = [dict(r, seconds=round(time.time() - r["since"], 3)) for r in self._inflight.values()]
        pools = self.metrics.pool_stats() if self.metrics.pool_stats else []
        return {
            "ready": reason is None, "reason": reason, "pid": os.getpid(), "socket": self.config.socketPath,
            "uptimeSeconds": round(time.time() - self._started_at, 1),
            "maxConcurrency": self.config.maxConcurrency, "maxQueue": self.config.maxQueue,
            "inFlight": inflight,
            "caches": self.context.cache_sizes(),
            "kubernetes": self.metrics.kube_status(),
            "attachments": self._attachments(),
            "vfPools": [{"pool": p.pool, "size": p.size, "allocated": p.allocated} for p in pools],
            **{name: section() for name, section in self.context.status_extras.items()},
            "sriov": self.context.sriov_status(),
        }

    def _attachments(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for state_dir in sorted(self.state_dirs):
            store = JournalStore(state_dir)
            for cid in store.list_ids():
                try:
                    journal = store.load(cid)
                except CNIError:
                    out.append({"pod": "?", "containerID": cid, "stateDir": state_dir, "error": "journal corrupt"})
                    continue
                if journal is None:
                    continue
                out.append({"pod": journal.pod.label(), "containerID": cid, "stateDir": state_dir,
                            "networks": [{"network": e.attachment.network, "interface": e.attachment.ifname,
                                          "state": e.state} for e in journal.entries]})
        return out


# ---- HTTP over the unix socket ---------------------------------------------------------------
class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True   # shutdown waits on our own in-flight count, with a deadline
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, daemon: Daemon) -> None:
        super().__init__("", _Handler, bind_and_activate=False)
        self.daemon = daemon
        self.workers = _Workers()

    def bind_unix(self, path: str) -> None:
        directory = Path(path).parent
        try:
            sockdir.prepare(directory)
        except sockdir.UnsafeSocketDir as exc:
            raise DaemonError(f"refusing to serve: {exc}") from exc
        except OSError as exc:
            raise DaemonError(f"cannot prepare the socket directory {directory}: {exc}") from exc
        if directory.stat().st_mode & 0o077:
            log.warning("socket directory %s is readable by group/others; the socket itself is 0600", directory)
        if os.path.exists(path) or os.path.islink(path):
            if _socket_answers(path):
                raise DaemonError(f"another multus-dp daemon is already serving on {path}")
            os.unlink(path)  # stale: left by a daemon that died
        self.server_address = path
        old = os.umask(0o177)   # the socket never exists with a wider mode, not even briefly
        try:
            self.server_bind()
        except OSError as exc:
            raise DaemonError(f"cannot bind the daemon socket {path}: {exc.strerror}") from exc
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        # counted from accept on: a connection whose request is still being read is in flight too
        self.daemon.connection_opened()
        try:
            self.workers.submit(self.process_request_thread, request, client_address)
        except BaseException:
            self.daemon.connection_closed()
            raise

    def server_close(self) -> None:
        super().server_close()
        self.workers.close()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.daemon.connection_closed()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            # the shim was killed (runtime timeout) before its reply was written: routine
            log.info("a client went away before its reply was sent (%s)", type(exc).__name__)
            return
        log.exception("connection handler failed")


class _Workers:
    """One thread per connection, as socketserver's ThreadingMixIn, but a thread that finished
    its connection waits a while for the next one: starting a thread costs ~0.1 ms of every
    CNI request on a busy node, handing a connection to a waiting one ~20 µs. No limit on
    threads (maxConcurrency/maxQueue answer "busy" once a request is read); at most
    `keep_idle` wait, each for at most `idle_timeout` seconds."""

    def __init__(self, keep_idle: int = 16, idle_timeout: float = 30.0) -> None:
        self.keep_idle = keep_idle
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._closed = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._run, args=(inbox,), name="daemon-connection", daemon=True).start()
        inbox.put((fn, args))

    def _run(self, inbox: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            try:
                job = inbox.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:   # else submit() just took it: its job is on the way
                        self._idle.remove(inbox)
                        return
                continue
            if job is None:
                return
            fn, args = job
            fn(*args)
            with self._lock:
                if self._closed or len(self._idle) >= self.keep_idle:
                    return
                self._idle.append(inbox)

    def close(self) -> None:
        """Let the waiting threads go (busy ones finish their connection first)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)


_Job = tuple[Callable[..., None], tuple[Any, ...]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        # reading one request is bounded: a stuck client must not hold a thread forever
        self.timeout = self.server.daemon.config.readTimeout  # type: ignore[misc]  # socketserver reads it per instance
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug(format % args)

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
              exit_code: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if exit_code is not None:
            self.send_header(EXIT_CODE_HEADER, str(exit_code))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        daemon = self.server.daemon
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            reason = daemon.readiness.reason()
            self._send(200 if reason is None else 503, f"{reason or 'ready'}\n".encode())
        elif path == "/status":
            self._send(200, json.dumps(daemon.status(), indent=1).encode(), "application/json")
        elif path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST

            self._send(200, daemon.metrics.exposition(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, f"no such endpoint {path}; try /cni, /healthz, /readyz, /status, /metrics\n".encode())

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != CNI_PATH:
            self._send(404, f"POST {self.path}: only {CNI_PATH} accepts requests\n".encode())
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            err = CNIError(Code.IO_FAILURE, f"request to the multus-dp daemon needs a Content-Length of at most "
                           f"{MAX_BODY} bytes (got {length!r})")
            self._send(400, err.to_json(LATEST).encode() + b"\n", "application/json", exit_code=1)
            return
        try:
            stdin = self.rfile.read(int(length))
        except TimeoutError:
            log.warning("a client did not send its %s-byte request within readTimeout; connection closed", length)
            self.close_connection = True
            return
        reply = self.server.daemon.handle_cni(env_from_headers(self.headers.items()), stdin)
        body = (reply.stdout + "\n").encode() if reply.stdout else b""
        self._send(200, body, "application/json", exit_code=reply.exit_code)


def _socket_answers(path: str) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _pod_label(env: dict[str, str]) -> str:
    try:
        args = parse_cni_args(env.get("CNI_ARGS", ""))
    except CNIError:
        args = {}
    if args.get("K8S_POD_NAME"):
        return f"pod {args.get('K8S_POD_NAMESPACE') or 'default'}/{args['K8S_POD_NAME']}"
    container = env.get("CNI_CONTAINERID", "")
    return f"container {container}" if container else "the request"
