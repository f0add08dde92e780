"""Running model-written programs, each in its own confined process.

The harness never imports or executes a program itself: it writes it to a fresh folder
and starts `sandbox_init.py` on it in a new session with an empty environment. That
launcher puts the program in new PID, mount, IPC and network namespaces, on a small tmpfs
with every other mount read-only, under limits on CPU time, address space, file size and
process count, and as nobody when the harness runs as root. Here the harness adds a
wall-clock timeout (the whole process group killed after it) and a cap on output.

What the kernel refuses is found once, by a probe, and then the sandbox refuses to run
unless the spec accepted that risk by name (`network`, `filesystem`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LAUNCHER = Path(__file__).with_name("sandbox_init.py")
RISKS = ("network", "filesystem")
REFUSED = 125


class SandboxRefused(Exception):
    """The kernel cannot confine programs as asked, and the spec did not accept the risk."""


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0              # wall-clock seconds, then the process group is killed
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30        # address space
    file_bytes: int = 16 << 20         # largest file it may write
    work_bytes: int = 64 << 20         # size of its tmpfs work folder
    processes: int = 16
    output_bytes: int = 1 << 20        # stdout and stderr together


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str                        # "passed", or "failed: <why>"
    seconds: float
    output: str = field(default="", repr=False)   # the first Limits.output_bytes of stdout+stderr


class _Capped:
    """Reads a pipe to its end, keeping the first `cap` bytes; calls `over` once past it."""

    def __init__(self, pipe, cap: int, over) -> None:
        self.data = bytearray()
        self.total = 0
        self._pipe, self._cap, self._over = pipe, cap, over
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while chunk := self._pipe.read(65536):
            self.total += len(chunk)
            if len(self.data) < self._cap:
                self.data += chunk[: self._cap - len(self.data)]
            if self.total > self._cap:
                self._over()
                break
        self._pipe.close()


def _last_error(stderr: str) -> str | None:
    """'ZeroDivisionError: division by zero' from a traceback's last line."""
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("sandbox: "):
            continue
        m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)|AssertionError)\b:?\s*(.*)$", line)
        if m:
            return f"{m.group(1)}: {m.group(2)}".rstrip(": ")[:200]
        break
    return None


class Sandbox:
    """Runs Python programs one at a time, each confined; see the module's docstring."""

    def __init__(self, limits: Limits = Limits(), accept_risks: tuple[str, ...] = (),
                 python: str | None = None) -> None:
        unknown = set(accept_risks) - set(RISKS)
        if unknown:
            raise ValueError(f"unknown sandbox risk(s) {sorted(unknown)}; the risks are {list(RISKS)}")
        # the base interpreter, not a virtual environment's: programs get the standard library only
        self.python = python or os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        self.prefix = os.path.realpath(sys.base_prefix)
        self.limits = limits
        self.accepted = tuple(accept_risks)
        self.isolate = self._probe()

    @property
    def description(self) -> str:
        """What confines a program here, in words, for the record."""
        missing = [r for r in RISKS if r not in self.isolate]
        who = "nobody" if os.geteuid() == 0 else "the caller's uid in a user namespace"
        lim = self.limits
        return (f"subprocess per program as {who}; PID and IPC namespaces"
                + "".join(f", {r} isolated" for r in self.isolate)
                + "".join(f", {r} NOT isolated (risk accepted)" for r in missing)
                + f"; limits: {lim.timeout:g} s wall, {lim.cpu_seconds} s CPU, {lim.memory_bytes >> 20} MiB address "
                  f"space, {lim.file_bytes >> 20} MiB per file, {lim.processes} processes, "
                  f"{lim.output_bytes >> 10} KiB output")

    def _probe(self) -> tuple[str, ...]:
        """The confinements this kernel grants: all, or those not accepted as risks."""
        first = self._start("pass", RISKS)
        if first.passed:
            return RISKS
        refused = first.output.strip().splitlines()[-1] if first.output.strip() else first.reason
        fallback = tuple(r for r in RISKS if r not in self.accepted)
        if fallback != RISKS:
            again = self._start("pass", fallback)
            if again.passed:
                return fallback
        raise SandboxRefused(f"cannot sandbox model-written code here: {refused}")

    def run(self, program: str) -> Outcome:
        """Run one program confined; its outcome."""
        return self._start(program, self.isolate)

    def _start(self, program: str, isolate: tuple[str, ...]) -> Outcome:
        import json

        lim = self.limits
        work = Path(tempfile.mkdtemp(prefix="llama-sandbox-"))
        try:
            (work / "program.py").write_text(program)
            cfg = {"work": str(work), "isolate": list(isolate), "python": self.python, "prefix": self.prefix,
                   "cpu_seconds": lim.cpu_seconds, "memory_bytes": lim.memory_bytes,
                   "file_bytes": lim.file_bytes, "work_bytes": lim.work_bytes, "processes": lim.processes}
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", str(LAUNCHER), json.dumps(cfg)],
                                    cwd=work, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            flooded = threading.Event()

            def kill() -> None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            def over() -> None:
                flooded.set()
                kill()

            out = _Capped(proc.stdout, lim.output_bytes, over)
            try:
                code = proc.wait(timeout=lim.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                kill()
                code = proc.wait()
                timed_out = True
            kill()   # anything the program left in its group
            out.thread.join(timeout=5)
            seconds = time.perf_counter() - started
            text = bytes(out.data).decode("utf-8", "replace")
            return Outcome(code == 0 and not timed_out and not flooded.is_set(),
                           _reason(code, timed_out, flooded.is_set(), text, lim), seconds, text)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _reason(code: int, timed_out: bool, flooded: bool, text: str, lim: Limits) -> str:
    if timed_out:
        return f"failed: timed out after {lim.timeout:g} s"
    if flooded:
        return f"failed: output over {lim.output_bytes >> 10} KiB"
    if code == 0:
        return "passed"
    if code == REFUSED and "sandbox: " in text:
        return "failed: " + text[text.rindex("sandbox: "):].strip()
    if code > 128 or code < 0:
        sig = code - 128 if code > 128 else -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        why = {"SIGXCPU": f"CPU time over {lim.cpu_seconds} s", "SIGKILL": "killed (SIGKILL)",
               "SIGXFSZ": f"a file over {lim.file_bytes >> 20} MiB"}.get(name, f"killed by {name}")
        return f"failed: {why}"
    return f"failed: {_last_error(text) or f'exit status {code}'}"
