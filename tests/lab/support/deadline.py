"""sysfs writes that can hang (sriov_numvfs, bind, unbind, drivers_probe) run with a deadline."""
from __future__ import annotations

import threading
from pathlib import Path

DEFAULT_DEADLINE_S = 30.0


def write_with_deadline(path: Path, value: str, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
    """Write VALUE to a sysfs file from a daemon thread; TimeoutError past the deadline."""
    errors: list[OSError] = []

    def work() -> None:
        try:
            path.write_text(value)
        except OSError as exc:
            errors.append(exc)

    worker = threading.Thread(target=work, name=f"sysfs-write {path}", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        raise TimeoutError(f"writing {value!r} to {path} did not finish within {deadline_s} s")
    if errors:
        raise errors[0]
