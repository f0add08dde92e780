"""Hostile programs in the sandbox: each comes back failed with a reason, nothing outside
its folder is touched, and the next program runs as usual."""

import os
import subprocess

import pytest

from harness.kinds.code.sandbox import Limits, Sandbox, SandboxRefused

LIMITS = Limits(timeout=4, cpu_seconds=2, memory_bytes=512 << 20, processes=16, output_bytes=256 << 10)


@pytest.fixture(scope="module")
def sandbox():
    try:
        return Sandbox(LIMITS)
    except SandboxRefused as e:   # pragma: no cover - depends on the kernel
        pytest.skip(str(e))


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A folder the program must not touch, and a secret in the harness's environment."""
    (tmp_path / "keep.txt").write_text("untouched")
    monkeypatch.setenv("LLAMA_TEST_SECRET", "hunter2")
    return tmp_path


HOSTILE = {
    "infinite loop": ("while True:\n    pass\n", "CPU time over 2 s"),
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                  ("timed out after 4 s", "CPU time over 2 s")),
    "50 GB": ("block = bytearray(50 * 2**30)\n", "MemoryError"),
    "write outside": ("open({keep!r}, 'w').write('owned')\n", ("Read-only file system", "Permission denied")),
    "new file outside": ("open({new!r}, 'w').write('owned')\n", ("Read-only file system", "Permission denied")),
    "write to /tmp": ("open('/tmp/llama-sandbox-escape', 'w').write('owned')\n", "Read-only file system"),
    "secret": ("import os\nprint(os.environ['LLAMA_TEST_SECRET'])\n", "KeyError: 'LLAMA_TEST_SECRET'"),
    "socket": ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n", "Network is unreachable"),
    "1 GB to stdout": ("import sys\nblock = b'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.buffer.write(block)\n",
                       "output over 256 KiB"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_fails_with_its_reason_and_touches_nothing(sandbox, outside, name):
    code, reason = HOSTILE[name]
    program = code.format(keep=str(outside / "keep.txt"), new=str(outside / "new.txt"))
    outcome = sandbox.run(program)
    assert not outcome.passed
    reasons = reason if isinstance(reason, tuple) else (reason,)
    assert outcome.reason.startswith("failed: ") and any(r in outcome.reason for r in reasons), outcome.reason
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "untouched"
    assert "hunter2" not in outcome.output
    assert sandbox.run("print(6 * 7)").output == "42\n"          # the run goes on


def test_killing_its_parent_reaches_nothing_of_the_harness(sandbox):
    outcome = sandbox.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                          "import time\ntime.sleep(0.2)\nprint('still here')\n")
    if os.geteuid() == 0:      # the program runs as nobody; its parent, as root, refuses it
        assert outcome.reason.startswith("failed: PermissionError"), outcome.reason
    else:                      # its parent is the namespace's init, which the kernel shields
        assert "still here" in outcome.output
    assert sandbox.run("print('next')").output == "next\n"


def test_nothing_is_left_running(sandbox):
    sandbox.run("import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        os.setsid()\n"
                "        time.sleep(600)\ntime.sleep(600)\n")
    left = subprocess.run(["pgrep", "-f", "time.sleep\\(600\\)"], capture_output=True, text=True).stdout
    assert not left.strip()


def test_a_passing_program_passes_in_a_fresh_folder_with_an_empty_environment(sandbox):
    outcome = sandbox.run("import os\nassert os.listdir('.') == ['program.py'], os.listdir('.')\n"
                          "assert set(os.environ) <= {'LC_CTYPE'}, dict(os.environ)   # Python's own locale coercion\nopen('scratch', 'w').write('ok')\n")
    assert outcome.passed, outcome.output
    assert outcome.reason == "passed"


def test_unknown_risk_is_refused():
    with pytest.raises(ValueError, match="unknown sandbox risk"):
        Sandbox(LIMITS, accept_risks=("network", "gpu"))


def test_a_kernel_without_namespaces_refuses_unless_the_risk_is_accepted(monkeypatch):
    """Namespaces refused (as in some containers): no program runs unless the spec accepts."""
    import harness.kinds.code.sandbox as sb

    real = sb.Sandbox._start

    def no_namespaces(self, program, isolate):
        if isolate:
            from harness.kinds.code.sandbox import Outcome
            return Outcome(False, "failed: sandbox: the kernel refused new namespaces", 0.0,
                           "sandbox: the kernel refused new namespaces (Operation not permitted)")
        return real(self, program, isolate)

    monkeypatch.setattr(sb.Sandbox, "_start", no_namespaces)
    with pytest.raises(SandboxRefused, match="refused new namespaces"):
        Sandbox(LIMITS)
    accepted = Sandbox(LIMITS, accept_risks=("network", "filesystem"))
    assert accepted.isolate == ()
    assert "network NOT isolated (risk accepted)" in accepted.description
