"""Hardware address formats: lenient where users write them, canonical where the kernel names them."""
from __future__ import annotations

import pytest

from multus_dp.base.formats import canonical_pci_address, is_bdf, is_mac


@pytest.mark.parametrize("value,expected", [
    ("0000:3b:00.1", "0000:3b:00.1"), ("3B:00.1", "0000:3b:00.1"), ("ABCD:af:1f.7", "abcd:af:1f.7"),
    ("3b:00.8", None), ("0:3b:00.1", None), ("ens1f0", None), ("", None), ("0000:3b:00.1\n", None),
])
def test_user_pci_addresses_become_the_kernel_form(value: str, expected: str | None) -> None:
    assert canonical_pci_address(value) == expected


def test_only_the_kernel_form_is_a_bdf() -> None:
    assert is_bdf("0000:3b:00.1")
    assert not is_bdf("0000:3B:00.1") and not is_bdf("3b:00.1") and not is_bdf("0000:3b:00.1\n")


@pytest.mark.parametrize("value,ok", [
    ("02:00:00:00:00:aa", True), ("02:00:00:00:00:AA", True), ("02-00-00-00-00-aa", False),
    ("02:00:00:00:00", False), ("02:00:00:00:00:aa:bb", False), (None, False), (2, False),
])
def test_mac(value: object, ok: bool) -> None:
    assert is_mac(value) is ok


def test_a_trailing_newline_is_no_mac() -> None:
    assert not is_mac("02:00:00:00:00:aa\n")
