"""An example user suite: an MLP classifier, inference and one training step.

Run it with ``perfwatch run --suite examples/my_suite.py``. See docs/suites.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perfwatch.api import BenchContext, Benchmark, Suite, Tolerance, Workload


def make_mlp(ctx: BenchContext) -> tuple[nn.Module, torch.Tensor, torch.Tensor, int]:
    ctx.seed_all()  # same seed, same weights and inputs: eager, compiled and float64 builds agree
    batch, width, depth = ctx.pick(tiny=(4, 32, 2), small=(256, 1024, 4), medium=(1024, 4096, 4), large=(4096, 8192, 6))
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.GELU()]
    with torch.device(ctx.device):
        model = nn.Sequential(*layers, nn.Linear(width, 10))
        x = torch.randn(batch, width)  # drawn in float32 ...
        y = torch.randint(10, (batch,))  # integer labels stay int64
    # ... then cast, so a float64 build holds the same values
    return model.to(ctx.torch_dtype), x.to(ctx.torch_dtype), y, batch


def build_inference(ctx: BenchContext) -> Workload:
    model, x, _, batch = make_mlp(ctx)
    fwd = ctx.compile(model.eval())  # identity in eager mode

    @torch.no_grad()
    def step() -> torch.Tensor:
        with ctx.autocast():  # bf16 on CUDA by default, no-op otherwise
            return fwd(x).clone()  # clone: CUDA graphs (reduce-overhead) reuse output buffers

    return Workload(step=step, items_per_step=batch, item_unit="samples")


def build_train(ctx: BenchContext) -> Workload:
    model, x, y, batch = make_mlp(ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = ctx.compile(lambda x, y: F.cross_entropy(model(x), y))

    def step() -> torch.Tensor:
        with ctx.autocast():
            loss = loss_fn(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach().clone()  # the value compared between modes

    return Workload(step=step, items_per_step=batch, item_unit="samples")


SUITE = Suite(
    name="mysuite",
    description="MLP classifier: inference and an AdamW training step.",
    benchmarks=(
        Benchmark("mlp_inference", build_inference, "eval-mode forward"),
        Benchmark(
            "mlp_train",
            build_train,
            "forward, cross-entropy, backward, AdamW step",
            tolerance=Tolerance(atol=1e-3, rtol=1e-2),  # a loss after updates: a little more room
            backends=("cpu", "cuda"),  # say where it makes sense to run
        ),
    ),
)
