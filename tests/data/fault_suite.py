"""A user suite for tests: cheap benchmarks, and ones that fail in every way a case can fail."""

import os
import signal
import time

import torch

from perfwatch.suites.base import Benchmark, Suite, Workload


def build_add(ctx):
    ctx.seed_all()
    x = torch.randn(64, device=ctx.device).to(ctx.torch_dtype)
    slow = float(os.environ.get("FAULT_SUITE_SLEEP", "0"))  # an injected slowdown

    def step():
        if slow:
            time.sleep(slow)
        return x * 2 + 1

    return Workload(step=step, items_per_step=64, item_unit="elements")


def build_boom(ctx):
    raise RuntimeError("boom: the model factory failed")


def build_oom(ctx):
    def step():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 TiB")

    return Workload(step=step)


def build_hang(ctx):
    def step():
        time.sleep(3600)

    return Workload(step=step)


def build_crash(ctx):
    def step():
        os.kill(os.getpid(), signal.SIGKILL)

    return Workload(step=step)


def build_wrong(ctx):
    ctx.seed_all()
    x = torch.randn(16).to(ctx.torch_dtype)  # drawn in float32 so float64 builds match
    # "Compiled" output is off by one: an accuracy failure without paying for a compile.
    bias = 0.0 if ctx.mode == "eager" else 1.0
    return Workload(step=lambda: x + bias)


def _breaks(x):
    if x.sum() > 0:
        return x + 1
    return x - 1


def build_strict(ctx):
    x = torch.randn(8)
    fn = ctx.compile(_breaks, fullgraph=True)  # a graph break under fullgraph: compile error
    return Workload(step=lambda: fn(x))


def build_gate(ctx):
    """Waits until the file named by FAULT_SUITE_GATE exists (lets a test act mid-run)."""
    gate = os.environ.get("FAULT_SUITE_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    return build_add(ctx)


SUITE = Suite(
    name="faults",
    description="test suite: cheap and failing benchmarks",
    benchmarks=(
        Benchmark("add", build_add, "x * 2 + 1 on 64 elements"),
        Benchmark("boom", build_boom, "factory raises"),
        Benchmark("oom", build_oom, "step raises out of memory"),
        Benchmark("hang", build_hang, "step never returns"),
        Benchmark("crash", build_crash, "worker killed"),
        Benchmark("wrong", build_wrong, "compiled output differs"),
        Benchmark("strict", build_strict, "fullgraph compile of a graph break"),
        Benchmark("gate", build_gate, "waits for a file"),
        Benchmark("gpu_only", build_add, "cuda only", backends=("cuda",)),
        Benchmark("no_graphs", build_add, "refuses CUDA-graph modes",
                  unsupported_modes={"reduce-overhead": "needs a custom allocator", "max-autotune": "needs a custom allocator"}),
    ),
)
