#!/usr/bin/env python3
"""Write the reference tables of docs/ from the code, so they cannot drift from it.

- docs/configuration.md: under "## Plugin configuration (MultusConf)" and "## Daemon
  configuration", one row per field of MultusConf (multus_dp/networks/conf.py, with the
  Kubernetes keys of multus_dp/k8s/settings.py) and of DaemonConfig (multus_dp/daemon/config.py):
  the key, its default and its `description`.
- docs/errors.md: under "## Error codes", one row per multus_dp.cni.errors.Code with its MEANINGS line.

Only the table right under each heading is rewritten; prose around it is kept. A missing file
or heading is added. `--check` changes nothing and exits 1 when a table is out of date
(tests/unit/docs/test_config_keys.py runs the same check).

    .venv/bin/python scripts/gen-config-docs.py [--check]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402

from multus_dp.cni.errors import MEANINGS, Code  # noqa: E402
from multus_dp.daemon.config import DaemonConfig  # noqa: E402
from multus_dp.k8s.settings import KubeApiKeys  # noqa: E402
from multus_dp.networks.conf import MultusConf  # noqa: E402
from multus_dp.sriov.settings import SriovKeys  # noqa: E402

PLUGIN_HEADING = "## Plugin configuration (MultusConf)"
DAEMON_HEADING = "## Daemon configuration"
ERRORS_HEADING = "## Error codes"
CONFIGURATION = ROOT / "docs" / "configuration.md"
ERRORS = ROOT / "docs" / "errors.md"

CONFIGURATION_SKELETON = """# Configuration reference

Generated from the code by `scripts/gen-config-docs.py`; a unit test fails when a table here
differs from the models. Keys, defaults and meanings are edited in the models (`description=`).

{plugin}

The plugin configuration is the JSON the runtime passes on stdin (the multus-dp conflist).
Multus' keys keep their names and meaning; unknown keys are kept.

{daemon}

The daemon configuration is the file given to `multus-dp daemon --config` (JSON or YAML);
command-line flags override its keys.
"""

ERRORS_SKELETON = """# Errors

Every failure is a CNI error object (`code`, `msg`, `details`) on stdout with a non-zero exit;
the message names the pod, the network and the interface. Codes below 100 are the CNI spec's,
100 and above are multus-dp's own. Generated from `multus_dp/cni/errors.py` by
`scripts/gen-config-docs.py`.

{errors}
"""


def fields_in_doc_order(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The model's own keys in declaration order, then the shared SR-IOV node keys, then the
    shared Kubernetes API keys."""
    groups = [set(SriovKeys.model_fields), set(KubeApiKeys.model_fields)]
    items = list(model.model_fields.items())
    own = [i for i in items if not any(i[0] in group for group in groups)]
    return own + [i for group in groups for i in items if i[0] in group]


def default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value) if not isinstance(value, str) or not value else value}`"


def key_table(model: type[BaseModel]) -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, info in fields_in_doc_order(model):
        if not info.description:
            raise SystemExit(f"{model.__name__}.{name} has no description: add description=... to the field")
        rows.append(f"| `{name}` | {default_text(info)} | {info.description} |")
    return "\n".join(rows)


def error_table() -> str:
    missing = [code.name for code in Code if code not in MEANINGS]
    if missing:
        raise SystemExit(f"cni/errors.py MEANINGS has no line for {', '.join(missing)}")
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(code)} | {MEANINGS[code]} |" for code in Code]
    return "\n".join(rows)


def tables() -> dict[Path, dict[str, str]]:
    """file -> heading -> the table that belongs under it."""
    return {CONFIGURATION: {PLUGIN_HEADING: key_table(MultusConf), DAEMON_HEADING: key_table(DaemonConfig)},
            ERRORS: {ERRORS_HEADING: error_table()}}


def table_under(text: str, heading: str) -> tuple[int, int] | None:
    """Line span [start, end) of the first table after `heading` (before the next heading)."""
    lines = text.split("\n")
    if heading not in lines:
        return None
    start = end = None
    for i in range(lines.index(heading) + 1, len(lines)):
        line = lines[i]
        if line.startswith("#"):
            break
        if line.startswith("|"):
            start = i if start is None else start
            end = i + 1
        elif start is not None:
            break
    return (start, end) if start is not None and end is not None else None


def replace_table(text: str, heading: str, table: str) -> str:
    lines = text.split("\n")
    span = table_under(text, heading)
    if span is None:
        if heading in lines:  # a heading without a table: the table goes right under it
            at = lines.index(heading) + 1
            return "\n".join(lines[:at] + ["", table] + lines[at:])
        return text.rstrip("\n") + f"\n\n{heading}\n\n{table}\n"
    start, end = span
    return "\n".join(lines[:start] + table.split("\n") + lines[end:])


def render(path: Path, wanted: dict[str, str]) -> str:
    if path.exists():
        text = path.read_text()
    elif path == CONFIGURATION:
        text = CONFIGURATION_SKELETON.format(plugin=f"{PLUGIN_HEADING}\n\n{wanted[PLUGIN_HEADING]}",
                                             daemon=f"{DAEMON_HEADING}\n\n{wanted[DAEMON_HEADING]}")
    else:
        text = ERRORS_SKELETON.format(errors=f"{ERRORS_HEADING}\n\n{wanted[ERRORS_HEADING]}")
    for heading, table in wanted.items():
        text = replace_table(text, heading, table)
    return text


def stale(read: Callable[[Path], str | None] = lambda p: p.read_text() if p.exists() else None) -> list[str]:
    """Files whose tables differ from the code (empty: all current)."""
    return [str(path.relative_to(ROOT)) for path, wanted in tables().items() if read(path) != render(path, wanted)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table is out of date")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for name in out_of_date:
            print(f"{name} is out of date: run scripts/gen-config-docs.py", file=sys.stderr)
        return 1 if out_of_date else 0
    for path, wanted in tables().items():
        text = render(path, wanted)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
