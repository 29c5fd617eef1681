"""Kubernetes object names (apimachinery's validation): the syntax every layer checks, once."""
from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253


def label_problem(value: str) -> str | None:
    """A namespace: DNS-1123 label."""
    if len(value) > LABEL_MAX or not DNS1123_LABEL.match(value):
        return (f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
                f"with a letter or digit, at most {LABEL_MAX} characters)")
    return None


def subdomain_problem(value: str) -> str | None:
    """A pod (or NAD) name: DNS-1123 subdomain."""
    if len(value) > SUBDOMAIN_MAX or not DNS1123_SUBDOMAIN.match(value):
        return (f"{value!r} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and "
                f"ending with a letter or digit, at most {SUBDOMAIN_MAX} characters)")
    return None
