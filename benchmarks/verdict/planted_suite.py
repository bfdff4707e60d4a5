"""A suite with a slowdown of known size planted on request, for calibrating the verdict
(docs/verdict.md). ``PERFWATCH_PLANT`` is the fraction to add (0.02 = 2% slower); unset or 0: clean.

- ``mlp`` (cpu, cuda): a small MLP forward. The planted work is a busy wait of ``PLANT x`` the
  step's own median time, measured once at build: fixed extra work on the host.
- ``gpt2`` (cuda): a Hugging Face GPT-2 forward (6 layers, d 512, batch 8 x 256, fp32) — a model
  nobody here wrote. The planted work is ``torch.cuda._sleep(cycles)`` after the forward, with
  the cycles calibrated at build to ``PLANT x`` the forward's median GPU time: extra GPU work,
  captured by CUDA graphs too.
"""

from __future__ import annotations

import os
import time

import torch

from perfwatch.api import BenchContext, Benchmark, Suite, Tolerance, Workload

PLANT = float(os.environ.get("PERFWATCH_PLANT", "0") or 0)


def _median_ms(fn, device: str, n: int = 30) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(n):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[n // 2]


def _cycles_per_ms() -> float:
    """GPU clock cycles per millisecond of torch.cuda._sleep, measured here (clocks vary)."""
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(2_000_000)
    end.record()
    end.synchronize()
    return 2_000_000 / start.elapsed_time(end)


def build_mlp(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    width = ctx.pick(tiny=256, small=1024, medium=2048)
    with torch.device(ctx.device):
        model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.GELU(), torch.nn.Linear(width, width))
        x = torch.randn(64, width)
    model, x = model.to(ctx.torch_dtype), x.to(ctx.torch_dtype)
    fwd = ctx.compile(model)

    @torch.no_grad()
    def clean():
        return fwd(x)

    extra_s = PLANT * _median_ms(clean, ctx.device) / 1e3 if PLANT else 0.0

    def step():
        out = clean()
        if extra_s:
            if ctx.device == "cuda":
                torch.cuda.synchronize()
            end = time.perf_counter() + extra_s
            while time.perf_counter() < end:  # fixed extra host work
                pass
        return out

    return Workload(step=step, items_per_step=64)


def build_gpt2(ctx: BenchContext) -> Workload:
    from transformers import GPT2Config, GPT2Model

    ctx.seed_all()
    cfg = GPT2Config(n_layer=6, n_embd=512, n_head=8, n_positions=256, vocab_size=50257)
    model = GPT2Model(cfg).to(ctx.device).eval()
    ids = torch.randint(0, cfg.vocab_size, (8, 256), device=ctx.device)
    fwd = ctx.compile(model)

    @torch.no_grad()
    def clean():
        return fwd(input_ids=ids).last_hidden_state

    cycles = int(PLANT * _median_ms(clean, ctx.device) * _cycles_per_ms()) if PLANT else 0

    @torch.no_grad()
    def step():
        out = clean()
        if cycles:
            torch.cuda._sleep(cycles)  # calibrated extra GPU work after the forward
        return out

    return Workload(step=step, items_per_step=8 * 256, item_unit="tokens")


SUITE = Suite(
    name="planted",
    description="verdict calibration: a slowdown of PERFWATCH_PLANT (fraction) planted on request",
    benchmarks=(
        Benchmark("mlp", build_mlp, "small MLP forward, planted host work", backends=("cpu", "cuda"),
                  fp64_reference=False, amp_on_cuda=False),
        Benchmark("gpt2", build_gpt2, "Hugging Face GPT-2 forward, planted GPU sleep", backends=("cuda",),
                  fp64_reference=False, amp_on_cuda=False, tolerance=Tolerance(atol=1e-3, rtol=1e-2)),
    ),
)
