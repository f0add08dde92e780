"""How every benchmark ends when its run fails: one line that says what failed, exit code 1,
no traceback (a benchmark's failure is a finding to read, not a crash to debug).

    if __name__ == "__main__":
        guarded(main)

`LLAMA_BENCH_TRACEBACK=1` keeps the traceback for whoever is debugging the benchmark itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable


class BenchmarkFailed(RuntimeError):
    """A run inside a benchmark did not do what the benchmark needs; the message says what."""


def guarded(main: Callable[[], object]) -> None:
    """Run a benchmark's main; a failure prints `<name>: FAILED: <why>` and exits 1."""
    name = Path(sys.argv[0]).name
    try:
        code = main()
    except KeyboardInterrupt:
        sys.exit(f"{name}: interrupted")
    except SystemExit:
        raise
    except Exception as exc:   # noqa: BLE001 - every failure becomes one line
        if os.environ.get("LLAMA_BENCH_TRACEBACK"):
            raise
        print(f"{name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
