"""GC input: the attachments the runtime still wants (spec 1.1.0, `cni.dev/valid-attachments`).

GC deletes everything not listed, so a list that is missing or malformed must stop it: read
as "nothing is valid", it would delete every pod's attachments.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from multus_dp.base.validation import describe

from .errors import CNIError, Code

VALID_ATTACHMENTS = "cni.dev/valid-attachments"
# the CNI 1.1.0 tag's text names this key; libcni >= 1.2 sends both
LEGACY_ATTACHMENTS = "cni.dev/attachments"


class ValidAttachment(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    containerID: str = Field(min_length=1)
    ifname: str = Field(min_length=1)


_LIST = TypeAdapter(list[ValidAttachment])


def valid_attachments(conf: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runtime's list, checked; any problem is a CNI error (code 7) and GC deletes nothing."""
    key = VALID_ATTACHMENTS if VALID_ATTACHMENTS in conf else LEGACY_ATTACHMENTS
    if key not in conf:
        raise CNIError(Code.INVALID_CONFIG, f"GC: the configuration has no {VALID_ATTACHMENTS!r} list; "
                       "without it every attachment would count as stale, so nothing was deleted")
    value = conf[key]
    if value is None:
        # libcni marshals an empty Go slice as null: a runtime with no sandboxes left sends it
        return []
    if not isinstance(value, list):
        raise CNIError(Code.INVALID_CONFIG, f"GC: {key!r} must be a list of {{containerID, ifname}} objects, "
                       f"not {type(value).__name__}; nothing was deleted")
    try:
        _LIST.validate_python(value)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"GC: {key!r}: {describe(exc)}; nothing was deleted") from exc
    return [dict(v) for v in value]
