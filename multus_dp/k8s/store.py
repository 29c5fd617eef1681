"""A thread-safe in-memory copy of one resource, keyed by (namespace, name)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, str]


class Store(Generic[T]):
    """Filled by an informer: `replace` after a LIST, `upsert`/`delete` per watch event.

    `convert` turns an API object into what is kept (trimmed); `accept` drops objects the
    server should have filtered out already (a field selector the server ignored).
    """

    def __init__(self, convert: Callable[[dict[str, Any]], T],
                 accept: Callable[[dict[str, Any]], bool] = lambda obj: True) -> None:
        self._convert = convert
        self._accept = accept
        self._lock = threading.Lock()
        self._items: dict[Key, T] = {}
        self._synced = threading.Event()
        self.absent = False  # the resource does not exist on this server (CRD not installed)
        # the informer's watch is connected: the store lags the API by one event delivery only
        self.live = False
        # called after the set of keys may have changed (a LIST, a new object, a deletion)
        self.on_change: Callable[[], None] | None = None

    def replace(self, items: Iterable[tuple[Key, dict[str, Any]]], absent: bool = False) -> None:
        fresh = {key: self._convert(obj) for key, obj in items if self._accept(obj)}
        with self._lock:
            self._items = fresh
            self.absent = absent
            self.live = True
        self._synced.set()
        self._changed()

    def upsert(self, key: Key, obj: dict[str, Any]) -> None:
        if not self._accept(obj):
            self.delete(key)
            return
        value = self._convert(obj)
        with self._lock:
            new = key not in self._items
            self._items[key] = value
        if new:
            self._changed()

    def delete(self, key: Key) -> None:
        with self._lock:
            gone = self._items.pop(key, None) is not None
        if gone:
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def for_namespace(self, namespace: str) -> Store[T] | None:
        """The store holding this namespace's objects: a cluster-wide store holds them all."""
        return self

    def get(self, namespace: str, name: str) -> T | None:
        with self._lock:
            return self._items.get((namespace, name))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._items)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)
