"""The batch search (``perfwatch run --batch-search``): the largest batch that fits, and the
throughput at the batches tried on the way.

Why: a batch size is guesswork until it runs out of memory, and a change that costs memory per
sample shows up as an out-of-memory error in someone's job next week. ``max_batch`` catches it
the day it lands.

Method, per case (train benchmarks that declare ``batch_search``, which read their batch from
``ctx.batch_size()``):
  - every try is a fresh build at that batch (compiled modes reset dynamo first, so each batch
    compiles as a job with that batch would, static shapes and all), ``WARMUP_STEPS`` steps
    (compilation, CUDA-graph recording), then up to ``TIMED_STEPS`` synchronized steps timed:
    throughput = items per step / median step time;
  - the batch doubles from 1 until a try does not fit, then bisects between the last fit and the
    first failure until the gap is at most 1/``RESOLUTION`` of the fit (or 1): ``max_batch`` is the
    largest batch that fitted, known to within that;
  - "fits" on CUDA means no ``torch.OutOfMemoryError``: the process is capped with
    ``torch.cuda.set_per_process_memory_fraction`` so an allocation past the cap raises a real
    OOM, which is caught here, the try dropped and the CUDA cache emptied; the fraction is set
    back to 1 when the pass ends. On CPU nothing runs out of memory at these sizes, so the cap is
    judged from what torch allocated: the peak of torch's CPU allocations over the build and the
    warm-up steps, from the allocator's own reports to ``torch.profiler`` (``profile_memory``;
    every allocation and free, in order: a running sum, deterministic for the same code, unlike
    RSS, which the C library keeps or returns to the kernel as it likes);
  - bounded in time: the search stops before a try that would end past the budget (the last try's
    duration as the guess) and says so (``cut``); a cut search stores no ``max_batch`` (a lower
    bound would read as a regression whenever the machine is slow) but keeps the curve it measured.
Points of the curve are stored at powers of two (``throughput_at_batch_N``, one series each);
every try, bisection included, is in the details (``batch_search.tries``). The cap is part of the
series identity of these figures (perfwatch/domain/series.py).
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterator

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.batch_cap import parse_cap, resolve_cap
from perfwatch.domain.results import HIGHER, Metric
from perfwatch.measure.backends import synchronize

WARMUP_STEPS = 3  # compile on the first; reduce-overhead records its CUDA graph on the second
TIMED_STEPS = 5
MIN_TIMED = 2  # a slow step: stop timing after TIMED_MIN_S, but with at least this many steps
TIMED_MIN_S = 1.0
RESOLUTION = 64  # bisect until the gap is at most 1/64 of the batch that fits
MAX_BATCH = 2 ** 20  # a batch this large that fits says the cap is meaningless for this case
DEFAULT_BUDGET_S = {"cpu": 60.0, "cuda": 300.0}
FAMILY = "throughput_at_batch_"


@dataclass
class Try:
    batch: int
    fits: bool
    s: float = 0.0  # seconds the try took, build and compile included
    peak_bytes: int | None = None
    step_ms: float | None = None
    throughput: float | None = None
    items_per_step: float | None = None
    steps: int | None = None  # timed steps behind step_ms
    why: str | None = None  # why it did not fit


@dataclass
class Search:
    tries: list[Try] = field(default_factory=list)
    max_batch: int = 0  # the largest batch that fitted (0: not even batch 1)
    first_failure: int | None = None
    cut: bool = False  # the budget ran out first
    bounded: bool = False  # MAX_BATCH fitted: no failure found
    failed: str | None = None  # a try raised something other than an out-of-memory error
    spent_s: float = 0.0

    @property
    def concluded(self) -> bool:
        return not (self.cut or self.bounded or self.failed)


def search(try_batch: Callable[[int], Try], budget_s: float, clock: Callable[[], float] = time.monotonic) -> Search:
    """Doubling from 1, then bisection, within ``budget_s``; ``try_batch`` says whether a batch fits."""
    out = Search()
    start = clock()

    def attempt(b: int) -> Try | None:
        if out.tries and clock() - start + out.tries[-1].s > budget_s:  # the next try would end past the budget
            out.cut = True
            return None
        try:
            t = try_batch(b)
        except Exception as exc:  # not an OOM: the build or step is broken at this batch; keep what we have
            out.failed = f"batch {b}: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
            return None
        out.tries.append(t)
        return t

    b = 1
    while out.first_failure is None:
        if b > MAX_BATCH:
            out.bounded = True
            break
        t = attempt(b)
        if t is None:
            break
        if t.fits:
            out.max_batch, b = b, b * 2
        else:
            out.first_failure = b
    while out.concluded and out.first_failure is not None \
            and out.first_failure - out.max_batch > max(1, out.max_batch // RESOLUTION):
        mid = (out.max_batch + out.first_failure) // 2
        t = attempt(mid)
        if t is None:
            break
        if t.fits:
            out.max_batch = mid
        else:
            out.first_failure = mid
    out.spent_s = clock() - start
    return out


def is_oom(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, or one wrapped by the compiler (an autotuning benchmark that ran out)."""
    import torch

    kinds = tuple(k for k in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if k)
    return isinstance(exc, kinds) or "out of memory" in str(exc).lower()


class _Window:
    peak: int | None = None


class CudaCap:
    """A real out-of-memory error past the cap: the caching allocator limited to cap / total."""

    method = "torch.OutOfMemoryError under torch.cuda.set_per_process_memory_fraction"

    def __init__(self, cap_bytes: int) -> None:
        import torch

        self.dev = torch.cuda.current_device()
        self.total = torch.cuda.get_device_properties(self.dev).total_memory
        free, _ = torch.cuda.mem_get_info(self.dev)
        usable = free + torch.cuda.memory_reserved(self.dev)  # what this process holds is usable too
        if cap_bytes > usable:  # never squeeze a shared GPU: others hold the rest
            raise CapUnavailable(f"the cap ({cap_bytes} bytes) is more than the GPU has free ({usable} bytes)")
        self.fraction = cap_bytes / self.total
        torch.cuda.set_per_process_memory_fraction(self.fraction, self.dev)

    @contextlib.contextmanager
    def window(self) -> Iterator[_Window]:
        import torch

        w = _Window()
        torch.cuda.reset_peak_memory_stats(self.dev)
        yield w
        w.peak = int(torch.cuda.max_memory_allocated(self.dev))

    def over(self, peak: int | None) -> bool:
        return False  # the allocator raised already if it was

    def close(self) -> None:
        import torch

        torch.cuda.set_per_process_memory_fraction(1.0, self.dev)  # the default: the whole device
        torch.cuda.empty_cache()


class CpuCap:
    """The peak of torch's CPU allocations, from the allocator's reports to the profiler, against the cap."""

    method = "peak of torch's CPU allocations (torch.profiler profile_memory) over build and warm-up"

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        # Nothing stops a CPU try at the cap: it is judged after it allocated. The first try past
        # it holds up to about twice the cap (the batch doubled), so that must fit in the machine.
        avail = _available_bytes()
        if avail is not None and 2 * cap_bytes > avail:
            raise CapUnavailable(f"a try past the cap ({cap_bytes} bytes) may allocate twice that, and the machine "
                                 f"has {avail} bytes available")

    @contextlib.contextmanager
    def window(self) -> Iterator[_Window]:
        from torch.profiler import ProfilerActivity, profile

        w = _Window()
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            yield w
        w.peak = allocation_peak(prof)

    def over(self, peak: int | None) -> bool:
        return peak is not None and peak > self.cap_bytes

    def close(self) -> None:
        pass


class CapUnavailable(Exception):
    """The cap cannot be applied here; the search is skipped and says why."""


def allocation_peak(prof: Any) -> int:
    """The highest running sum of the CPU allocation events ("[memory]": +bytes allocated,
    -bytes freed) in the order they happened: the most torch held at once in the window, counted
    from its start."""
    events = prof.profiler.kineto_results.events()
    mem = sorted((e.start_ns(), e.nbytes()) for e in events
                 if e.name() == "[memory]" and "CPU" in str(e.device_type()))
    now = peak = 0
    for _, nbytes in mem:
        now += nbytes
        peak = max(peak, now)
    return peak


def _release(compiled: bool, device: str) -> None:
    """Drop what the last build left: compiled graphs (they hold the model), cycles, cached blocks."""
    import torch

    if compiled:
        torch.compiler.reset()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


class BatchCollector(Collector):
    """The worker's batch pass, last: the search above, for cases with ``spec.batch_search``."""

    name = "batch"
    produces = ("max_batch",)  # and the family throughput_at_batch_<N> (perfwatch.domain.metrics.FAMILIES)
    families = (FAMILY,)

    def applies(self, ctx: CaseContext) -> str | None:
        if not (ctx.spec.batch_search and ctx.bench.batch_search):
            return "the batch search runs with --batch-search, for benchmarks with batch_search"
        if ctx.spec.backend not in ("cpu", "cuda"):
            return "the batch search runs on cpu and cuda"
        return None

    def run(self, ctx: CaseContext) -> None:
        import torch

        spec = ctx.spec
        ctx.call, ctx.workload = None, None  # the timed build (kept for the graph pass) goes: the cap is for the tries
        _release(ctx.compiled, spec.backend)
        cap = resolve_cap(spec.batch_memory_cap, spec.backend)
        total = (torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
                 if spec.backend == "cuda" else _ram_bytes())
        cap_bytes = parse_cap(cap).bytes_of(total)
        budget = spec.batch_search_budget_s or DEFAULT_BUDGET_S[spec.backend]
        info: dict[str, Any] = {"cap": cap, "cap_bytes": cap_bytes, "budget_s": budget}
        self._details = {"batch_search": info}
        try:
            probe = CudaCap(cap_bytes) if spec.backend == "cuda" else CpuCap(cap_bytes)
        except CapUnavailable as exc:
            self._details["batch_status"] = f"skipped: {exc}"
            return
        info["method"] = probe.method
        per_item: list[float] = []
        try:
            result = search(lambda b: self._try(ctx, b, probe, per_item), budget)
        finally:
            probe.close()
            _release(ctx.compiled, spec.backend)
        self._record(result, info, ctx)

    def _try(self, ctx: CaseContext, b: int, probe, per_item: list[float]) -> Try:
        spec = ctx.spec
        t0 = time.perf_counter()
        _release(ctx.compiled, spec.backend)
        wl = None
        try:
            with probe.window() as w:
                wl = ctx.bench.build(replace(ctx.bench_context(), batch=b))
                for _ in range(WARMUP_STEPS):
                    wl.step()
                synchronize(spec.backend)
            _check_batch(ctx, wl, b, per_item)
            if probe.over(w.peak):
                return Try(b, False, time.perf_counter() - t0, w.peak, why=f"peak {w.peak} bytes is over the cap")
            times = _timed_steps(wl.step, spec.backend)
            step_ms = statistics.median(times)
            thr = wl.items_per_step / (step_ms / 1e3) if step_ms > 0 else None
            self._unit = f"{wl.item_unit}/s"
            return Try(b, True, time.perf_counter() - t0, w.peak, step_ms, thr, wl.items_per_step, len(times))
        except Exception as exc:
            if not is_oom(exc):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            return Try(b, False, time.perf_counter() - t0, why=f"{type(exc).__name__}: {first}")
        finally:
            wl = None  # noqa: F841  (the try's model and activations go before the next build)

    def _record(self, result: Search, info: dict[str, Any], ctx: CaseContext) -> None:
        unit = getattr(self, "_unit", "items/s")
        info.update(spent_s=round(result.spent_s, 3), cut=result.cut, item_unit=unit,
                    max_batch=result.max_batch if result.concluded else None,
                    first_failure=result.first_failure, tries=[_row(t) for t in result.tries])
        for t in sorted(result.tries, key=lambda t: t.batch):  # the curve: powers of two that fitted
            if t.fits and t.throughput and t.batch & (t.batch - 1) == 0:
                self._metrics.append(Metric(f"{FAMILY}{t.batch}", t.throughput, unit, HIGHER, n=t.steps))
        if result.concluded:
            self._metrics.insert(0, Metric("max_batch", float(result.max_batch), "count", HIGHER))
            self._details["batch_status"] = "ok"
        elif result.failed:
            self._details["batch_status"] = f"failed at {result.failed}; no max_batch stored"
        elif result.cut:
            self._details["batch_status"] = (f"cut by the budget ({info['budget_s']:g} s) after {len(result.tries)} "
                                             f"tries: max_batch >= {result.max_batch}, not stored")
        else:
            self._details["batch_status"] = f"bounded: batch {MAX_BATCH} fits under the cap; no max_batch stored"


def _check_batch(ctx: CaseContext, wl, b: int, per_item: list[float]) -> None:
    """A benchmark that declares batch_search must build at the batch asked for: its items per step
    scale with the batch. One that ignores ctx.batch_size() would search nothing."""
    ratio = wl.items_per_step / b
    if per_item and abs(ratio - per_item[0]) > 1e-9 * per_item[0]:
        raise ValueError(f"{ctx.bench.name} declares batch_search but its build ignores ctx.batch_size(): "
                         f"{per_item[0]:g} items per sample at first, {ratio:g} at batch {b}")
    per_item.append(ratio)


def _timed_steps(step: Callable[[], Any], device: str) -> list[float]:
    """Per-step milliseconds, each step synchronized: up to TIMED_STEPS, at least MIN_TIMED."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < TIMED_STEPS and (len(times) < MIN_TIMED or time.perf_counter() - start < TIMED_MIN_S):
        synchronize(device)
        t0 = time.perf_counter()
        step()
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _row(t: Try) -> dict[str, Any]:
    row = {k: v for k, v in asdict(t).items() if v is not None}
    row["s"] = round(t.s, 3)
    return row


def _ram_bytes() -> int:
    """The machine's memory (a fraction cap on CPU is a fraction of it)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _available_bytes() -> int | None:
    """MemAvailable (Linux): what can be allocated without swapping; None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
