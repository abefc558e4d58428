"""The package layout holds (docs/architecture.md): no import runs upward, no stage imports another stage.

Layers, bottom up: the core modules (record schema and stage registry, config, manifest, file plumbing, logs);
the utility packages (text, sandbox, engines, prompts, report), which import only the core and themselves;
the stages (each imports the core, the utilities and the stage base, never another stage); the entry points
(jobs, cli), which may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from semi_instruct.pipeline import NAMES

PACKAGE = Path(__file__).resolve().parents[1] / "semi_instruct"
CORE = {"pipeline", "config", "manifest", "layouts", "io", "logs"}
UTILITIES = {"text", "sandbox", "engines", "prompts", "report"}
ENTRY_POINTS = {"jobs", "cli"}


def unit(module: str) -> str:
    """The layout unit of a dotted module: `stages.<name>` for a stage, else the top-level module or package."""
    parts = module.split(".")[1:]
    if parts[:1] == ["stages"] and len(parts) > 1:
        return f"stages.{parts[1]}"
    return parts[0] if parts else ""


def imports() -> dict[str, set[str]]:
    """unit -> the units its modules import (within semi_instruct, including lazy imports in functions)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        source = unit(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("semi_instruct"):
                names = [node.module] if node.module.count(".") > 1 else [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("semi_instruct")]
            else:
                continue
            found.setdefault(source, set()).update(unit(name) for name in names if unit(name) != source)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    stages = {f"stages.{name}" for name in NAMES} | {"stages.base"}
    assert set(imports()) <= CORE | UTILITIES | stages | ENTRY_POINTS | {"stages"}


@pytest.mark.parametrize("layer", ["core", "utilities", "stages"])
def test_no_import_runs_upward(layer: str) -> None:
    allowed = {
        "core": CORE,
        "utilities": CORE,  # and their own package (a unit never lists itself)
        "stages": CORE | UTILITIES | {"stages.base"},
    }[layer]
    units = {"core": CORE, "utilities": UTILITIES, "stages": {f"stages.{name}" for name in NAMES}}[layer]
    wrong = {u: sorted(targets - allowed) for u, targets in imports().items() if u in units and targets - allowed}
    assert not wrong, f"imports that run upward or sideways: {wrong}"


def test_the_stage_base_imports_only_the_core() -> None:
    assert imports().get("stages.base", set()) <= CORE


def test_every_registered_stage_has_a_module_with_options_run_and_job() -> None:
    import importlib

    for name in NAMES:
        module = importlib.import_module(f"semi_instruct.stages.{name}")
        options = f"{name.capitalize()}Options"
        assert hasattr(module, options) and hasattr(getattr(module, options), "from_config"), (name, options)
        assert callable(module.run) and callable(module.job), name
