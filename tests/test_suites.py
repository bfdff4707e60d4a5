"""The built-in suites, run for real on CPU at size "tiny"."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from perfwatch.suites import BUILTIN, load_suite  # noqa: E402
from perfwatch.suites.base import SIZES, BenchContext, Benchmark, Workload  # noqa: E402
from perfwatch.suites.models import GPT, GPTConfig  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "my_suite.py")

CASES = [(s, b.name) for s in BUILTIN for b in load_suite(s).benchmarks]
IDS = [f"{s}/{b}" for s, b in CASES]


class StrictContext(BenchContext):
    """A context whose pick() insists on a value for every size."""

    def pick(self, **by_size):
        assert set(by_size) == set(SIZES), f"pick() without all sizes: {sorted(by_size)}"
        return super().pick(**by_size)


def ctx_for(bench: Benchmark, cls=BenchContext, **kw) -> BenchContext:
    kw.setdefault("params", dict(bench.params))
    return cls(**kw)


def tensors(out) -> list:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in out for t in tensors(o)]


def first_output(bench: Benchmark, **kw):
    return bench.build(ctx_for(bench, **kw)).step()


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    # Benchmarks share code objects across builds; start every test from an empty cache.
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_registry_and_metadata():
    for name in BUILTIN:
        suite = load_suite(name)
        assert suite.name == name
        assert len(set(suite.names)) == len(suite.names)
        for bench in suite.benchmarks:
            json.dumps(dict(bench.params))
    example = load_suite(EXAMPLE)
    assert example.names == ("mlp_inference", "mlp_train")


@pytest.mark.parametrize("suite,name", CASES, ids=IDS)
def test_builds_and_steps_eager(suite, name):
    bench = load_suite(suite).get(name)
    work = bench.build(ctx_for(bench, StrictContext))
    assert isinstance(work, Workload)
    assert work.items_per_step > 0 and work.item_unit
    for _ in range(3):
        outs = tensors(work.step())
        assert outs and all(torch.isfinite(t).all() for t in outs)


@pytest.mark.parametrize("suite,name", CASES, ids=IDS)
def test_same_seed_same_first_output(suite, name):
    bench = load_suite(suite).get(name)
    a, b = tensors(first_output(bench)), tensors(first_output(bench))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    other = tensors(first_output(bench, seed=1))
    assert not all(torch.equal(x, y) for x, y in zip(a, other))


@pytest.mark.parametrize("suite,name", CASES, ids=IDS)
def test_float64_build(suite, name):
    bench = load_suite(suite).get(name)
    if not bench.fp64_reference:
        pytest.skip("no float64 reference")
    work64 = bench.build(ctx_for(bench, dtype=torch.float64))
    work32 = bench.build(ctx_for(bench))
    for _ in range(2):  # the steps the worker compares
        out64, out32 = tensors(work64.step()), tensors(work32.step())
        for t64, t32 in zip(out64, out32):
            assert t64.dtype == torch.float64
            # Same weights and inputs, so float32 is float64 up to rounding.
            torch.testing.assert_close(t32.double(), t64, atol=1e-3, rtol=1e-3)


def test_example_suite_steps():
    for bench in load_suite(EXAMPLE).benchmarks:
        work = bench.build(ctx_for(bench, StrictContext))
        assert all(torch.isfinite(t).all() for t in tensors(work.step()))


def test_pick_sizes():
    values = dict(tiny=1, small=2, medium=3, large=4)
    for i, size in enumerate(SIZES):
        assert BenchContext(size=size).pick(**values) == i + 1
    # Missing sizes fall back to the nearest smaller one.
    assert BenchContext(size="large").pick(tiny=1, small=2) == 2


def test_kv_cache_decode_matches_full_forward():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, max_seq=16)
    model = GPT(cfg).eval()
    tokens = torch.randint(cfg.vocab_size, (2, 12))
    prompt = 5
    with torch.no_grad():
        full = model(tokens)
        model.setup_cache(batch=2)
        steps = [model(tokens[:, :prompt], torch.arange(prompt))]
        for t in range(prompt, tokens.shape[1]):
            steps.append(model(tokens[:, t : t + 1], torch.tensor([t])))
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)


def _compiles() -> int:
    return len(torch._dynamo.utils.get_compilation_metrics())


def _eager_backend_ctx(bench: Benchmark) -> BenchContext:
    # Dynamo without Inductor: traces, guards and graph breaks as usual, in about a second.
    return ctx_for(bench, mode="default", compile_options={"backend": "eager"})


def test_kv_cache_decode_compiles_once():
    bench = load_suite("llm").get("inference")
    eager = bench.build(ctx_for(bench)).step()
    torch._dynamo.utils.clear_compilation_metrics()
    work = bench.build(_eager_backend_ctx(bench))
    torch.testing.assert_close(work.step(), eager)
    after_first = _compiles()
    work.step()
    # One graph for the prefill shape and one for the decode shape; every decode position
    # reuses the latter.
    assert after_first <= 2 and _compiles() == after_first


def test_graph_break_is_reported():
    bench = load_suite("dynamic").get("graph_break")
    torch._dynamo.utils.clear_compilation_metrics()
    work = bench.build(_eager_backend_ctx(bench))
    first, second = work.step(), work.step()  # x, then -x: both branches
    metrics = torch._dynamo.utils.get_compilation_metrics()
    # Dynamo broke the graph at the branch: the code after it was compiled as a resume
    # function, once per branch taken.
    resumes = [m for m in metrics if m.co_name.startswith("torch_dynamo_resume")]
    assert len(resumes) == 2
    ref = bench.build(ctx_for(bench))
    torch.testing.assert_close(first, ref.step())
    torch.testing.assert_close(second, ref.step())


@pytest.mark.slow
def test_varlen_recompiles_static_not_dynamic():
    suite = load_suite("dynamic")
    counts = {}
    for name in ("varlen_static", "varlen_dynamic"):
        torch._dynamo.reset()
        torch._dynamo.utils.clear_compilation_metrics()
        bench = suite.get(name)
        work = bench.build(ctx_for(bench, mode="default"))
        for _ in range(len(work.notes["lengths"])):
            work.step()
        counts[name] = _compiles()
    assert counts["varlen_static"] > 1
    assert counts["varlen_dynamic"] < counts["varlen_static"]
