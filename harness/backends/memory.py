"""Peak memory over a block of work: process RSS (sampled) and, on a GPU, the allocator's peak."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil


@dataclass
class Peak:
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    gpu_peak_mb: float | None = None

    @property
    def rss_growth_mb(self) -> float:
        """How far RSS rose above where it started."""
        return self.rss_peak_mb - self.rss_start_mb


class PeakMemory:
    """`with PeakMemory() as peak:` samples RSS every `interval_s` on a daemon thread.

    RSS is what the operating system charges the process, so it counts torch's CPU
    allocations, bitsandbytes buffers and Python objects alike. Sampling can miss a spike
    shorter than the interval; the reading at exit is always included.
    """

    def __init__(self, interval_s: float = 0.005, cuda: bool = False):
        self.interval_s = interval_s
        self.cuda = cuda
        self.peak = Peak()
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss_mb(self) -> float:
        return self._proc.memory_info().rss / 2**20

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak.rss_peak_mb = max(self.peak.rss_peak_mb, self._rss_mb())

    def __enter__(self) -> Peak:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.peak.rss_start_mb = self.peak.rss_peak_mb = self._rss_mb()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self.peak

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak.rss_peak_mb = max(self.peak.rss_peak_mb, self._rss_mb())
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak.gpu_peak_mb = torch.cuda.max_memory_allocated() / 2**20

