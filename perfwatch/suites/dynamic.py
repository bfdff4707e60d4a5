"""Dynamic suite: what changing shapes and graph breaks cost under torch.compile.

``varlen_static`` / ``varlen_dynamic`` run the same transformer block over a sequence length
that cycles through five values; with ``dynamic=False`` each new length is a recompile, with
``dynamic=True`` one shape-generic graph serves all of them. Five stays under dynamo's
recompile limit (8), so the static variant never falls back to eager.
``graph_break`` branches in Python on a tensor's value, which dynamo cannot trace through.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Workload
from perfwatch.suites.models import Block, GPTConfig

N_LENGTHS = 5


def build_varlen(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    s = ctx.pick(
        tiny=dict(batch=2, base=8, d=32, heads=2, layers=1),
        small=dict(batch=16, base=128, d=256, heads=4, layers=2),
        medium=dict(batch=16, base=256, d=512, heads=8, layers=4),
        large=dict(batch=8, base=512, d=1024, heads=16, layers=4),
    )
    # Block only reads d_model, n_heads and mlp_ratio; vocab/max_seq are unused here.
    cfg = GPTConfig(vocab_size=1, d_model=s["d"], n_layers=s["layers"], n_heads=s["heads"], max_seq=1)
    lengths = [s["base"] * k // 4 for k in range(4, 4 + N_LENGTHS)]  # base, 1.25*base, ...
    with torch.device(ctx.device):
        model = nn.Sequential(*(Block(cfg) for _ in range(cfg.n_layers)), nn.LayerNorm(cfg.d_model))
        # One input per length, made up front, so call i always sees the same data and shape.
        inputs = [torch.randn(s["batch"], n, cfg.d_model) for n in lengths]
    model = model.to(ctx.torch_dtype).eval()
    inputs = [x.to(ctx.torch_dtype) for x in inputs]
    fwd = ctx.compile(model)  # params["dynamic"] is applied by ctx.compile
    calls = 0

    @torch.no_grad()
    def step() -> torch.Tensor:
        nonlocal calls
        x = inputs[calls % N_LENGTHS]
        calls += 1
        with ctx.autocast():
            return fwd(x).clone()  # clone: CUDA graphs reuse output buffers

    return Workload(
        step=step,
        items_per_step=s["batch"] * sum(lengths) / N_LENGTHS,  # mean over the cycle
        item_unit="tokens",
        notes={"lengths": lengths},
    )


class _Branchy(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.inp = nn.Linear(d, d, bias=False)  # no bias: inp(-x) == -inp(x), see build
        self.a = nn.Linear(d, d)
        self.b = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        if h.sum() > 0:  # data-dependent Python branch: a graph break on every call
            h = self.a(F.gelu(h))
        else:
            h = self.b(torch.tanh(h))
        return self.out(F.layer_norm(h, h.shape[-1:]))


def build_graph_break(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    batch, d = ctx.pick(tiny=(4, 32), small=(256, 1024), medium=(1024, 2048), large=(4096, 4096))
    with torch.device(ctx.device):
        model = _Branchy(d)
        x = torch.randn(batch, d)
    model = model.to(ctx.torch_dtype).eval()
    x = x.to(ctx.torch_dtype)
    # x and -x alternate; the first layer is linear without bias, so the branch condition
    # flips sign and both branches run within the first two (accuracy-checked) calls.
    inputs = (x, -x)
    fwd = ctx.compile(model)
    calls = 0

    @torch.no_grad()
    def step() -> torch.Tensor:
        nonlocal calls
        xi = inputs[calls % 2]
        calls += 1
        with ctx.autocast():
            return fwd(xi).clone()

    return Workload(step=step, items_per_step=batch, item_unit="samples")


SUITE = Suite(
    name="dynamic",
    description="Recompiles on changing sequence lengths (static vs dynamic shapes) and graph breaks.",
    benchmarks=(
        Benchmark(
            "varlen_static",
            build_varlen,
            "transformer block over 5 cycling sequence lengths, dynamic=False (a graph per length)",
            params={"dynamic": False},
        ),
        Benchmark(
            "varlen_dynamic",
            build_varlen,
            "transformer block over 5 cycling sequence lengths, dynamic=True (one symbolic graph)",
            params={"dynamic": True},
        ),
        Benchmark("graph_break", build_graph_break, "Python branch on a tensor value: a graph break every call"),
    ),
)
