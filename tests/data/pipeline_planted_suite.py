"""The pipeline suite's loader_w0 with a planted slower transform, for tests/test_input_pipeline.py.

PERFWATCH_TEST_ITEM_SLEEP_MS (read in the worker, per item) makes ``__getitem__`` slower without
touching the benchmark's params: params are part of a series' identity, so a planted param would
start a new series instead of showing the regression the gate must catch.
"""

from __future__ import annotations

import os
import time

from perfwatch.suites import pipeline
from perfwatch.suites.base import Benchmark, Suite

SLEEP_ENV = "PERFWATCH_TEST_ITEM_SLEEP_MS"


class SlowImages(pipeline.SyntheticImages):
    def __getitem__(self, index):
        delay = float(os.environ.get(SLEEP_ENV, "0") or 0) / 1e3
        if delay:
            time.sleep(delay)
        return super().__getitem__(index)


def build(ctx):
    return pipeline.build_train(ctx, dataset_type=SlowImages)


_w0 = pipeline.SUITE.get("loader_w0")
SUITE = Suite(
    name="pipeline_planted",
    description="loader_w0 whose dataset can be made slower through the environment",
    benchmarks=(Benchmark("loader_w0", build, _w0.description, params=dict(_w0.params), tolerance=_w0.tolerance),),
)
