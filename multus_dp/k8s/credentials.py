"""Where the API credentials come from, and re-reading them when their files change.

A kubeconfig (config key `kubeconfig`) wins; else the in-cluster service account
(KUBERNETES_SERVICE_HOST/PORT + token + CA files). Service-account tokens are rotated by
kubelet and a thin-plugin kubeconfig may be rewritten at any time, so every `client()`
call stats the files (a few microseconds) and builds a fresh ApiClient when any of them
changed: the token-expiry trouble of Multus' generated kubeconfig cannot happen here.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from multus_dp import logs
from multus_dp.cni.errors import CNIError, Code

from .metrics import KubeMetrics
from .settings import KubeSettings

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

log = logs.get("k8s.credentials")

USER_AGENT = "multus-dp"
# kubeconfig keys that name further files whose change must reload the credentials
FILE_KEYS = ("tokenFile", "client-certificate", "client-key", "certificate-authority")

Stamp = tuple[tuple[str, int, int, int], ...]


@dataclass(frozen=True)
class CredentialSource:
    kind: str                       # "kubeconfig" | "in-cluster"
    kubeconfig: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    host: str | None = None         # in-cluster API URL
    service_env: tuple[tuple[str, str], ...] = ()  # KUBERNETES_SERVICE_HOST/PORT as found

    def describe(self) -> str:
        return f"kubeconfig {self.kubeconfig}" if self.kind == "kubeconfig" else f"in-cluster ({self.host})"


def locate(settings: KubeSettings, env: Mapping[str, str] | None = None) -> CredentialSource | None:
    """The credential source, or None when neither a kubeconfig nor in-cluster config exists."""
    env = os.environ if env is None else env
    if settings.kubeconfig:
        if not os.path.isfile(settings.kubeconfig):
            raise CNIError(Code.INVALID_CONFIG, f"kubeconfig {settings.kubeconfig} (config key `kubeconfig`) "
                           f"does not exist")
        return CredentialSource("kubeconfig", kubeconfig=settings.kubeconfig)
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if host and port and os.path.isfile(settings.kubeTokenFile):
        url_host = f"[{host}]" if ":" in host else host
        return CredentialSource("in-cluster", token_file=settings.kubeTokenFile, ca_file=settings.kubeCAFile,
                                host=f"https://{url_host}:{port}",
                                service_env=(("KUBERNETES_SERVICE_HOST", host), ("KUBERNETES_SERVICE_PORT", port)))
    return None


def _file_stamp(path: str) -> tuple[str, int, int, int]:
    try:
        st = os.stat(path)  # follows the ..data symlink kubelet swaps on rotation
    except OSError:
        return (path, 0, 0, -1)
    return (path, st.st_mtime_ns, st.st_ino, st.st_size)


def _referenced_files(kubeconfig: str) -> list[str]:
    try:
        with open(kubeconfig, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in FILE_KEYS and isinstance(value, str) and value:
                    path = value if os.path.isabs(value) else os.path.join(os.path.dirname(kubeconfig), value)
                    found.append(path)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return found


class Credentials:
    """Hands out an ApiClient built from the current credential files."""

    def __init__(self, source: CredentialSource, settings: KubeSettings, metrics: KubeMetrics | None = None) -> None:
        self.source = source
        self.settings = settings
        self.metrics = metrics
        self.reloads = 0
        self._lock = threading.Lock()
        self._client: ApiClient | None = None
        self._stamp: Stamp = ()
        self._old: list[ApiClient] = []

    def _watched(self) -> list[str]:
        if self.source.kind == "kubeconfig":
            assert self.source.kubeconfig
            return [self.source.kubeconfig, *_referenced_files(self.source.kubeconfig)]
        return [p for p in (self.source.token_file, self.source.ca_file) if p]

    def _stamp_now(self, paths: list[str]) -> Stamp:
        return tuple(_file_stamp(p) for p in paths)

    def client(self) -> "ApiClient":
        with self._lock:
            paths = [p for p, *_ in self._stamp] if self._client is not None and self._stamp else self._watched()
            stamp = self._stamp_now(paths)
            if self._client is None or stamp != self._stamp:
                self._rebuild()
            assert self._client is not None
            return self._client

    def invalidate(self) -> None:
        """Force a rebuild on the next call (after a 401: the server may have rotated keys)."""
        with self._lock:
            self._stamp = ()

    def _rebuild(self) -> None:
        from kubernetes.client import ApiClient

        first = self._client is None
        # stamp before reading: a change during the read triggers one more reload, never a missed one
        self._stamp = self._stamp_now(self._watched())
        configuration = self._configuration()
        client = ApiClient(configuration)
        client.user_agent = USER_AGENT
        if self._client is not None:
            # in-flight calls (a watch) may still use it; it is dropped with the next rebuild
            for old in self._old:
                old.rest_client.close()
            self._old = [self._client]
        self._client = client
        if not first:
            self.reloads += 1
            if self.metrics is not None:
                self.metrics.inc("credential_reloads")
            log.info("API credentials re-read", extra={"source": self.source.describe()})

    def _configuration(self) -> "Configuration":
        from kubernetes import config as kconfig
        from kubernetes.client import Configuration

        cfg = Configuration()
        try:
            if self.source.kind == "kubeconfig":
                kconfig.load_kube_config(config_file=self.source.kubeconfig, client_configuration=cfg,
                                         persist_config=False)
            else:
                from kubernetes.config.incluster_config import InClusterConfigLoader

                # no refresh hook: our file stamps decide when the token is re-read
                InClusterConfigLoader(token_filename=self.source.token_file, cert_filename=self.source.ca_file,
                                      try_refresh_token=False,
                                      environ=dict(self.source.service_env)).load_and_set(cfg)
        except Exception as exc:  # the client raises ConfigException, yaml and OS errors alike
            raise CNIError(Code.INVALID_CONFIG, f"cannot load Kubernetes credentials from "
                           f"{self.source.describe()}: {exc}") from exc
        cfg.retries = False  # our own bounded retries decide; urllib3 must not retry behind our back
        cfg.api_key = _trimmed(cfg.api_key)
        reload = cfg.refresh_api_key_hook
        if reload is not None:
            # the kubeconfig loader re-sets the (untrimmed) token before every request, on the
            # configuration all threads share: let it write a scratch one, publish the trimmed
            # keys in one assignment (~60 us a request)
            def reload_trimmed(c: "Configuration") -> None:
                scratch = Configuration()
                reload(scratch)
                c.api_key = _trimmed(scratch.api_key)

            cfg.refresh_api_key_hook = reload_trimmed
        return cfg

    def close(self) -> None:
        with self._lock:
            for client in [*self._old, *([self._client] if self._client else [])]:
                client.rest_client.close()
            self._old = []
            self._client = None


def _trimmed(api_key: dict[str, str] | None) -> dict[str, str]:
    """A token file written by hand often ends with a newline (`echo token > file`): it must not
    reach the Authorization header, where the client would refuse it (kubectl trims it too)."""
    return {key: value.strip() for key, value in (api_key or {}).items()}
