"""The one exception every netops failure raises, whichever implementation runs."""
from __future__ import annotations

import errno as errno_mod

from multus_dp.cni.errors import CNIError, Code


class NetOpsError(CNIError):
    """A kernel operation failed: CNI code 110 with the errno and a message naming the
    operation and the device ("move_to_netns eth1: rename to net1 in netns /run/netns/p: File exists")."""

    def __init__(self, errno: int, msg: str) -> None:
        super().__init__(Code.KERNEL_OPERATION, msg)
        self.errno = int(errno)

    @property
    def errno_name(self) -> str:
        return errno_mod.errorcode.get(self.errno, str(self.errno))

    def __repr__(self) -> str:
        return f"NetOpsError(errno={self.errno_name}, msg={self.msg!r})"


def invalid(msg: str) -> NetOpsError:
    """Bad input caught before any kernel call."""
    return NetOpsError(errno_mod.EINVAL, msg)
