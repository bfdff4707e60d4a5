"""perfwatch: catch performance regressions in PyTorch workloads before users do."""

__version__ = "0.1.0"
