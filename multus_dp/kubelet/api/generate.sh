#!/bin/sh
# Regenerates the committed Python stubs of the kubelet APIs (run from anywhere; needs
# grpcio-tools, a build-time tool only: `pip install 'grpcio-tools>=1.76,<1.78'`, which
# matches protobuf 6.x). Paths are given from the repository root so the generated grpc
# modules import their messages as `multus_dp.kubelet.api.<name>_pb2`.
# The grpc modules are untyped: the `# mypy: ignore-errors` header keeps mypy quiet;
# the message modules are typed by the generated .pyi files.
set -eu
cd "$(dirname "$0")/../../.."
for proto in deviceplugin podresources; do
    python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
        "multus_dp/kubelet/api/$proto.proto"
    grpc_module="multus_dp/kubelet/api/${proto}_pb2_grpc.py"
    { echo "# mypy: ignore-errors"; cat "$grpc_module"; } > "$grpc_module.tmp" && mv "$grpc_module.tmp" "$grpc_module"
done
