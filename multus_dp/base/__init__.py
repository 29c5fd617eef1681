"""Leaf helpers every layer may use (cni/ included): defaults, atomic file writes, the
validation-error formatter, shared formats. Nothing here imports anything else of ours."""
