"""Which networks a pod gets: annotations, NADs/Networks, defaults, interface names."""
