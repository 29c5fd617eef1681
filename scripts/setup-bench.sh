#!/usr/bin/env bash
# The benchmark harness (benchmarks/, `multus-dp bench`): the `bench` extra (matplotlib for
# the PNG plots, kmock for scenario 5) and a C compiler for the floor driver. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup-bench: $*"; }

if ! command -v cc >/dev/null 2>&1; then
  say "installing gcc (the floor driver is C)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
if ! .venv/bin/python -c 'import matplotlib, kmock' 2>/dev/null; then
  say "installing the bench extra (matplotlib, kmock)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[bench]' >/tmp/setup-bench-pip.log 2>&1 \
    || { cat /tmp/setup-bench-pip.log >&2; say "pip install of the bench extra failed" >&2; exit 1; }
fi
.venv/bin/python -c 'import matplotlib' || { say "matplotlib install failed" >&2; exit 1; }
