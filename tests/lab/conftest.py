"""The lab tier (QEMU SR-IOV guest). Inside the guest (MULTUS_DP_LAB=1) the tests run against
the real PF; on the host every lab test reports what its guest run said (support/host.py)."""
from __future__ import annotations

import os

import pytest

IN_GUEST = os.environ.get("MULTUS_DP_LAB") == "1"

if IN_GUEST:
    from tests.lab.support.dpdk import dpdk_lab  # noqa: F401  (fixture)
    from tests.lab.support.guest import clean_nic, lab_pf  # noqa: F401  (fixtures)
    from tests.lab.support.sriovnode import node  # noqa: F401  (fixture)
else:
    from tests.lab.support import host

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
        host.proxy_guest_tests(items)

    def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
        host.terminal_summary(terminalreporter, config)
