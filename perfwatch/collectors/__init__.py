"""What to measure around a step.

Each module holds one collector. A collector that wraps a region is a context manager with a
``metrics()`` method returning :class:`perfwatch.domain.results.Metric` objects (named, with units and
a direction): adding a metric means adding a collector, nothing else. The worker decides which
pass each collector runs in (timing, memory, profiler and unified memory never share a pass).
"""
