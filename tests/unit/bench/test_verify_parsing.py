"""Parsing what plugins print and what host-local leaves on disk (no root needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.verify import leases_of, parse_results


def test_results_printed_one_after_another_are_all_read() -> None:
    out = '{\n "cniVersion": "1.0.0",\n "ips": [{"address": "10.0.0.2/24"}]\n}\n{"cniVersion": "1.0.0", "ips": []}\n'
    assert [len(r["ips"]) for r in parse_results(out)] == [1, 0]
    assert parse_results("") == []
    with pytest.raises(ValueError):
        parse_results('{"cniVersion": ')


def test_leases_are_matched_by_the_container_that_holds_them(tmp_path: Path) -> None:
    net = tmp_path / "bench-ptp"
    net.mkdir()
    (net / "10.231.2.2").write_text("bench-a\r\nnet1")
    (net / "10.231.2.3").write_text("bench-b\r\nnet1")
    (net / "last_reserved_ip.0").write_text("10.231.2.3")
    (net / "lock").write_text("")
    assert leases_of(tmp_path, "bench-a") == ["bench-ptp/10.231.2.2"]
    assert leases_of(tmp_path, "bench-c") == []
    assert leases_of(tmp_path / "missing", "bench-a") == []
