"""What every part of the orchestrator shares: where things are, the log line, the subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / "bench"
BIN = Path(sys.executable).parent


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_python(env: dict[str, str], what: str, *args: str) -> str:
    """Run the venv's Python in the project (stdout back); stop the bench if it fails."""
    done = subprocess.run(
        [str(BIN / "python"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def minute_now() -> int:
    return int(time.time()) // 60 * 60
