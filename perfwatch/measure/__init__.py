"""Measurement: the runner (one fresh process per case), the worker and its passes, repeats."""
