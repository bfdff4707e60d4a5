"""The small protocol every suite implements.

A *suite* is a named tuple of *benchmarks*. A benchmark is a model factory, an input generator
and a step, bundled as one ``build(ctx) -> Workload`` function:

    def build(ctx: BenchContext) -> Workload:
        model = MyModel(ctx.pick(tiny=64, small=512, medium=1024, large=2048)).to(ctx.device)
        x = torch.randn(8, 64, device=ctx.device)
        fwd = ctx.compile(model)            # identity in eager mode, torch.compile(mode=...) else
        def step():
            with ctx.autocast():
                return fwd(x)
        return Workload(step=step, items_per_step=8, item_unit="samples")

Suites know nothing of timing, storage or processes: the worker builds the workload in a fresh
process, calls ``step()`` to warm up, times it, checks its outputs against eager and float64,
and measures memory. ``step`` must return the tensors whose values define correctness (the
loss of a training step, the logits of inference); they are compared between modes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from perfwatch.domain.vocab import BACKENDS, MODES, SIZES  # noqa: F401  (re-exported for suites)

# CUDA allocators a benchmark may ask for (perfwatch/measure/allocators.py installs them):
# torch's own caching allocator, cudaMallocManaged, and managed memory advised to live on the
# GPU and prefetched there.
ALLOCATORS = ("caching", "managed", "managed_prefetch")


@dataclass(frozen=True)
class Tolerance:
    """How far compiled output may be from eager output and still pass.

    Passing means ``|compiled - eager| <= atol + rtol * |eager|`` everywhere, or, when a float64
    reference exists, compiled being no further from it than ``fp64_multiplier`` times eager's
    own distance from it (plus atol): compiled code may reorder float math, not lose precision.
    """

    atol: float = 1e-4
    rtol: float = 1e-3
    fp64_multiplier: float = 2.0


@dataclass
class Workload:
    """A built benchmark, ready to step."""

    step: Callable[[], Any]
    items_per_step: float = 1.0
    item_unit: str = "samples"  # throughput is reported in <item_unit>/s
    notes: dict[str, Any] = field(default_factory=dict)  # facts worth showing (e.g. the lengths cycled)
    # input-pipeline accounting, cumulative over every step so far: {"wait_s": seconds spent
    # waiting for batches (next() plus issuing the device copy), "steps": steps, optionally
    # "prefetch": batches the loader may hold ready}; the worker's pipeline pass reads it before
    # and after stepping (data_wait_fraction). None: no loader.
    input_stats: Callable[[], Mapping[str, float]] | None = None


@dataclass(frozen=True)
class BenchContext:
    """What a benchmark's build function may know about the case it is built for."""

    device: str = "cpu"
    size: str = "tiny"
    dtype: Any = None  # torch.dtype for parameters; None means float32
    amp: bool = False  # bf16 autocast around the step (on by default for cuda)
    mode: str = "eager"
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    # torch.compile keywords for every compile() of the case: the CaseSpec's compile_options
    # (perfwatch.api), below the keywords of the compile() call itself
    compile_options: Mapping[str, Any] = field(default_factory=dict)
    # the batch to build with instead of the benchmark's own (the batch search's tries,
    # perfwatch/collectors/batch.py); None: the benchmark's. Read it through batch_size().
    batch: int | None = None

    def batch_size(self, default: int) -> int:
        """The batch to build with: the batch search's override when set, else ``default``
        (the benchmark's own batch for this size). A benchmark with ``batch_search=True`` must
        take its batch from here, and scale ``items_per_step`` with it."""
        return self.batch if self.batch is not None else default

    def pick(self, **by_size: Any) -> Any:
        """Return the value given for this size; falls back to the nearest smaller size."""
        order = list(SIZES)
        idx = order.index(self.size) if self.size in order else 0
        for s in reversed(order[: idx + 1]):
            if s in by_size:
                return by_size[s]
        for s in order:
            if s in by_size:
                return by_size[s]
        raise KeyError("pick() needs at least one size")

    @property
    def torch_dtype(self) -> Any:
        import torch

        return self.dtype if self.dtype is not None else torch.float32

    def compile(self, fn: Callable, **kwargs: Any) -> Callable:
        """``torch.compile`` ``fn`` for this case's mode; eager mode returns ``fn`` unchanged.

        Keyword arguments (``dynamic=...``, ``fullgraph=...``) go to torch.compile; the
        benchmark's ``params['dynamic']`` applies when the call does not say.
        """
        if self.mode == "eager":
            return fn
        import torch

        opts = dict(self.compile_options)
        if "dynamic" in self.params and "dynamic" not in kwargs:
            kwargs["dynamic"] = self.params["dynamic"]
        opts.update(kwargs)
        mode = None if self.mode == "default" else self.mode
        return torch.compile(fn, mode=mode, **opts)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when the case asks for it, else a no-op context."""
        if not self.amp:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.device, dtype=torch.bfloat16)

    def seed_all(self) -> None:
        import torch

        torch.manual_seed(self.seed)


@dataclass(frozen=True)
class Benchmark:
    name: str
    build: Callable[[BenchContext], Workload]
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = BACKENDS
    tolerance: Tolerance = Tolerance()
    fp64_reference: bool = True  # build a float64 eager copy as the accuracy reference
    amp_on_cuda: bool = True  # bf16 autocast when running on cuda
    uvm_counters: bool = False  # count unified-memory events (CUPTI) in a pass of their own, on cuda
    # takes part in the batch search (`perfwatch run --batch-search`): its build reads its batch
    # from ctx.batch_size(), so the search can find the largest batch that fits (train benchmarks)
    batch_search: bool = False
    # the CUDA allocator (one of ALLOCATORS) the worker installs before the case's first CUDA
    # allocation; a suite declares it, it never installs one itself
    allocator: str = "caching"
    # mode -> why this benchmark cannot run under it; such a case is stored as "unsupported"
    # with that reason, without building anything
    unsupported_modes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.allocator not in ALLOCATORS:
            raise ValueError(f"benchmark {self.name}: allocator must be one of {', '.join(ALLOCATORS)}, "
                             f"got {self.allocator!r}")

    def unsupported_reason(self, backend: str, mode: str) -> str | None:
        """Why this benchmark cannot run on ``backend`` under ``mode``; None when it can."""
        if backend not in self.backends:
            return f"{self.name} does not run on {backend} (supports {', '.join(self.backends)})"
        if mode in self.unsupported_modes:
            return f"{self.name} does not run under {mode}: {self.unsupported_modes[mode]}"
        return None


@dataclass(frozen=True)
class Suite:
    name: str
    benchmarks: tuple[Benchmark, ...]
    description: str = ""

    def get(self, name: str) -> Benchmark:
        for b in self.benchmarks:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.benchmarks)
