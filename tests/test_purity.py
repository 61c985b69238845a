"""The pure core imports no I/O: checked on each module's syntax tree, not by grep.

A pure module takes data and returns data. It may not import ``os``, ``pathlib``, ``time`` or
``subprocess`` in any spelling (``import os.path``, ``from os import path``, inside a function
or an ``if TYPE_CHECKING`` block), nor reach for a module by name at run time
(``importlib``, ``__import__``), which would hide such an import from this check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE_MODULES = (
    "harness/analysis/frames.py",
    "harness/analysis/tones.py",
    "harness/analysis/segmenter.py",
    "harness/campaign/classify.py",
    "harness/campaign/plan.py",
    "harness/evidence/chain.py",
    "harness/audio/g711.py",
    "harness/audio/level.py",
    "harness/audio/resample.py",
)
FORBIDDEN = frozenset({"os", "pathlib", "time", "subprocess"})
DYNAMIC = frozenset({"importlib"})


def impurities(source: str) -> list[str]:
    """Each forbidden import or dynamic import in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            # ``from . import os`` names the module in the alias, not in ``module``
            names = [node.module] if node.module and node.level == 0 else [a.name for a in node.names]
        elif isinstance(node, ast.Call):
            f = node.func
            called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if called in ("__import__", "import_module"):
                found.append(f"{node.lineno}: {called}()")
        for name in names:
            root = name.split(".")[0]
            if root in FORBIDDEN or root in DYNAMIC:
                found.append(f"{node.lineno}: import {name}")
    return found


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io(module: str) -> None:
    assert impurities((ROOT / module).read_text(encoding="utf-8")) == [], module


@pytest.mark.parametrize("line", [
    "import os", "import os.path", "from os import path", "from os.path import join", "import pathlib as p",
    "from pathlib import Path", "import time", "from time import monotonic", "import subprocess",
    "from subprocess import run", "import importlib", "from importlib import import_module",
    "__import__('os')", "x = importlib.import_module('os')",
    "def f():\n    import os", "if TYPE_CHECKING:\n    from pathlib import Path",
])
def test_every_spelling_of_an_io_import_is_caught(line: str) -> None:
    clean = "from __future__ import annotations\n\nimport numpy as np\n"
    assert impurities(clean) == []
    assert impurities(clean + line + "\n")


def test_a_pure_module_that_gains_import_os_fails() -> None:
    source = (ROOT / PURE_MODULES[0]).read_text(encoding="utf-8")
    assert impurities(source.replace("import numpy as np", "import numpy as np\nimport os", 1)) != []
