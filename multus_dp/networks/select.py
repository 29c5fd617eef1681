"""Selection: from a CNI request and the multus-dp config to the ordered list of attachments.

This module holds the delegates-only form (Multus' `delegates` list: `delegates[0]` is the
master on CNI_IFNAME, the others net1, net2, ...).
"""
from __future__ import annotations

from multus_dp.cni.config import parse_network_config
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.request import CNIRequest

from .attachment import Attachment
from .conf import MultusConf


def delegate_attachments(req: CNIRequest, conf: MultusConf) -> list[Attachment]:
    attachments: list[Attachment] = []
    for index, delegate in enumerate(conf.delegates):
        fallback = f"{conf.name}-delegate-{index}"
        try:
            net = parse_network_config(delegate, default_name=fallback)
        except CNIError as exc:
            raise exc.prefixed(f"delegates[{index}]") from exc
        ifname = req.ifname if index == 0 else f"net{index}"
        attachments.append(Attachment(
            network=net.name, ifname=ifname, config=net.raw, is_default=index == 0,
            capability_args=dict(conf.runtimeConfig) if index == 0 else {},
        ))
    if not attachments:
        raise CNIError(Code.INVALID_CONFIG, "multus-dp configuration has no delegates and no clusterNetwork")
    return attachments
