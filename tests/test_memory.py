"""MemoryWatch on this (CPU) machine; CUDA and MPS paths through stand-ins for torch calls."""

from __future__ import annotations

import threading

import pytest
import torch

from perfwatch.collectors import memory
from perfwatch.collectors.memory import MemoryWatch
from perfwatch.domain.results import LOWER

MB = 1024 * 1024
TENSOR_BYTES = 200 * MB


def _alloc_and_free() -> None:
    t = torch.ones(TENSOR_BYTES // 4, dtype=torch.float32)  # ones: pages are touched
    assert float(t[-1]) == 1.0
    del t


def _by_name(watch: MemoryWatch) -> dict:
    return {m.name: m for m in watch.metrics()}


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "perfwatch-memory"]


@pytest.mark.parametrize("use_hwm", [True, False], ids=["hwm", "sampling-only"])
def test_cpu_sees_peak_of_freed_tensor(monkeypatch, use_hwm):
    if not use_hwm:
        monkeypatch.setattr(memory, "_reset_hwm", lambda: False)
    with MemoryWatch("cpu") as watch:
        _alloc_and_free()
    metrics = _by_name(watch)
    assert set(metrics) == {"peak_rss", "rss_increase"}
    assert metrics["rss_increase"].value >= 0.8 * TENSOR_BYTES
    assert metrics["peak_rss"].value >= metrics["rss_increase"].value
    assert "memory_status" not in watch.details()
    assert ("VmHWM" in watch.details()["rss_method"]) == use_hwm


def test_metrics_have_units_and_directions():
    with MemoryWatch("cpu") as watch:
        pass
    assert watch.metrics()
    for m in watch.metrics():
        assert m.unit == "bytes"
        assert m.direction == LOWER


def test_thread_stops_on_exception():
    with pytest.raises(ValueError):
        with MemoryWatch("cpu") as watch:
            assert _sampler_threads() and all(t.daemon for t in _sampler_threads())
            raise ValueError("boom")
    assert not _sampler_threads()
    assert _by_name(watch)["peak_rss"].value > 0  # still measured


def test_unavailable_devices_report_status_not_zero():
    for device in ("cuda", "mps", "xla:0"):
        if device == "cuda" and torch.cuda.is_available():
            continue
        if device == "mps" and torch.backends.mps.is_available():
            continue
        with MemoryWatch(device) as watch:
            pass
        assert watch.metrics() == []
        assert watch.details()["memory_status"]


def test_cuda_pluggable_allocator_without_stats(monkeypatch):
    def no_stats(*args, **kwargs):
        raise RuntimeError("CUDAPluggableAllocator does not yet support getDeviceStats.")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", no_stats)
    with MemoryWatch("cuda:0") as watch:
        pass
    assert watch.metrics() == []
    assert "getDeviceStats" in watch.details()["memory_status"]


def test_cuda_peaks_are_read(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 0)
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset")
    )
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 123)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 456)
    with MemoryWatch("cuda") as watch:
        pass
    assert calls == ["sync", "reset", "sync"]
    metrics = _by_name(watch)
    assert metrics["peak_memory_allocated"].value == 123
    assert metrics["peak_memory_reserved"].value == 456


def test_mps_peak_sampled(monkeypatch):
    driver = iter([100, 900, 900] + [300] * 100_000)  # peak seen while the region runs
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "synchronize", lambda: None)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: next(driver))
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: 50)
    with MemoryWatch("mps") as watch:
        pass
    metrics = _by_name(watch)
    assert metrics["peak_mps_driver_allocated"].value == 900
    assert metrics["peak_mps_allocated"].value == 50
    assert not _sampler_threads()
