"""Kubernetes access (watch caches, status patch, events) and the standalone sources."""
