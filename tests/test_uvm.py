"""Unified memory on a machine without a GPU: what must hold, and what must be said instead."""

import sys

import pytest

from perfwatch.collectors import uvm
from perfwatch.domain.errors import UsageError
from perfwatch.domain.results import CaseSpec
from perfwatch.measure import allocators


def test_uvm_suite_is_registered_and_cuda_only():
    from perfwatch.suites import available, load_suite

    assert "uvm" in available()
    suite = load_suite("uvm")
    assert suite.names == ("caching", "managed", "managed_prefetch")
    for b in suite.benchmarks:
        assert b.backends == ("cuda",)
        assert b.params == {"allocator": b.name}  # the allocator is part of the series key
        assert b.allocator == b.name  # and declared as data: the worker installs it, not the suite


def test_uvm_suite_is_skipped_on_cpu():
    from perfwatch.domain.config import Config
    from perfwatch.measure.runner import RunRequest, plan

    with pytest.raises(UsageError, match="no benchmark for backend cpu"):
        plan(RunRequest(suite="uvm", backend="cpu", modes=("eager",)), Config())


def test_worker_reports_a_cpu_uvm_case_as_unsupported():
    from perfwatch.domain.results import STATUS_UNSUPPORTED
    from perfwatch.measure.worker import CaseFailed, measure_case

    spec = CaseSpec(suite="uvm", benchmark="managed", mode="eager", backend="cpu", size="tiny",
                    params={"allocator": "managed"})
    with pytest.raises(CaseFailed) as info:
        measure_case(spec)
    assert info.value.status == STATUS_UNSUPPORTED


def test_collector_without_cupti_says_so_and_records_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupti", None)  # import cupti -> ImportError
    with uvm.UvmWatch("cuda") as w:
        pass
    assert w.metrics() == []
    assert w.details()["uvm_status"].startswith("unavailable: cupti-python is not installed")
    assert not uvm.cupti_importable()


def test_collector_on_cpu_is_unavailable():
    with uvm.UvmWatch("cpu") as w:
        pass
    assert w.metrics() == []
    assert "CUDA-only" in w.details()["uvm_status"]


def test_allocator_source_ships_in_the_package():
    src = allocators.SOURCE.read_text()
    assert allocators.SOURCE.parent.name == "measure"
    for symbol in (allocators.MALLOC_FN, allocators.FREE_FN, "perfwatch_uvm_mem_info", "cudaMallocManaged",
                   "cudaMemPrefetchAsync", "cudaMemAdvise", "PERFWATCH_UVM_CAP_BYTES"):
        assert symbol in src


def fake_mem_get_info(free_gib: float, total_gib: float = 80.0):
    return int(free_gib * 2**30), int(total_gib * 2**30)


def test_cap_is_half_the_free_memory_by_default(monkeypatch):
    monkeypatch.delenv("PERFWATCH_UVM_FRACTION", raising=False)
    monkeypatch.delenv("PERFWATCH_UVM_LIMIT_BYTES", raising=False)
    assert allocators.managed_cap_bytes(*fake_mem_get_info(60)) == 30 * 2**30
    # Another tenant holds most of the card: the cap follows what is free, not the total.
    assert allocators.managed_cap_bytes(*fake_mem_get_info(2)) == 1 * 2**30


def test_cap_never_exceeds_free_memory(monkeypatch):
    monkeypatch.delenv("PERFWATCH_UVM_LIMIT_BYTES", raising=False)
    free, total = fake_mem_get_info(10)
    assert allocators.managed_cap_bytes(free, total, fraction=5.0) <= int(free * 0.9)  # clamped
    assert allocators.managed_cap_bytes(free * 4, total) <= total  # a bogus free > total is clamped
    monkeypatch.setenv("PERFWATCH_UVM_FRACTION", "0.25")
    assert allocators.managed_cap_bytes(free, total) == free // 4


def test_limit_lowers_the_cap_and_a_full_card_refuses(monkeypatch):
    monkeypatch.delenv("PERFWATCH_UVM_FRACTION", raising=False)
    free, total = fake_mem_get_info(40)
    assert allocators.managed_cap_bytes(free, total, limit=2**30) == 2**30
    monkeypatch.setenv("PERFWATCH_UVM_LIMIT_BYTES", str(512 << 20))
    assert allocators.managed_cap_bytes(free, total) == 512 << 20
    monkeypatch.delenv("PERFWATCH_UVM_LIMIT_BYTES")
    assert allocators.managed_cap_bytes(*fake_mem_get_info(0.1)) == 0  # 51 MiB < 64 MiB minimum
    assert allocators.managed_cap_bytes(0, total) == 0


def test_install_caching_touches_nothing_and_unknown_kinds_fail():
    assert allocators.install_allocator("caching") == {"allocator": "caching"}
    assert allocators.installed_allocator() is None
    with pytest.raises(allocators.UvmUnavailable, match="unknown allocator"):
        allocators.install_allocator("pinned")


def test_managed_allocator_needs_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CPU-only behaviour is what is tested here")
    with pytest.raises(allocators.UvmUnavailable, match="CUDA is not available"):
        allocators.install_allocator("managed")


def test_managed_benchmarks_state_why_cuda_graph_modes_are_unsupported():
    from perfwatch.suites import load_suite

    suite = load_suite("uvm")
    assert suite.get("caching").unsupported_modes == {}
    for name in ("managed", "managed_prefetch"):
        modes = suite.get(name).unsupported_modes
        assert set(modes) == {"reduce-overhead", "max-autotune"}
        assert all("CUDA graphs" in reason for reason in modes.values())


def test_a_benchmark_declares_only_a_known_allocator():
    from perfwatch.suites.base import Benchmark

    with pytest.raises(ValueError, match="allocator must be one of"):
        Benchmark("b", lambda ctx: None, allocator="pinned")


def test_the_build_pass_installs_the_declared_allocator_on_cuda_only():
    import torch

    from perfwatch.collectors.base import CaseContext
    from perfwatch.collectors.build import install_declared_allocator
    from perfwatch.suites import load_suite

    bench = load_suite("uvm").get("managed")
    spec = CaseSpec(suite="uvm", benchmark="managed", mode="eager", backend="cpu", size="tiny")
    install_declared_allocator(CaseContext(spec, bench))  # not CUDA: nothing to install
    assert allocators.installed_allocator() is None
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CPU-only behaviour is what is tested here")
    with pytest.raises(allocators.UvmUnavailable, match="CUDA is not available"):  # a build failure: case error
        install_declared_allocator(CaseContext(CaseSpec(suite="uvm", benchmark="managed", mode="eager",
                                                        backend="cuda", size="tiny"), bench))


def test_the_uvm_pass_runs_for_benchmarks_that_ask_and_a_missing_cupti_is_a_status(monkeypatch):
    from perfwatch.collectors.base import CaseContext
    from perfwatch.suites import load_suite

    monkeypatch.setitem(sys.modules, "cupti", None)
    spec = CaseSpec(suite="uvm", benchmark="caching", mode="eager", backend="cuda", size="tiny")
    ctx = CaseContext(spec, load_suite("uvm").get("caching"), call=lambda: None)
    collector = uvm.UvmCollector()
    assert collector.applies(ctx) is None
    collector.run(ctx)  # no exception: the case goes on
    assert collector.metrics() == []
    assert "pip install 'perfwatch[uvm]'" in collector.details()["uvm_status"]
    llm = load_suite("llm").get("train")
    assert uvm.UvmCollector().applies(CaseContext(spec, llm)) is not None
