"""README.md's configuration table lists every environment variable the code reads, and no other.

The names are collected by parsing the code (ast, so a call that spans lines is one call), not by
importing it: no database and no Django settings are needed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = ROOT / "fleet" / "project" / "settings.py"
DBCONFIG = ROOT / "fleet" / "plumbing" / "dbconfig.py"
GUNICORN = ROOT / "gunicorn.conf.py"
MQTT_CONFIG = ROOT / "telemetry" / "mqtt" / "config.py"  # optional: read when it exists

# django-environ's readers (env.str("NAME", ...), env.cache_url("NAME", ...), ...) and a
# Mapping's get (dbconfig's configured_database(env) reads env.get("NAME")).
ENV_READERS = frozenset(
    {
        "str",
        "int",
        "bool",
        "list",
        "tuple",
        "dict",
        "float",
        "json",
        "url",
        "path",
        "db_url",
        "cache_url",
        "email_url",
        "search_url",
        "get",
        "__call__",
    }
)
ENV_RECEIVERS = frozenset({"env", "_env"})
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
MQTT_VARIABLE = re.compile(r"MQTT_[A-Z0-9_]+")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _name_argument(call: ast.Call) -> str | None:
    """The call's first positional argument when it is a literal variable name."""
    if not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value if VARIABLE.fullmatch(first.value) else None
    return None


def _is_os_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _is_environment_read(call: ast.Call) -> bool:
    """env.<reader>(...), os.environ.get(...) or os.getenv(...)."""
    if not isinstance(call.func, ast.Attribute):
        return False
    receiver, method = call.func.value, call.func.attr
    if isinstance(receiver, ast.Name) and receiver.id in ENV_RECEIVERS:
        return method in ENV_READERS
    if _is_os_environ(receiver):
        return method == "get"
    return isinstance(receiver, ast.Name) and receiver.id == "os" and method == "getenv"


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _environment_reads(tree: ast.Module) -> Iterator[str]:
    """Names read through env.<reader>("NAME"), os.environ.get("NAME"), os.getenv("NAME"),
    os.environ["NAME"] and "NAME" in os.environ."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_environment_read(node):
            name = _name_argument(node)
            if name is not None:
                yield name
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            key = _literal(node.slice)
            if key is not None:
                yield key
        elif isinstance(node, ast.Compare) and (left := _literal(node.left)) is not None:
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.In, ast.NotIn)) and _is_os_environ(right):
                    yield left


def _variable_lists(tree: ast.Module) -> Iterator[str]:
    """Names in a module-level tuple or list of variable names, such as dbconfig's
    SEED_VARIABLES, which configured_database reads one by one in a loop."""
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, (ast.Tuple, ast.List)):
            continue
        targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if not any(target.endswith("VARIABLES") for target in targets):
            continue
        for element in node.value.elts:
            name = _literal(element)
            if name is not None:
                yield name


def _mqtt_reads(tree: ast.Module) -> Iterator[str]:
    """Every MQTT_* name the consumer's config passes to a call (_setting("MQTT_URL", ...)),
    whatever the helper is called."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name_argument(node)
            if name is not None and MQTT_VARIABLE.fullmatch(name):
                yield name


def variables_the_code_reads() -> set[str]:
    names: set[str] = set()
    for path in (SETTINGS, DBCONFIG, GUNICORN):
        names.update(_environment_reads(_tree(path)))
    names.update(_variable_lists(_tree(DBCONFIG)))
    if MQTT_CONFIG.exists():
        tree = _tree(MQTT_CONFIG)
        names.update(_environment_reads(tree))
        names.update(_mqtt_reads(tree))
    return names


def configuration_section(readme: str) -> str:
    match = re.search(r"^## Configuration\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Configuration' section"
    return match.group(1)


def table_rows(section: str) -> list[list[str]]:
    """The cells of each row of the section's first table, header and separator left out."""
    lines = [line.strip() for line in section.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    assert start is not None, "README.md's configuration section has no table"
    rows: list[list[str]] = []
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def variables_the_readme_lists() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    names: set[str] = set()
    for row in table_rows(configuration_section(readme)):
        names.update(re.findall(r"`([^`]+)`", row[0]))
    return names


def test_the_code_reads_the_variables_this_test_knows_to_look_for() -> None:
    # Guards the collector itself: if it stopped finding reads, the equality below could pass
    # with two empty sets.
    found = variables_the_code_reads()
    expected = {
        "DATABASE_URL",  # dbconfig: env.get
        "POSTGRES_HOST",  # dbconfig: SEED_VARIABLES
        "SECRET_KEY",  # settings: inside a function
        "CACHE_URL",  # settings: env.cache_url
        "METRICS_ALLOWED_NETWORKS",  # settings: a call over three lines
        "HTTPS",  # settings: under no assignment
        "PROMETHEUS_MULTIPROC_DIR",  # gunicorn: `in os.environ`
        "WEB_CONCURRENCY",  # gunicorn: os.environ.get
    }
    assert expected <= found, f"not found: {sorted(expected - found)}"
    if MQTT_CONFIG.exists():
        assert any(name.startswith("MQTT_") for name in found)


def test_the_readme_configuration_table_lists_exactly_the_variables_the_code_reads() -> None:
    read = variables_the_code_reads()
    listed = variables_the_readme_lists()
    assert listed == read, (
        f"read by the code but missing from README.md's table: {sorted(read - listed)}; "
        f"in the table but read by no code: {sorted(listed - read)}"
    )
