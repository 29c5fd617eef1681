#!/usr/bin/env bash
# deploy/: `kubectl kustomize deploy` renders the manifests offline (tests/unit/deploy), and
# scripts/build-image.sh builds the image without pulling a base image (mmdebstrap; podman
# comes with the e2e tier). kubectl: Debian's kubernetes-client (1.20, kustomize built in) when
# no kubectl is on PATH. Idempotent: apt-get update runs only when something is missing.
set -euo pipefail
missing=()
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
if ((${#missing[@]})); then
  echo "setup-deploy: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in kubectl mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "setup-deploy: $tool missing after install" >&2; exit 1; }
done
