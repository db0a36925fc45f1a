"""keras_gs.sweeps sits above keras_gs.experiment: nothing below imports
it, and it imports no tool."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(
    r"^\s*(?:from|import)\s+([\w.]+)(?:\s+import\s+(\w+))?", re.M
)


def imports(path):
    found = set()
    for module, name in IMPORT.findall(path.read_text(encoding="utf-8")):
        found.add(f"{module}.{name}" if name else module)
    return found


def test_nothing_in_the_library_imports_sweeps():
    for path in (ROOT / "keras_gs").rglob("*.py"):
        if "sweeps" in path.relative_to(ROOT / "keras_gs").parts:
            continue
        assert not any("sweeps" in m for m in imports(path)), path


def test_sweeps_import_the_experiment_and_below_only():
    for path in (ROOT / "keras_gs" / "sweeps").rglob("*.py"):
        for module in imports(path):
            assert not module.startswith(("tools", "train", "cli")), path
            if module.startswith("keras_gs.experiment."):
                # The experiment's public API only (it is being reshaped).
                assert module in (
                    "keras_gs.experiment.ExperimentConfig",
                    "keras_gs.experiment.files",
                ), (path, module)
