"""The kubelet's gRPC APIs: multus-dp as the kubelet device plugin of its VF pools
(manager.py, plugin.py, devices.py) and the PodResources client the CNI side asks which VFs
the kubelet assigned to a pod (podresources.py, assignments.py). Stubs: api/."""
