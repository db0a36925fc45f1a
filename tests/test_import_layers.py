"""The import contract of keras_gs: layers, read off the source by AST.

Folders are layers. A module may import its own folder and folders of a
lower layer, never a higher one nor a sibling of its own layer (`data`,
`surgery` and `backbones` know nothing of each other); no module imports
the command-line tools; and there is no import cycle between modules (a
function-level import counts too). The package's own `__init__` is the
top and may import everything.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_gs"

# folder -> layer. Higher layers may import lower ones.
LAYERS = {
    "utils": 0,
    "conflicts": 1,
    "surgery": 2,
    "data": 2,
    "backbones": 2,
    "model": 3,
    "callbacks": 4,
    "experiment": 5,
    "analysis": 6,
    "sweeps": 6,
}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(path, name, known):
    """The keras_gs modules `path` (module `name`) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b`: b may be a module of a.
            targets = [
                f"{base}.{alias.name}"
                if f"{base}.{alias.name}" in known
                else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "tools" or target.startswith("tools."):
                found.add(target)
            elif target.startswith("keras_gs"):
                found.add(target)
    return found


def folder(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


GRAPH = {
    name: imported(path, name, set(modules())) for name, path in modules().items()
}


def test_every_folder_has_a_layer():
    folders = {folder(n) for n in GRAPH} - {None}
    assert folders <= set(LAYERS), sorted(folders - set(LAYERS))


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if folder(n)))
def test_imports_go_down(name):
    own = folder(name)
    wrong = []
    for target in GRAPH[name]:
        if target.startswith("tools"):
            wrong.append(f"{target} (the command-line tools)")
            continue
        other = folder(target)
        if other in (own, None) and target != "keras_gs":
            continue
        if target == "keras_gs" or LAYERS[other] >= LAYERS[own]:
            wrong.append(f"{target} (layer {LAYERS.get(other)})")
    assert not wrong, f"{name} (layer {LAYERS[own]}) imports {wrong}"


def test_no_import_cycles():
    known = set(GRAPH)

    def edges(name):
        # Importing a.b.c runs a/__init__ and a/b/__init__ too.
        for target in GRAPH[name]:
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                prefix = ".".join(parts[:i])
                # The importer's own packages are being imported already.
                if prefix in known and not (name + ".").startswith(prefix + "."):
                    yield prefix

    state, stack, cycles = {}, [], []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in edges(name):
            if target == "keras_gs":
                continue
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(known):
        if name not in state:
            visit(name)
    assert not cycles, cycles
