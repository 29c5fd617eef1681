"""The parity fixture: every test in this folder runs against both implementations."""
from __future__ import annotations

import os

import pytest

from multus_dp.netops import get_link_ops, native_available
from multus_dp.netops.netns import current_netns_id
from tests.support.prereq import require

FORKS = {"count": 0}
os.register_at_fork(before=lambda: FORKS.__setitem__("count", FORKS["count"] + 1))


@pytest.fixture(params=["native", "pyroute2"])
def ops(request, netlab):
    """A LinkOps of each implementation; the test fails if it forked or left this thread
    in another netns."""
    if request.param == "native":
        require(native_available(), "native netops helper built (pip install -e .)")
    impl = get_link_ops(request.param)
    before_ns, before_forks = current_netns_id(), FORKS["count"]
    yield impl
    assert current_netns_id() == before_ns, "the calling thread was left in another netns"
    assert FORKS["count"] == before_forks, f"{impl.name} forked"
