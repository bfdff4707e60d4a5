"""A user suite for `perfwatch ab` tests: fixed matmul work, plus extra work an arm can plant.

PERFWATCH_TEST_EXTRA_WORK (read when the case is built, so it is the worker's environment that
counts: `--head-env PERFWATCH_TEST_EXTRA_WORK=0.3`) adds that fraction of the fixed work to each
step: a planted slowdown of about that size with nothing else changed.
"""

import os

import torch

from perfwatch.suites.base import Benchmark, Suite, Workload

N, REPS = 96, 8  # about a millisecond of matmuls per step on one core: many samples per second


def build_matmul(ctx):
    ctx.seed_all()
    a = torch.randn(N, N).to(ctx.torch_dtype)
    extra = round(REPS * float(os.environ.get("PERFWATCH_TEST_EXTRA_WORK", "0")))

    def step():
        x = a
        for _ in range(REPS + extra):
            x = torch.tanh(x @ a)
        return x

    return Workload(step=step, items_per_step=1, item_unit="steps")


SUITE = Suite(name="ab", description="test suite for perfwatch ab: matmuls with plantable extra work",
              benchmarks=(Benchmark("matmul", build_matmul, "tanh(x @ a) chain, extra steps from the environment"),))
