"""A user suite for the fault tests of the spool and of kill -9: cases a test can hold and release.

PW_GATES names a folder. ``gate1``/``gate2`` touch ``<name>.waiting`` there, then wait until a
file ``<name>`` appears; ``hang`` writes its worker's pid to ``hang.pid`` and never returns.
"""

import os
import time

import torch

from perfwatch.suites.base import Benchmark, Suite, Workload


def build_add(ctx):
    x = torch.randn(64)
    return Workload(step=lambda: x * 2 + 1, items_per_step=64, item_unit="elements")


def _gate(name):
    def build(ctx):
        folder = os.environ.get("PW_GATES")
        if folder:
            open(os.path.join(folder, name + ".waiting"), "w").close()
            while not os.path.exists(os.path.join(folder, name)):
                time.sleep(0.05)
        return build_add(ctx)

    return build


def build_hang(ctx):
    folder = os.environ.get("PW_GATES")
    if folder:
        with open(os.path.join(folder, "hang.pid.tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.path.join(folder, "hang.pid.tmp"), os.path.join(folder, "hang.pid"))
    time.sleep(3600)


SUITE = Suite(
    name="interrupts",
    description="test suite: cases a test holds and releases",
    benchmarks=(
        Benchmark("add", build_add, "x * 2 + 1 on 64 elements"),
        Benchmark("gate1", _gate("gate1"), "waits for the file gate1"),
        Benchmark("gate2", _gate("gate2"), "waits for the file gate2"),
        Benchmark("hang", build_hang, "never returns"),
    ),
)
