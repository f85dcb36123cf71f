"""The house's rule, checked from the code's own imports: layers only point down, and no module imports itself back.

Every `import` and `from ... import` of a first-party module counts, at module level or inside a function. A
package may import its own modules and any package of a lower layer; never one of its own layer or above.
Run alone: `.venv/bin/python -m pytest -q tests/test_layering.py` (no TensorFlow is imported).
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

REPO = pathlib.Path(__file__).resolve().parent.parent

# Bottom to top; packages in one tuple stand beside each other and may not import one another.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "compat"),  # the ground: dataclasses, presets, every rule | patches of third-party internals
    ("logformat",),  # the published log format: fields, reader, parser, encoder, curated schema
    # the simulator that writes the format | Transform/Trainer code, optimizers, detector | the Beam ingest of the logs
    ("world", "models", "ingest"),
    # export/publish in TF Serving's layout, client, server launcher | the Beam job that writes the world's logs
    ("serving", "generation"),
    ("components",),  # thin TFX components and executors
    ("pipeline",),  # create_pipeline, runners, MLMD readers
    ("kubeflow", "experiments"),  # consumers of the pipeline | the stability lab
    ("benchmarks",),  # measures everything below
    ("ranker",),  # the command line: dispatches to everything
)
LAYER_OF = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in LAYER_OF}


def import_graph() -> dict[str, set[str]]:
    """module -> first-party modules it imports (a `from pkg import mod` counts as importing pkg.mod)."""
    files = [p for package in LAYER_OF for p in (REPO / package).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in _imports(path):
            while name not in modules and "." in name:  # `from pkg.mod import function` -> pkg.mod
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                graph[module].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages == set(LAYER_OF), f"add new packages to LAYERS: {sorted(packages ^ set(LAYER_OF))}"


def test_imports_only_point_down():
    upward = []
    for module, targets in import_graph().items():
        for target in targets:
            here, there = module.split(".")[0], target.split(".")[0]
            if here != there and LAYER_OF[there] >= LAYER_OF[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    assert _cycles(import_graph()) == []


def test_the_checker_sees_an_upward_import_and_a_circle():
    """The rules above can fail: a made-up graph with a circle and an arrow from config up to pipeline."""
    graph = {"config.a": {"pipeline.b"}, "pipeline.b": {"config.a"}}
    assert _cycles(graph) == [["config.a", "pipeline.b"]]
    assert LAYER_OF["pipeline"] > LAYER_OF["config"]
