"""Generated gRPC stubs of the kubelet's device plugin API (v1beta1) and PodResources API (v1).

The .proto files beside them are the source; `generate.sh` made the `*_pb2*` modules (committed,
so installing multus-dp needs no protoc).
"""
