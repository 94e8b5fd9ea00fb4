"""The Examples sections of the library's docstrings run and show what they say (doctest).

Lines marked ``# doctest: +SKIP`` need files a user has (an EDF, a trained model) and are not run. Every public
object having a complete docstring is checked by the API reference build (``make docs``, docs/api/conf.py).
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

import stqs_core

PACKAGE = Path(stqs_core.__file__).resolve().parent
MODULES = sorted(
    ".".join(("stqs_core", *path.relative_to(PACKAGE).with_suffix("").parts))
    for path in PACKAGE.rglob("*.py")
    if ">>> " in path.read_text(encoding="utf-8") and not any(part.startswith("_") for part in path.parts[-2:])
)


def test_some_modules_have_examples():
    assert {"stqs_core.adapt", "stqs_core.preprocess", "stqs_core.model"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name} has '>>> ' in its source but no docstring example"
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
