"""Every documented key is read and every read key is documented: the reference tables in
docs/ against the models and the error-code enum."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from multus_dp.cni.errors import Code
from multus_dp.daemon.config import DaemonConfig
from multus_dp.networks.conf import MultusConf

ROOT = Path(__file__).resolve().parents[3]
ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen-config-docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(path: Path, heading: str, gen: ModuleType) -> list[str]:
    text = path.read_text()
    span = gen.table_under(text, heading)
    assert span is not None, f"{path.relative_to(ROOT)} has no table under {heading!r}"
    return text.split("\n")[span[0]:span[1]]


@pytest.mark.parametrize("heading,model", [("## Plugin configuration (MultusConf)", MultusConf),
                                           ("## Daemon configuration", DaemonConfig)])
def test_documented_keys_are_the_model_fields(gen: ModuleType, heading: str, model: type) -> None:
    documented = [m.group(1) for row in table_rows(ROOT / "docs" / "configuration.md", heading, gen)
                  if (m := ROW_KEY.match(row))]
    fields = set(model.model_fields)    # MultusConf's incl. the inherited Kubernetes API keys
    assert not set(documented) - fields, f"documented under {heading!r} but not read: {set(documented) - fields}"
    assert not fields - set(documented), f"read but not documented under {heading!r}: {fields - set(documented)}"
    assert len(documented) == len(set(documented)), "a key documented twice"


def test_documented_error_codes_are_the_enum(gen: ModuleType) -> None:
    rows = table_rows(ROOT / "docs" / "errors.md", "## Error codes", gen)
    documented = {int(m.group(1)) for row in rows if (m := re.match(r"^\|\s*(\d+)\s*\|", row))}
    assert documented == {int(code) for code in Code}


def test_the_tables_are_what_the_code_generates(gen: ModuleType) -> None:
    """Defaults and meanings too: edit the model (description=) or cni/errors.py MEANINGS, then
    run scripts/gen-config-docs.py."""
    assert gen.stale() == []


def test_a_changed_default_is_caught(gen: ModuleType) -> None:
    path = ROOT / "docs" / "configuration.md"
    tampered = path.read_text().replace("| `delegateTimeout` | `60` |", "| `delegateTimeout` | `30` |", 1)
    assert gen.stale(lambda p: tampered if p == path else p.read_text()) == ["docs/configuration.md"]
