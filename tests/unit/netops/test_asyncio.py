"""pyroute2 0.9's sync API cannot run inside a running asyncio loop: the pyroute2 backend
says so clearly, and works from a worker thread (what the daemon does)."""
from __future__ import annotations

import asyncio

import pytest

from multus_dp.netops import NetOpsError, get_link_ops


def test_inside_a_running_loop_is_a_clear_error() -> None:
    async def call() -> None:
        get_link_ops("pyroute2").link_info(None, "lo")

    with pytest.raises(NetOpsError) as info:
        asyncio.run(call())
    assert info.value.msg.startswith("link_info lo: ") and "asyncio.to_thread" in info.value.msg


def test_from_a_worker_thread_it_works() -> None:
    async def call():
        return await asyncio.to_thread(get_link_ops("pyroute2").link_info, None, "lo")

    info = asyncio.run(call())
    assert info.name == "lo" and info.index == 1 and info.up
