"""What to measure around a step.

Each pass of the worker (the table in perfwatch/measure/passes.py) is a collector with one
interface (``base.py``: ``applies``, ``start``/``run``/``stop``, ``metrics``, ``details``); each
module holds one, beside the watch it measures with (a context manager scripts may use alone).
A metric a collector records is named in its ``produces`` and in the catalogue
(perfwatch/domain/metrics.py): adding a metric means a collector (or a field of one) and a
catalogue entry; adding a pass, a collector and one table entry.
"""
