"""The package's dependencies point down the layers that ``ls tfbvae/`` shows (issue 15).

Every ``import`` in ``tfbvae/`` (module level or inside a function) is read with ``ast`` and
checked against the table below: the model knows no files and no data set, data knows no model,
serving knows no data set and no training, evaluation imports no training code (it opens
trained models through :mod:`tfbvae.trained_model`), the pictures are drawn from arrays alone,
and the metrics see only a representation function and the ground-truth data interface. A new import that
points up a layer fails here with the module and the import named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfbvae"

FOUNDATION = {"errors", "names", "pixels"}  # import nothing of tfbvae's but each other
ALLOWED = {
    "errors": set(),
    "names": set(),
    "pixels": {"errors"},
    "files": {"errors"},
    "model": FOUNDATION,
    "data": FOUNDATION | {"files"},
    "visualization": FOUNDATION | {"files"},  # pictures of arrays: any layer may draw
    "serving": FOUNDATION | {"files", "model"},
    "training": FOUNDATION | {"files", "model", "data", "serving", "visualization"},
    "trained_model": FOUNDATION | {"files", "model", "serving", "training"},
    "evaluation": FOUNDATION | {"files", "model", "data", "visualization", "trained_model"},
    "cli": FOUNDATION | {"files", "data", "training"},  # the apps' shared flags and error handling
    "study": FOUNDATION | {"files", "training", "serving", "evaluation", "visualization"},
}
METRICS_ALLOWED = {"evaluation.metrics", "data.ground_truth"}


def _part(module: str) -> str:
    """The layer of a dotted module name below tfbvae (``tfbvae.model.objectives`` -> model)."""
    return module.split(".")[1] if module.count(".") else ""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The tfbvae modules (or packages) that ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tfbvae.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfbvae"):
            if node.module == "tfbvae":
                found |= {f"tfbvae.{alias.name}" for alias in node.names
                          if not alias.name.startswith("__")}  # e.g. __version__
            else:
                found.add(node.module)
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    module = _dotted(path)
    if module == "tfbvae":
        return  # the package's lazy public names
    own = _part(module)
    assert own in ALLOWED, f"{module}: a new top-level part of tfbvae; add it to the layer table"
    upward = sorted(imp for imp in _imports(path)
                    if _part(imp) != own and _part(imp) not in ALLOWED[own] and _part(imp))
    assert not upward, f"{module} imports {upward}: {own} may import only {sorted(ALLOWED[own])}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "evaluation" / "metrics").glob("*.py")),
                         ids=lambda p: p.name)
def test_metrics_see_only_a_representation_function_and_the_ground_truth_interface(path):
    outside = sorted(imp for imp in _imports(path)
                     if not any(imp.removeprefix("tfbvae.").startswith(ok) for ok in METRICS_ALLOWED))
    assert not outside, f"{_dotted(path)} imports {outside}"


def test_the_top_level_shows_the_architecture():
    top = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", ".")))
    assert top == ["cli", "data", "errors.py", "evaluation", "files.py", "model", "names.py",
                   "pixels.py", "serving", "study", "trained_model.py", "training",
                   "visualization.py"]
