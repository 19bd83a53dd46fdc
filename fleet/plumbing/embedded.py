"""Stopping the embedded development PostgreSQL (`make stop`), without starting Django.

Django's settings start the embedded server whenever nothing else is configured, so this module
must not import them: it talks to the server's data folder directly.

    python -m fleet.plumbing.embedded status|stop [DATA_DIR]
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".data"


def _running(pgdata: Path) -> int | None:
    """The postmaster's pid if it is alive (postmaster.pid exists while the server runs)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by pgserver's system user
    return pid


def stop(data_dir: Path) -> str:
    pgdata = data_dir / "pg"
    if _running(pgdata) is None:
        return f"the embedded PostgreSQL in {pgdata} is not running"
    # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); it uses /tmp.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # only now: nothing else here needs it

    # Under root, pgserver runs the server as its own system user, "pgserver".
    user = "pgserver" if os.geteuid() == 0 else None
    # pgserver makes its command functions when imported: no static type knows them.
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)  # type: ignore[attr-defined]
    return f"stopped the embedded PostgreSQL in {pgdata}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("status", "stop"):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    data_dir = (
        Path(argv[1]) if len(argv) > 1 else Path(os.environ.get("DATA_DIR", DEFAULT_DATA_DIR))
    )
    if argv[0] == "stop":
        print(stop(data_dir))
        return 0
    pid = _running(data_dir / "pg")
    print(f"running (pid {pid})" if pid else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
