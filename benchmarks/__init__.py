"""Benchmarks of multus-dp: the attach/detach latency harness (`multus-dp bench`,
`python -m benchmarks`) and its recorded results under benchmarks/results/."""
