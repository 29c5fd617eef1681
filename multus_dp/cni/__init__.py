"""The CNI specification as code. Imports nothing else of multus_dp."""
