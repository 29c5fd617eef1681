"""`multus-dp --help` and `multus-dp COMMAND --help` say whole sentences, never a cut line."""
from __future__ import annotations

import importlib

import pytest

from multus_dp.cli import SUBCOMMANDS, main, summary

NAMES = [name for name, _, _ in SUBCOMMANDS]


def help_text(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # argparse wraps to the terminal width (and breaks at hyphens); a wide one keeps lines whole
    monkeypatch.setenv("COLUMNS", "2000")


def test_summary_is_the_whole_first_paragraph() -> None:
    doc = "Show the state: ready,\n    caches and pools.\n\n    Details that stay out."
    assert summary(doc) == "Show the state: ready, caches and pools."
    assert summary(None) == ""


def test_command_list_says_one_sentence_per_command(capsys: pytest.CaptureFixture[str]) -> None:
    out = " ".join(help_text(capsys, ["--help"]).split())
    for name, _, line in SUBCOMMANDS:
        assert line.endswith("."), name
        assert line[0].isupper(), name
        assert f" {name} {line} " in out, (name, out)


@pytest.mark.parametrize("name", NAMES)
def test_command_help_describes_with_whole_first_paragraph(capsys: pytest.CaptureFixture[str], name: str) -> None:
    module_name = dict((n, m) for n, m, _ in SUBCOMMANDS)[name]
    doc = importlib.import_module(module_name).__doc__
    first_paragraph = summary(doc)
    # the docstring itself must open with a finished sentence, not a phrase cut at a line end
    assert first_paragraph.endswith("."), (name, first_paragraph)
    out = " ".join(help_text(capsys, [name, "--help"]).split())
    assert first_paragraph in out, (name, out)
