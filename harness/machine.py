"""What this machine has: GPUs, free memory, cores, and each pytest-xdist worker's share of them."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Machine:
    cuda: bool
    gpu_name: str | None
    gpu_memory_gb: float
    memory_gb: float | None   # free memory; None where this machine does not say
    cpu_count: int

    def describe(self) -> str:
        """The machine in a few words, for records."""
        if self.cuda:
            return f"{self.gpu_name} ({self.gpu_memory_gb:.0f} GiB)"
        memory = f", {self.memory_gb:.0f} GiB" if self.memory_gb is not None else ""
        return f"cpu ({platform.processor() or platform.machine()}, {self.cpu_count} cores{memory})"


@dataclass(frozen=True)
class WorkerShare:
    """What one pytest-xdist worker gets of this machine."""

    threads: int                    # torch CPU threads
    gpus: tuple[str, ...] = ()      # CUDA devices it sees (CUDA_VISIBLE_DEVICES); () on a CPU machine

    def describe(self) -> str:
        """The worker's share in a few words, for records."""
        return f"{self.threads} CPU threads" + (f", GPU {','.join(self.gpus)}" if self.gpus else "")


def worker_share(index: int, workers: int, gpus: list[str], cores: int) -> WorkerShare:
    """Worker `index` of `workers`: an equal share of the cores, so torch's threads do not
    spin against each other; with GPUs, devices of its own: an equal disjoint slice when there
    are at least as many GPUs as workers (two workers on 8 GPUs: 0-3 and 4-7, room for
    tensor parallelism), else one GPU each, shared round robin."""
    threads = max(1, cores // max(1, workers))
    if not gpus:
        return WorkerShare(threads)
    if len(gpus) >= workers:
        per = len(gpus) // workers
        return WorkerShare(threads, tuple(gpus[index * per:(index + 1) * per]))
    return WorkerShare(threads, (gpus[index % len(gpus)],))


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, read without initializing CUDA (a worker must
    narrow CUDA_VISIBLE_DEVICES before anything touches the GPU): the variable when set, else
    what nvidia-smi lists; [] without a GPU."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def available_memory_gb() -> float | None:
    """Free memory in GiB: /proc/meminfo, else psutil; None where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.virtual_memory().available / 2**30
    except Exception:  # psutil raises OS-specific errors where memory is hidden
        return None


def gpu_possible() -> bool:
    """Whether torch could see a GPU here, read without importing it: False when
    CUDA_VISIBLE_DEVICES hides every device, on macOS, or where no NVIDIA driver
    (/proc/driver/nvidia, nvidia-smi) and no ROCm device (/dev/kfd) exists."""
    import shutil

    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1") or platform.system() == "Darwin":
        return False
    return (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidiactl")
            or os.path.exists("/dev/kfd") or shutil.which("nvidia-smi") is not None)


@lru_cache(maxsize=1)
def probe() -> Machine:
    """This machine's GPU (torch's view), free memory and cores, read once. Where no GPU can
    exist (`gpu_possible`), torch is not imported to say so: a re-run whose cells are all
    kept (results/memo.py) then never imports it."""
    cuda = False
    if gpu_possible():
        import torch

        cuda = torch.cuda.is_available()
    name, gpu_mem = None, 0.0
    if cuda:
        import torch

        props = torch.cuda.get_device_properties(0)
        name, gpu_mem = props.name, props.total_memory / 2**30
    return Machine(cuda=cuda, gpu_name=name, gpu_memory_gb=gpu_mem, memory_gb=available_memory_gb(),
                   cpu_count=os.cpu_count() or 1)


def machine_key(threads: int | None = None) -> str:
    """This machine in words that stay the same from run to run (no free memory), read without
    importing torch: what throughput measurements are kept under."""
    gpus = visible_gpus()
    key = f"{platform.machine()}, {os.cpu_count() or 1} cores"
    if threads:
        key += f", {threads} threads"
    return key + (f", {len(gpus)} GPU(s)" if gpus else "")


# CPU features that decide which kernels torch, oneDNN and bitsandbytes dispatch to (and so
# the order of their sums): equal weights and prompts can give other low bits where these differ
KERNEL_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_int8", "amx_bf16", "avx_vnni")


def _cpu_info() -> tuple[str | None, list[str]]:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return platform.processor() or None, []
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), None)
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return model, [f for f in KERNEL_FLAGS if f in flags]


def reproducibility(device: str = "cpu", quantized: bool = False) -> dict:
    """What a cell's low bits depend on besides its settings: the CPU and its kernel-relevant
    flags, torch's dispatch level (ATen's CPU capability), the BLAS and oneDNN builds, torch's
    threads, the GPU and CUDA where one computed, bitsandbytes for a quantized variant.
    Recorded in every cell; the baseline gate says which of these differ."""
    import torch

    return _kernels(device, quantized) | {"threads": torch.get_num_threads()}


@lru_cache(maxsize=4)
def _kernels(device: str, quantized: bool) -> dict:
    import re
    from importlib.metadata import PackageNotFoundError, version

    import torch

    model, flags = _cpu_info()
    config = torch.__config__.show()
    out: dict = {"cpu": model, "cpu_flags": flags, "torch": torch.__version__,
                 "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for name, pattern in (("mkl", r"Math Kernel Library Version ([\d.]+)"), ("onednn", r"MKL-DNN (v[\d.]+)")):
        found = re.search(pattern, config)
        out[name] = found.group(1) if found else None
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if isa:
        out["onednn_max_cpu_isa"] = isa
    if device == "cuda" and torch.cuda.is_available():
        out |= {"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version()}
    if quantized:
        try:
            out["bitsandbytes"] = version("bitsandbytes")
        except PackageNotFoundError:
            out["bitsandbytes"] = None
        try:    # bitsandbytes' optional CPU kernels (its 4-bit matmul falls back without them)
            out["kernels"] = version("kernels")
        except PackageNotFoundError:
            out["kernels"] = None
    return out
