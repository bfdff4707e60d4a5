"""A user suite for the compile-time tests: the smallest train step (forward and lazily compiled
backward) and a forward with a graph break, both quick to compile on a CPU."""

import torch

from perfwatch.suites.base import Benchmark, Suite, Workload


def build_train(ctx):
    ctx.seed_all()
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).to(ctx.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fwd = ctx.compile(model)
    x = torch.randn(4, 8, device=ctx.device)

    def step():
        loss = fwd(x).sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    return Workload(step=step, items_per_step=4, item_unit="samples")


SUITE = Suite(
    name="compiletruth",
    description="test suite: a tiny train step for compile-time tests",
    benchmarks=(Benchmark("train", build_train, "2-layer MLP, forward + backward + SGD"),),
)
