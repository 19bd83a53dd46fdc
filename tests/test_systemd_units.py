"""The systemd units in deploy/systemd/ are valid (systemd-analyze verify, where systemd is)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.[st]*"))


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and not os.environ.get("REQUIRE_SYSTEMD"),
    reason="systemd-analyze is not installed",
)
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} >= {
        "fleet-web.service",
        "fleet-partitions.service",
        "fleet-partitions.timer",
        "fleet-ingest-mqtt.service",
        "fleet-health.service",
        "fleet-health.timer",
    }
    for unit in UNITS:
        # The units name /srv/fleet and the user fleet, as installed; verify also checks that
        # the programs exist, so point them at this checkout and at root.
        text = unit.read_text().replace("/srv/fleet", str(ROOT))
        text = text.replace("User=fleet", "User=root").replace("Group=fleet", "Group=root")
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
