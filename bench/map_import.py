"""How long a 10,000-row map import takes through the admin's resource (a dry run: the import
runs in a transaction that is rolled back, so the database is left as it was).

    PYTHONPATH=. .venv/bin/python bench/map_import.py [ROWS]
"""

from __future__ import annotations

import os
import sys
import time

from bench import app


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", app.SETTINGS)
    import django

    django.setup()
    import tablib

    map_resource = app.resolve(app.MAP_RESOURCE)

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    dataset = tablib.Dataset(
        *[(f"BENCHV{i:06d}", f"BENCHM{i:06d}", "2026-03-01T00:00:00Z", "") for i in range(rows)],
        headers=["vehicle", "meter", "valid_from", "valid_to"],
    )
    started = time.perf_counter()
    result = map_resource().import_data(dataset, dry_run=True, use_transactions=True)
    elapsed = time.perf_counter() - started
    print(
        f"{rows} rows validated and applied (then rolled back) in {elapsed:.2f} s; "
        f"new={result.totals['new']} invalid={result.totals['invalid']} "
        f"errors={len(result.base_errors) + len(result.row_errors())}"
    )


if __name__ == "__main__":
    main()
