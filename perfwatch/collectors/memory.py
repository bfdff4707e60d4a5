"""Peak memory of a region: the CUDA caching allocator's peaks, the process RSS, or MPS memory.

Runs in its own pass: the CPU and MPS sampling thread wakes every millisecond and takes the
GIL, which would disturb timings.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import LOWER, Metric

_SAMPLE_INTERVAL_S = 0.001
_JOIN_TIMEOUT_S = 1.0
_STATM = "/proc/self/statm"


class _PeakSampler:
    """Daemon thread calling ``read()`` every ~1 ms and keeping the largest values seen.

    ``read`` returns a tuple of byte counts; the peaks are kept element-wise. A failed read stops
    the sampling (recorded in ``error``) instead of killing the thread with a traceback.
    """

    def __init__(self, read: Callable[[], tuple[int, ...]]) -> None:
        self._read = read
        self._stop = threading.Event()
        self.peaks: tuple[int, ...] | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="perfwatch-memory", daemon=True)

    def sample(self) -> None:
        values = self._read()
        if self.peaks is None:
            self.peaks = values
        else:
            self.peaks = tuple(max(a, b) for a, b in zip(self.peaks, values))

    def _loop(self) -> None:
        while not self._stop.wait(_SAMPLE_INTERVAL_S):
            try:
                self.sample()
            except (OSError, RuntimeError) as e:  # /proc vanished, torch refused: stop quietly
                self.error = f"sampling stopped: {e}"
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT_S)


class _StatmReader:
    """RSS in bytes from /proc/self/statm, kept open: a pread per sample is cheap."""

    def __init__(self) -> None:
        self._fd = os.open(_STATM, os.O_RDONLY)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __call__(self) -> tuple[int]:
        fields = os.pread(self._fd, 256, 0).split()
        return (int(fields[1]) * self._page,)  # second field: resident pages

    def close(self) -> None:
        os.close(self._fd)


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where refused.

    Writing "5" to clear_refs (Linux >= 4.0) touches nothing but that mark. It makes the peak
    exact, even for a spike between two samples or while the main thread holds the GIL.
    It also lowers what getrusage(ru_maxrss) reports for this process from then on.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _read_hwm() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        return None
    return None


class MemoryWatch:
    """Peak memory while the ``with`` block runs, on ``device`` ("cpu", "cuda[:n]", "mps").

    Metrics (bytes, lower is better): cuda ``peak_memory_allocated``/``peak_memory_reserved``;
    cpu ``peak_rss``/``rss_increase``; mps ``peak_mps_driver_allocated``/``peak_mps_allocated``.
    What cannot be measured is explained in ``details()['memory_status']``, with no metric.
    """

    name = "memory"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._kind = device.split(":", 1)[0]
        self._metrics: list[Metric] = []
        self._details: dict = {"memory_device": device}
        self._sampler: _PeakSampler | None = None
        self._statm: _StatmReader | None = None
        self._active = False  # False when enter found nothing it can measure
        self._torch_device = None  # cuda: the torch.device measured
        self._rss_enter = 0  # cpu: RSS at enter, the baseline of rss_increase
        self._hwm_reset = False  # cpu: VmHWM was reset at enter, so it is this region's peak

    # -- protocol ----------------------------------------------------------------------------

    def __enter__(self) -> "MemoryWatch":
        self._metrics = []
        self._details = {"memory_device": self.device}
        self._hwm_reset = False
        enter = {"cpu": self._enter_cpu, "cuda": self._enter_cuda, "mps": self._enter_mps}
        if self._kind in enter:
            enter[self._kind]()
        else:
            self._status(f"no memory measurement for device {self.device!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        # Stop the thread first, whatever happens next: it must never outlive the region.
        if self._sampler is not None:
            self._sampler.stop()
        failed = exc[0] is not None
        exit_ = {"cpu": self._exit_cpu, "cuda": self._exit_cuda, "mps": self._exit_mps}
        try:
            if self._active:
                exit_[self._kind](failed)
        except RuntimeError as e:
            if not failed:
                raise
            # Never replace the region's own exception with a follow-up device error.
            self._status(f"not measured: reading memory after the failed region raised {e}")
        finally:
            self._close_statm()
            self._sampler = None

    def metrics(self) -> list[Metric]:
        return list(self._metrics)

    def details(self) -> dict:
        return dict(self._details)

    # -- helpers -----------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self._details["memory_status"] = text
        self._active = False

    def _add(self, name: str, value: int) -> None:
        self._metrics.append(Metric(name=name, value=float(value), unit="bytes", direction=LOWER))

    # -- cuda: the caching allocator's own peak counters --------------------------------------

    def _enter_cuda(self) -> None:
        import torch

        if not torch.cuda.is_available():
            self._status("CUDA is not available: no GPU memory measured")
            return
        self._torch_device = torch.device(self.device)
        torch.cuda.synchronize(self._torch_device)
        try:
            torch.cuda.memory_allocated(self._torch_device)  # probes the allocator's stats
            torch.cuda.reset_peak_memory_stats(self._torch_device)
        except RuntimeError as e:
            # A pluggable allocator (e.g. RMM) has no statistics: "CUDAPluggableAllocator does
            # not yet support getDeviceStats".
            self._status(f"the CUDA allocator keeps no memory statistics ({e}); none measured")
            return
        self._active = True

    def _exit_cuda(self, failed: bool) -> None:
        import torch

        # After an error in the region (maybe a sticky CUDA error) a synchronize would raise
        # anew and hide it; the peaks are host-side counters and need no sync to be read.
        if not failed:
            torch.cuda.synchronize(self._torch_device)
        self._add("peak_memory_allocated", torch.cuda.max_memory_allocated(self._torch_device))
        self._add("peak_memory_reserved", torch.cuda.max_memory_reserved(self._torch_device))

    # -- cpu: resident set size -------------------------------------------------------------

    def _enter_cpu(self) -> None:
        read: Callable[[], tuple[int, ...]] | None = None
        if os.path.exists(_STATM):
            self._statm = _StatmReader()
            read = self._statm
            self._details["rss_method"] = "/proc/self/statm sampled every 1 ms"
            self._hwm_reset = _reset_hwm()
            if self._hwm_reset:
                self._details["rss_method"] += " + VmHWM (reset at enter)"
        else:
            try:
                import psutil  # optional

                process = psutil.Process()
                read = lambda: (int(process.memory_info().rss),)  # noqa: E731
                self._details["rss_method"] = "psutil sampled every 1 ms"
            except ImportError:
                pass
        if read is None:
            # Last resort: the lifetime peak, which only shows regions that set a new record.
            try:
                import resource  # noqa: F401  (POSIX only)
            except ImportError:
                self._status("no /proc, psutil or resource module: RSS not measured")
                return
            self._details["rss_method"] = "getrusage ru_maxrss (lifetime peak of the process)"
            self._details["memory_status"] = (
                "no /proc and no psutil: peak_rss is the process's lifetime peak, "
                "rss_increase not measured"
            )
            self._active = True
            return
        self._sampler = _PeakSampler(read)
        self._sampler.sample()  # the RSS at enter, also the baseline for rss_increase
        self._rss_enter = self._sampler.peaks[0]
        self._sampler.start()
        self._active = True

    def _close_statm(self) -> None:
        if self._statm is not None:
            self._statm.close()
            self._statm = None

    def _exit_cpu(self, failed: bool) -> None:
        if self._sampler is None:
            import resource

            usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # ru_maxrss is in bytes on macOS, in kB elsewhere.
            self._add("peak_rss", usage if sys.platform == "darwin" else usage * 1024)
            return
        self._sampler.sample()  # the RSS at exit
        peak = self._sampler.peaks[0]
        if self._sampler.error:
            self._details["memory_status"] = self._sampler.error
        if self._hwm_reset:
            hwm = _read_hwm()
            if hwm is not None:
                peak = max(peak, hwm)
        self._details["rss_at_enter"] = self._rss_enter
        self._add("peak_rss", peak)
        self._add("rss_increase", max(0, peak - self._rss_enter))

    # -- mps: Metal driver and MPS allocator memory ------------------------------------------

    def _enter_mps(self) -> None:
        import torch

        if not torch.backends.mps.is_available():
            self._status("MPS is not available: no GPU memory measured")
            return
        torch.mps.synchronize()
        mps = torch.mps
        self._sampler = _PeakSampler(
            lambda: (int(mps.driver_allocated_memory()), int(mps.current_allocated_memory()))
        )
        self._sampler.sample()
        self._sampler.start()
        self._active = True

    def _exit_mps(self, failed: bool) -> None:
        import torch

        if not failed:
            torch.mps.synchronize()
        self._sampler.sample()
        driver, allocated = self._sampler.peaks
        self._add("peak_mps_driver_allocated", driver)
        self._add("peak_mps_allocated", allocated)


class MemoryCollector(Collector):
    """The worker's memory pass: ``STEPS`` steps of the timed build inside a ``MemoryWatch``,
    apart from timing (the sampling thread would perturb it)."""

    name = "memory"
    produces = ("peak_memory_allocated", "peak_memory_reserved", "peak_rss", "rss_increase",
                "peak_mps_driver_allocated", "peak_mps_allocated")
    STEPS = 3

    def run(self, ctx: CaseContext) -> None:
        with MemoryWatch(ctx.spec.backend) as watch:
            for _ in range(self.STEPS):
                ctx.call()
        self._metrics, self._details = watch.metrics(), watch.details()
