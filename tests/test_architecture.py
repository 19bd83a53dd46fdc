"""docs/ARCHITECTURE.md states the import layers that make lint enforces: the two must agree."""

from __future__ import annotations

import re
import tomllib
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def documented_layers() -> list[str]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("<!-- layers:", 1)[1].split("<!-- /layers -->", 1)[0]
    return re.findall(r"^\d+\. `([\w.]+)`", block, flags=re.MULTILINE)


def enforced_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return list(contract["layers"])


def test_the_architecture_page_lists_the_layers_the_import_contract_enforces() -> None:
    assert documented_layers() == enforced_layers()
    assert len(enforced_layers()) == 5


def test_every_documented_layer_is_a_package() -> None:
    for layer in documented_layers():
        assert hasattr(import_module(layer), "__path__"), layer


def test_every_module_the_page_names_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    sections = re.split(r"^## `([\w.]+)`", text, flags=re.MULTILINE)
    checked = 0
    for package, body in zip(sections[1::2], sections[2::2], strict=True):
        folder = ROOT.joinpath(*package.split("."))
        for name in re.findall(r"^\| `([\w/]+(?:\.py)?)`", body, flags=re.MULTILINE):
            assert (folder / name).exists(), f"{package}: {name}"
            checked += 1
    assert checked >= 25
