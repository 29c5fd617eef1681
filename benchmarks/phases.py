"""The daemon's per-phase breakdown of one request, from two scrapes of its /metrics.

The daemon keeps histograms (multus_dp_cni_request_duration_seconds{command},
multus_dp_phase_duration_seconds{phase,type}); the difference of their `_sum`s before and
after one request is that request's time in each phase. Requests run one at a time here,
so nothing else lands in between.
"""
from __future__ import annotations

from collections.abc import Mapping

REQUEST = "multus_dp_cni_request_duration_seconds_sum"
PHASE = "multus_dp_phase_duration_seconds_sum"


def parse_sums(text: str) -> dict[str, float]:
    """{"request:ADD": s, "selection": s, "delegate:bridge": s, ...} from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUEST:
                sums[f"request:{sample.labels.get('command', '')}"] = sample.value
            elif sample.name == PHASE:
                kind = sample.labels.get("type", "")
                key = sample.labels.get("phase", "") + (f":{kind}" if kind else "")
                sums[key] = sample.value
    return sums


def diff(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Seconds spent in each key between the two scrapes (keys with no time left out)."""
    out = {}
    for key, value in after.items():
        delta = value - before.get(key, 0.0)
        if delta > 0:
            out[key] = delta
    return out


def request_seconds(delta: Mapping[str, float], command: str) -> float | None:
    return delta.get(f"request:{command}")


def phase_only(delta: Mapping[str, float]) -> dict[str, float]:
    return {k: v for k, v in delta.items() if not k.startswith("request:")}
