"""The one seam to the Kubernetes API: every request multus-dp makes goes through `KubeApi`.

It wraps the official `kubernetes` client, always asks for raw JSON (no model
deserialisation: objects stay plain dicts shaped like the API's JSON), applies the
connect/request timeouts, re-reads credentials after a 401, and turns every failure into
`ApiError` with the HTTP status (None for transport errors) so callers decide on retries.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from multus_dp import logs

from .credentials import Credentials
from .kinds import EVENTS, PODS, Kind
from .metrics import KubeMetrics
from .settings import KubeSettings

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

log = logs.get("k8s.api")
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int | None, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.timed_out = timed_out

    @property
    def transient(self) -> bool:
        """Worth retrying: transport errors, timeouts, throttling, server errors."""
        return self.status is None or self.status in (408, 429) or self.status >= 500

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status else self.message


def _status_message(body: Any) -> str:
    try:
        data = json.loads(body)
        return str(data.get("message") or data.get("reason") or body)
    except (TypeError, ValueError, AttributeError):
        return str(body or "")[:300]


def convert_error(exc: BaseException) -> ApiError:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError, ReadTimeoutError, TimeoutError as Urllib3Timeout

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ApiException):
        return ApiError(exc.status or None, _status_message(exc.body) or str(exc.reason))
    refused = _connection_refused(exc)
    if refused:
        # urllib3 files a refused connect under its timeout errors: say what really happened
        return ApiError(None, f"API server unreachable: connection refused ({refused})")
    if isinstance(exc, (ReadTimeoutError, Urllib3Timeout)):
        return ApiError(None, f"API request timed out: {exc}", timed_out=True)
    if isinstance(exc, (HTTPError, OSError)):
        return ApiError(None, f"API unreachable: {exc}")
    raise exc


def _connection_refused(exc: BaseException) -> str | None:
    """The address that refused the connection, when that is the cause somewhere in `exc`'s chain
    (urllib3 wraps it: MaxRetryError -> NewConnectionError -> ConnectionRefusedError)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ConnectionRefusedError) or "Connection refused" in str(err):
            conn = getattr(err, "conn", None) or getattr(exc, "conn", None)
            host, port = getattr(conn, "host", None), getattr(conn, "port", None)
            return f"{host}:{port}" if host else "the server's address"
        todo += [getattr(err, "reason", None), err.__cause__, err.__context__]
    return None


class WatchStream:
    """The events of one watch request; `close()` from another thread ends the iteration."""

    def __init__(self, response: "BaseHTTPResponse") -> None:
        self.response = response
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from urllib3.exceptions import ReadTimeoutError

        buffer = b""
        finished = False
        try:
            for chunk in self.response.stream(amt=None, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
            finished = True
        except ValueError as exc:
            raise ApiError(None, f"watch stream carried invalid JSON: {exc}") from exc
        except ReadTimeoutError:
            return  # idle past the server's own watch timeout: the caller watches again
        except Exception as exc:
            if self.closed:
                return
            raise convert_error(exc) from exc
        finally:
            if not finished:
                # left before its end (410, stop, error): bytes are still in flight on this
                # connection, so it must be closed, never handed back to the pool
                self._close_response()
            self.release()

    def _close_response(self) -> None:
        try:
            self.response.close()
        except Exception:
            pass

    def release(self) -> None:
        try:
            self.response.release_conn()
        except Exception:  # already closed
            pass

    def close(self) -> None:
        self.closed = True
        try:
            self.response.shutdown()  # unblocks a reader stuck in recv
        except Exception:
            pass
        self.release()


class KubeApi:
    def __init__(self, credentials: Credentials, settings: KubeSettings, metrics: KubeMetrics) -> None:
        self.credentials = credentials
        self.settings = settings
        self.metrics = metrics

    # ---- plumbing ------------------------------------------------------------------------
    def _call(self, counter: str, verb: str, resource: str, fn: Callable[[Any], "BaseHTTPResponse"]
              ) -> "BaseHTTPResponse":
        """Run fn(api_client) -> the raw response; after a 401 re-read the credentials and try
        once more. Every attempt is counted by verb, resource and HTTP status."""
        self.metrics.inc(counter)
        for attempt in (1, 2):
            try:
                response = fn(self.credentials.client())
            except Exception as exc:
                err = convert_error(exc)
                self.metrics.request(verb, resource, str(err.status) if err.status else "error")
                if err.status == 401 and attempt == 1:
                    log.warning("API answered 401; re-reading credentials")
                    self.credentials.invalidate()
                    continue
                self.metrics.inc("api_errors")
                raise err from exc
            self.metrics.request(verb, resource, str(getattr(response, "status", "") or "200"))
            return response
        raise AssertionError("unreachable")

    def _timeout(self) -> tuple[float, float]:
        return self.settings.request_timeout()

    @staticmethod
    def _json(response: "BaseHTTPResponse") -> Any:
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    @staticmethod
    def _request(client: Any, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
                 content_type: str | None = None, timeout: Any = None) -> "BaseHTTPResponse":
        """One HTTP request through the client's transport, auth and TLS, answering the raw urllib3
        response. The generated CoreV1Api/CustomObjectsApi classes are not used: importing them
        loads ~250 model modules (~23 MB per daemon) for objects we keep as plain JSON anyway."""
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        request = client.param_serialize(method, path, query_params=params, header_params=headers, body=body,
                                         auth_settings=["BearerToken"])
        response = client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    @staticmethod
    def _path(kind: Kind, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        ns = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
        tail = f"/{quote(name, safe='')}" if name else ""
        return f"{base}{ns}/{kind.plural}{tail}" + (f"/{sub}" if sub else "")

    # ---- reads ---------------------------------------------------------------------------
    def list_objects(self, kind: Kind, field_selector: str | None = None,
                     namespace: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """All objects of a kind (in one namespace when given) and the list's resourceVersion."""
        query = {"fieldSelector": field_selector}
        body = self._json(self._call("api_reads", "list", kind.plural, lambda c: self._request(
            c, "GET", self._path(kind, namespace), query, timeout=self._timeout())))
        items = body.get("items") if isinstance(body, dict) else None
        meta = body.get("metadata") if isinstance(body, dict) else None
        rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
        return [i for i in items or [] if isinstance(i, dict)], rv if isinstance(rv, str) and rv else None

    def watch(self, kind: Kind, resource_version: str | None, field_selector: str | None = None,
              namespace: str | None = None) -> WatchStream:
        query = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": self.settings.kubeWatchTimeout,
                 "resourceVersion": resource_version or None, "fieldSelector": field_selector}
        # an idle stream past the server's own timeout is dead: reconnect
        timeout = (self.settings.kubeConnectTimeout, self.settings.kubeWatchTimeout + self.settings.kubeRequestTimeout)
        return WatchStream(self._call("api_watches", "watch", kind.plural, lambda c: self._request(
            c, "GET", self._path(kind, namespace), query, timeout=timeout)))

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            obj = self._json(self._call("api_reads", "get", kind.plural, lambda c: self._request(
                c, "GET", self._path(kind, namespace, name), timeout=self._timeout())))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return obj if isinstance(obj, dict) else None

    def resource_exists(self, kind: Kind) -> bool:
        """API discovery: does the server serve this resource (is its CRD installed)? One GET of
        the group/version's resource list; a 404 (the group is unknown) means no."""
        self.metrics.inc("discovery_checks")
        path = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        try:
            body = self._json(self._call("api_reads", "get", "discovery", lambda c: self._request(
                c, "GET", path, timeout=self._timeout())))
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        resources = body.get("resources") if isinstance(body, dict) else None
        return any(isinstance(r, dict) and r.get("name") == kind.plural for r in resources or [])

    # ---- writes --------------------------------------------------------------------------
    def patch_pod_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch on pods/status: only the keys in `patch` change."""
        return self._json(self._call("api_writes", "patch", "pods/status", lambda c: self._request(
            c, "PATCH", self._path(PODS, namespace, name, "status"), body=patch, content_type=MERGE_PATCH,
            timeout=self._timeout())))

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._json(self._call("api_writes", "create", "events", lambda c: self._request(
            c, "POST", self._path(EVENTS, namespace), body=body, content_type="application/json",
            timeout=self._timeout())))

    # ---- diagnostics (multus-dp k8s-check) -----------------------------------------------
    def server_version(self) -> str:
        body = self._json(self._call("api_reads", "get", "version", lambda c: self._request(
            c, "GET", "/version/", timeout=self._timeout())))
        return str(body.get("gitVersion", "?")) if isinstance(body, dict) else "?"

    def can_i(self, verb: str, group: str, resource: str, subresource: str = "") -> bool | None:
        """A SelfSubjectAccessReview: may these credentials do `verb` on the resource
        (cluster-wide)? None when the server gives no verdict."""
        attrs = {"verb": verb, "group": group, "resource": resource}
        if subresource:
            attrs["subresource"] = subresource
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        answer = self._json(self._call("api_writes", "create", "selfsubjectaccessreviews", lambda c: self._request(
            c, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body,
            content_type="application/json", timeout=self._timeout())))
        allowed = (answer.get("status") or {}).get("allowed") if isinstance(answer, dict) else None
        return allowed if isinstance(allowed, bool) else None
