"""Thick mode: the node daemon (socket server, protocol, readiness, metrics, status) and the
install side (shim copy, conf generation, conf-dir watch)."""
