"""`python -m bench.keys ROLE COUNT`: create COUNT unbound API keys, one plain key a line.

Run by the orchestrator with the bench's environment (its database). A fleet posts through many
keys (one per device or gateway) and keys are throttled one by one, so the load is spread over a
pool of keys rather than sent through one.
"""

from __future__ import annotations

import os
import sys

from bench import app


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", app.SETTINGS)
    import django

    django.setup()
    create_api_key = app.resolve(app.CREATE_API_KEY)

    role, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        _, key = create_api_key(name=f"bench-{role}-{i}", role=role)
        print(key)


if __name__ == "__main__":
    main()
