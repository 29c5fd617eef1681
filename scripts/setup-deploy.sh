#!/usr/bin/env bash
# deploy/: `kubectl kustomize deploy` renders the manifests offline in tests/unit/deploy.
# Debian's kubernetes-client (kubectl 1.20, kustomize built in) when no kubectl is on PATH.
# Idempotent.
set -euo pipefail
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup-deploy: installing kubernetes-client (kubectl kustomize)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
command -v kubectl >/dev/null || { echo "setup-deploy: kubectl missing after install" >&2; exit 1; }
