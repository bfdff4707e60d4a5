"""Accuracy: compiled output against eager, and both against a float64 reference.

Silent wrong results are the worst regression there is, so compiled cases fail (status
``accuracy_fail``) when they are further from eager than the benchmark's tolerance allows *and*
further from the float64 reference than eager itself is (times a multiplier): compiled code may
reorder float arithmetic, it may not lose precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import HIGHER, LOWER, STATUS_ACCURACY, Metric
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


def judge(compiled: list[list[Any]], eager: list[list[Any]] | None, fp64: list[list[Any]] | None, tol: Tolerance) -> Verdict:
    """Compare per-step outputs (lists of snapshots, one per step)."""

    def worst(xs: list[list[Any]], ys: list[list[Any]]) -> Errors:
        es = [errors(a, b) for a, b in zip(xs, ys)]
        return Errors(max(e.max_abs for e in es), max(e.max_rel for e in es))

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


def accuracy_metrics(v: Verdict, compiled_mode: bool) -> list[Metric]:
    out: list[Metric] = []
    if v.vs_eager is not None:
        out += [Metric("accuracy_max_abs_error", v.vs_eager.max_abs, "abs", LOWER),
                Metric("accuracy_max_rel_error", v.vs_eager.max_rel, "ratio", LOWER)]
    if v.vs_fp64 is not None:
        out.append(Metric("accuracy_fp64_max_abs_error", v.vs_fp64.max_abs, "abs", LOWER))
    if compiled_mode:
        out.append(Metric("accuracy_pass", 1.0 if v.passed else 0.0, "bool", HIGHER))
    return out


class AccuracyCollector(Collector):
    """The worker's accuracy pass: the timed build's first outputs (``ctx.outs``) against fresh
    eager and float64 builds. A failed verdict keeps every figure and sets the case's status."""

    name = "accuracy"
    produces = ("accuracy_max_abs_error", "accuracy_max_rel_error", "accuracy_fp64_max_abs_error", "accuracy_pass")

    def applies(self, ctx: CaseContext) -> str | None:
        return None if ctx.spec.accuracy else "--no-accuracy"

    def run(self, ctx: CaseContext) -> None:
        import torch

        from perfwatch.collectors.build import ACCURACY_STEPS, first_outputs

        spec, bench = ctx.spec, ctx.bench
        eager_outs = None
        if ctx.compiled:
            eager_outs, _ = first_outputs(ctx.build("eager").step, spec.backend, ACCURACY_STEPS)
        fp64_outs = None
        if bench.fp64_reference and spec.backend != "mps":  # MPS has no float64
            try:
                fp64_outs, _ = first_outputs(ctx.build("eager", dtype=torch.float64, amp=False).step,
                                             spec.backend, ACCURACY_STEPS)
            except Exception as exc:
                self._details["fp64_reference"] = f"unavailable: {type(exc).__name__}: {exc}"
        verdict = judge(ctx.outs, eager_outs, fp64_outs, bench.tolerance)
        self._metrics = accuracy_metrics(verdict, ctx.compiled)
        self._details["accuracy"] = verdict.reason
        if not verdict.passed:
            ctx.status, ctx.error = STATUS_ACCURACY, verdict.reason
