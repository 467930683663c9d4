"""Kernel benchmarks behind `hold-fast bench`: each compares a compiled kernel with its
vectorised pure-PyTorch reference on the same workload, in the same run."""
