"""Accuracy: compiled output against eager, and both against a float64 reference.

Silent wrong results are the worst regression there is, so compiled cases fail (status
``accuracy_fail``) when they are further from eager than the benchmark's tolerance allows *and*
further from the float64 reference than eager itself is (times a multiplier): compiled code may
reorder float arithmetic, it may not lose precision.

Where the reference is built (``CaseSpec.reference``, ``--reference``): on the case's device, or
on the CPU, which is an independent check of the device (Apple's MPS silently skipped in-place
writes into non-contiguous outputs, and has no float64 to build a reference with). A reference on
the CPU also judges *eager* cases, which otherwise have nothing to be compared with: an eager
float32 output further from the CPU float64 output than the benchmark's tolerance is
``accuracy_fail``. Two builds on different devices only hold the same values when the benchmark
draws its random values on the CPU: a probe rebuilds the case with the device's generator
reseeded, and a case whose outputs move is not compared with a CPU reference at all.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import HIGHER, LOWER, STATUS_ACCURACY, Metric
from perfwatch.domain.vocab import NO_FLOAT64, resolve_reference
from perfwatch.suites.base import Tolerance


def flatten(out: Any) -> list[Any]:
    """Tensors in a step's output, in a stable order (dicts by key)."""
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in flatten(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flatten(o)]
    if hasattr(out, "logits"):  # model output objects
        return flatten(out.logits)
    return []


def labels(out: Any, path: str = "") -> list[str]:
    """Names of the tensors ``flatten`` returns, in its order (``exp_avg_sq``, ``[1]``), for reasons."""
    import torch

    if isinstance(out, torch.Tensor):
        return [path]  # "" for a bare tensor: the reason then says "eager output (step 1)"
    if isinstance(out, dict):
        return [n for k in sorted(out) for n in labels(out[k], f"{path}.{k}" if path else str(k))]
    if isinstance(out, (list, tuple)):
        return [n for i, o in enumerate(out) for n in labels(o, f"{path}[{i}]")]
    if hasattr(out, "logits"):
        return labels(out.logits, f"{path}.logits" if path else "logits")
    return []


def snapshot(out: Any) -> list[Any]:
    """Detached float64 CPU copies: safe against CUDA-graph replays overwriting outputs."""
    return [t.detach().to("cpu", dtype=__import__("torch").float64).clone() for t in flatten(out)]


@dataclass(frozen=True)
class Errors:
    max_abs: float
    max_rel: float  # max |a - b| / max |b|: robust to elements near zero


def errors(a: list[Any], b: list[Any]) -> Errors:
    if len(a) != len(b):
        raise ValueError(f"outputs differ in structure: {len(a)} vs {len(b)} tensors")
    max_abs = 0.0
    max_rel = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            raise ValueError(f"output shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
        if x.numel() == 0:
            continue
        if not bool(x.isfinite().all()) and bool(y.isfinite().all()):
            return Errors(float("inf"), float("inf"))
        diff = (x - y).abs().nan_to_num(nan=0.0)
        d = float(diff.max())
        scale = float(y.abs().nan_to_num(nan=0.0).max())
        max_abs = max(max_abs, d)
        max_rel = max(max_rel, d / scale if scale > 0 else (0.0 if d == 0 else float("inf")))
    return Errors(max_abs, max_rel)


def within(e: Errors, tol: Tolerance) -> bool:
    return e.max_abs <= tol.atol or e.max_rel <= tol.rtol


@dataclass(frozen=True)
class Verdict:
    passed: bool
    vs_eager: Errors | None
    vs_fp64: Errors | None
    eager_vs_fp64: Errors | None
    reason: str


def worst(xs: list[list[Any]], ys: list[list[Any]]) -> Errors:
    """The largest errors over steps (each a list of snapshots)."""
    es = [errors(a, b) for a, b in zip(xs, ys)]
    return Errors(max(e.max_abs for e in es), max(e.max_rel for e in es))


def judge(compiled: list[list[Any]], eager: list[list[Any]] | None, fp64: list[list[Any]] | None, tol: Tolerance) -> Verdict:
    """Compare per-step outputs (lists of snapshots, one per step)."""

    vs_eager = worst(compiled, eager) if eager is not None else None
    vs_fp64 = worst(compiled, fp64) if fp64 is not None else None
    eager_fp64 = worst(eager, fp64) if (eager is not None and fp64 is not None) else None
    if vs_eager is None or within(vs_eager, tol):
        return Verdict(True, vs_eager, vs_fp64, eager_fp64, "within tolerance of eager")
    if vs_fp64 is not None and eager_fp64 is not None:
        if vs_fp64.max_abs <= tol.fp64_multiplier * eager_fp64.max_abs + tol.atol:
            return Verdict(True, vs_eager, vs_fp64, eager_fp64, "no further from float64 than eager")
        return Verdict(False, vs_eager, vs_fp64, eager_fp64,
                       f"compiled is {vs_fp64.max_abs:.3g} from float64 where eager is {eager_fp64.max_abs:.3g} "
                       f"(allowed x{tol.fp64_multiplier}); {vs_eager.max_abs:.3g} from eager")
    return Verdict(False, vs_eager, vs_fp64, eager_fp64,
                   f"max abs error {vs_eager.max_abs:.3g} / rel {vs_eager.max_rel:.3g} vs eager exceeds atol {tol.atol} / rtol {tol.rtol}")


def judge_eager(eager: list[list[Any]], fp64: list[list[Any]], tol: Tolerance, names: list[str], backend: str) -> Verdict:
    """An eager case against a float64 reference built on the CPU. With no second build to compare
    with, "far" is the benchmark's own tolerance taken against the float64 output: beyond
    ``atol`` and ``rtol`` (relative to the reference's largest value) the device computed
    something else, not the same thing less precisely."""
    e = worst(eager, fp64)
    if within(e, tol):
        return Verdict(True, None, e, e, "eager within tolerance of the float64 reference built on the CPU")
    # name the output that is furthest off: a stuck optimizer state shows up as exp_avg_sq, not "#3"
    where, rel = "", -1.0
    for step, (xs, ys) in enumerate(zip(eager, fp64)):
        for i, (x, y) in enumerate(zip(xs, ys)):
            one = errors([x], [y])
            if not within(one, tol) and one.max_rel > rel:
                name = names[i] if i < len(names) else f"#{i}"
                where, rel = f"{name} (step {step + 1})".strip(), one.max_rel
    return Verdict(False, None, e, e,
                   f"eager output {where} on {backend} is {e.max_abs:.3g} (rel {e.max_rel:.3g}) from the float64 "
                   f"reference built on the CPU, beyond atol {tol.atol} / rtol {tol.rtol}: "
                   f"a {backend} kernel may be silently wrong")


def accuracy_metrics(v: Verdict, judged: bool) -> list[Metric]:
    out: list[Metric] = []
    if v.vs_eager is not None:
        out += [Metric("accuracy_max_abs_error", v.vs_eager.max_abs, "abs", LOWER),
                Metric("accuracy_max_rel_error", v.vs_eager.max_rel, "ratio", LOWER)]
    if v.vs_fp64 is not None:
        out.append(Metric("accuracy_fp64_max_abs_error", v.vs_fp64.max_abs, "abs", LOWER))
    if judged:  # compiled cases always; eager ones against a CPU reference
        out.append(Metric("accuracy_pass", 1.0 if v.passed else 0.0, "bool", HIGHER))
    return out


@contextmanager
def device_generator_offset(backend: str) -> Iterator[None]:
    """Every ``torch.manual_seed(s)`` inside seeds ``backend``'s own generator with ``s + 1``: a
    build that draws only on the CPU builds the same values, one that draws on the device does not."""
    import torch

    orig = torch.manual_seed

    def seeded(seed: int) -> Any:
        gen = orig(seed)
        if backend == "cuda":
            torch.cuda.manual_seed_all(int(seed) + 1)
        elif backend == "mps":
            torch.mps.manual_seed(int(seed) + 1)
        return gen

    torch.manual_seed = torch.random.manual_seed = seeded  # ctx.seed_all and suites call these
    try:
        yield
    finally:
        torch.manual_seed = torch.random.manual_seed = orig


def same(a: list[list[Any]], b: list[list[Any]]) -> bool:
    """Bit for bit the same outputs (NaN equal to NaN)."""
    import torch

    return len(a) == len(b) and all(
        len(x) == len(y) and all(s.shape == t.shape and torch.allclose(s, t, rtol=0, atol=0, equal_nan=True)
                                 for s, t in zip(x, y))
        for x, y in zip(a, b))


class AccuracyCollector(Collector):
    """The worker's accuracy pass: the timed build's first outputs (``ctx.outs``) against fresh
    eager and float64 builds. A failed verdict keeps every figure and sets the case's status."""

    name = "accuracy"
    produces = ("accuracy_max_abs_error", "accuracy_max_rel_error", "accuracy_fp64_max_abs_error", "accuracy_pass")

    def applies(self, ctx: CaseContext) -> str | None:
        return None if ctx.spec.accuracy else "--no-accuracy"

    def run(self, ctx: CaseContext) -> None:
        from perfwatch.collectors.build import ACCURACY_STEPS, first_outputs

        spec, bench = ctx.spec, ctx.bench
        placement = resolve_reference(spec.reference, spec.backend)
        self._details["reference"] = placement
        eager_outs = None
        if ctx.compiled:
            eager_outs, _ = first_outputs(ctx.build("eager").step, spec.backend, ACCURACY_STEPS)
        fp64_outs, names = self._fp64(ctx, placement, eager_outs if ctx.compiled else ctx.outs)
        judged = True
        if ctx.compiled:
            verdict = judge(ctx.outs, eager_outs, fp64_outs, bench.tolerance)
        else:
            why_not = self._eager_unjudged(ctx, placement, fp64_outs)
            if why_not:
                judged = False
                e = worst(ctx.outs, fp64_outs) if fp64_outs is not None else None
                verdict = Verdict(True, None, e, e, why_not)
            else:
                verdict = judge_eager(ctx.outs, fp64_outs, bench.tolerance, names, spec.backend)
        self._metrics = accuracy_metrics(verdict, judged)
        self._details["accuracy"] = verdict.reason
        if not verdict.passed:
            ctx.status, ctx.error = STATUS_ACCURACY, verdict.reason

    def _fp64(self, ctx: CaseContext, placement: str, device_outs: list) -> tuple[list | None, list[str]]:
        """The float64 reference's first outputs and their names, or None (details say why)."""
        import torch

        from perfwatch.collectors.build import ACCURACY_STEPS, first_outputs

        spec = ctx.spec
        if not ctx.bench.fp64_reference:
            return None, []
        device = "cpu" if placement == "cpu" else spec.backend
        if device in NO_FLOAT64:
            self._details["fp64_reference"] = f"unavailable: {device} has no float64 (--reference cpu builds it on the CPU)"
            return None, []
        if device != spec.backend:  # the CPU's generator is not the device's: same values only if drawn on the CPU
            with device_generator_offset(spec.backend):
                probe, _ = first_outputs(ctx.build("eager").step, spec.backend, ACCURACY_STEPS)
            if not same(probe, device_outs):
                self._details["fp64_reference"] = (
                    f"not comparable: the outputs on {spec.backend} changed when only its own random generator was "
                    f"reseeded (random values drawn on {spec.backend}, or a nondeterministic kernel), so a build on "
                    "the CPU would hold other values; draw them on the CPU and move them (docs/suites.md)")
                return None, []
        try:
            work = ctx.build("eager", dtype=torch.float64, amp=False, device=device)
            outs, names = [], []
            for i in range(ACCURACY_STEPS):
                out = work.step()
                names = names or labels(out)
                outs.append(snapshot(out))  # a CPU float64 copy, as every output compared is
        except Exception as exc:
            self._details["fp64_reference"] = f"unavailable: {type(exc).__name__}: {exc}"
            return None, []
        self._details["fp64_reference_device"] = device  # where the reference was built
        return outs, names

    @staticmethod
    def _eager_unjudged(ctx: CaseContext, placement: str, fp64_outs: list | None) -> str | None:
        """Why an eager case is not judged against the reference; None when it is."""
        if fp64_outs is None:
            return "eager: not judged (no float64 reference)"
        if placement != "cpu":
            return "eager: not judged (the reference is built on the device; --reference cpu judges eager cases)"
        if ctx.bench_context().amp or ctx.spec.dtype not in ("float32", "float64"):
            # the tolerance is float32's against float64: bf16 rounding alone would exceed it
            return f"eager: not judged ({'bf16 autocast' if ctx.bench_context().amp else ctx.spec.dtype}: " \
                   "the tolerance is for float32 against float64)"
        return None
