#!/usr/bin/env bash
# netops: the native helper must be built by the package install (cffi + gcc); a missing
# module would silently fall back to pyroute2, so setup fails loudly instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c 'import multus_dp._netops_cffi' 2>/dev/null; then
  echo "setup-netops: multus_dp._netops_cffi missing, rebuilding" >&2
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  .venv/bin/python -c 'import multus_dp._netops_cffi' || {
    echo "setup-netops: the native netops helper did not build (native/netops.c)" >&2; exit 1; }
fi
