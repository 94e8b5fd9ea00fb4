"""Sphinx configuration of the STQS API reference (``make docs``; built with warnings as errors in CI).

Nothing is fetched during the build (no intersphinx): cross-references resolve inside this package only.
"""

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

from numpydoc.validate import validate
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's stqs_core, also when not installed

import stqs_core  # noqa: E402

logger = logging.getLogger("stqs-docs")

project = "STQS"
author = "STQS contributors"
copyright = "STQS contributors, MIT license"
release = version = stqs_core.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"
html_static_path: list[str] = []
root_doc = "index"

# Every documented public function, class and method of a module, in source order (check_docstrings below makes
# sure that every public one is documented).
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the types are in the numpydoc Parameters sections
autoclass_content = "class"
autodoc_inherit_docstrings = False  # torch.nn.Module's docstrings would stand in for a missing one of ours

numpydoc_show_class_members = False  # autodoc lists the members; numpydoc's tables would list them twice
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The pages and the modules each lists, by name prefix (a package's prefix takes its submodules, sorted): a module
# goes to the page of its longest matching prefix, a module matching none to "other". build_pages writes one
# ``_generated/<page>.inc`` per page (automodule directives), which the page includes; so a module added, moved or
# removed needs no edit here unless it belongs to another page than "other".
PAGES = {
    "reading": [
        "stqs_core.hypnogram",
        "stqs_core.recording",
        "stqs_core.channels",
        "stqs_core.annotations",
        "stqs_core.edf",
        "stqs_core.exports",
    ],
    "preprocessing": ["stqs_core.constants", "stqs_core.preprocess"],
    "models": ["stqs_core.model", "stqs_core.checkpoint", "stqs_core.registry", "stqs_core.fastconv"],
    "scoring": [
        "stqs_core.scoring",
        "stqs_core.adapt",
        "stqs_core.cohort",
        "stqs_core.sleepstats",
        "stqs_core.metrics",
        "stqs_core.evaluation",
    ],
    "training": [
        "stqs_core.store",
        "stqs_core.sampling",
        "stqs_core.training",
        "stqs_core.finetune",
        "stqs_core.distributed",
    ],
    "interpret": [
        "stqs_core.interpret.attribution",
        "stqs_core.interpret.occlusion",
        "stqs_core.interpret.filters",
        "stqs_core.interpret.aasm",
        "stqs_core.interpret",
        "stqs_core.teaching",
    ],
    "simulate": [
        "stqs_core.simulate.night",
        "stqs_core.simulate.events",
        "stqs_core.simulate.stage_model",
        "stqs_core.simulate.profiles",
        "stqs_core.simulate",
    ],
    "plots": ["stqs_core.plots"],
    "utilities": [
        "stqs_core.errors",
        "stqs_core.resources",
        "stqs_core.demo",
        "stqs_core.notebooks",
        "stqs_core.allocator",
        "stqs_core.cli",
    ],
    "other": [""],
}
PACKAGES_SHOWN_ON_THEIR_PAGE = {"stqs_core", "stqs_core.interpret", "stqs_core.simulate"}  # docstring atop the page


def public_modules() -> list[str]:
    """The names of stqs_core's public modules (no part starting with ``_``), the package itself first."""
    names = [info.name for info in pkgutil.walk_packages(stqs_core.__path__, "stqs_core.")]
    return ["stqs_core"] + [n for n in names if not any(part.startswith("_") for part in n.split("."))]


def page_of(module: str) -> tuple[str, int]:
    """The page listing ``module`` (the longest matching prefix wins) and that prefix's index on the page."""
    matches = [
        (len(prefix), page, i)
        for page, prefixes in PAGES.items()
        for i, prefix in enumerate(prefixes)
        if not prefix or module == prefix or module.startswith(prefix + ".")
    ]
    _, page, rank = max(matches)
    return page, rank


def build_pages(app):
    """Write ``_generated/<page>.inc``: an automodule directive per module of the page."""
    listed: dict[str, list[tuple[int, str]]] = {page: [] for page in PAGES}
    for module in public_modules():
        if module not in PACKAGES_SHOWN_ON_THEIR_PAGE:
            page, rank = page_of(module)
            listed[page].append((rank, module))
    folder = Path(app.srcdir) / "_generated"
    folder.mkdir(exist_ok=True)
    for page, modules in listed.items():
        text = "".join(f".. automodule:: {module}\n\n" for _, module in sorted(modules)) or "None at present.\n"
        path = folder / f"{page}.inc"
        if not path.is_file() or path.read_text() != text:  # unchanged files keep Sphinx's cache valid
            path.write_text(text)


# What the build enforces, on every public function, class, method and property of every public module of
# stqs_core (found by walking the package, so that nothing escapes by being left out of the pages; numpydoc's own
# numpydoc_validation_checks would also check the names a module imports, and skip what has no docstring):
# GL08 a docstring, PR01 every parameter documented, PR02 no documented parameter that does not exist, PR10 a
# space before the colon of "name : type", RT01 a Returns section where the function returns something. A violation
# is a warning, which -W turns into an error.
CHECKS = {"GL08", "PR01", "PR02", "PR10", "RT01"}
# Objects not checked (regular expressions on the full name):
EXCLUDE = [
    r"^stqs_core\.cli\.",  # the command line is documented by `stqs --help`
]


def public_objects():
    """Yield the full names of every public function, class, method and property of stqs_core's public modules."""
    for name in public_modules():
        module = importlib.import_module(name)
        for key, value in vars(module).items():
            if key.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            if not (inspect.isfunction(inspect.unwrap(value)) or inspect.isclass(value)):  # unwrap: lru_cache
                continue
            yield f"{name}.{key}"
            if inspect.isclass(value):
                for member, attr in vars(value).items():
                    if member.startswith("_"):
                        continue
                    if inspect.isfunction(attr) or isinstance(attr, (property, classmethod, staticmethod)):
                        yield f"{name}.{key}.{member}"


def violations():
    """Yield ``(full name, code, message)`` for every public object whose docstring fails one of :data:`CHECKS`."""
    exclude = re.compile("|".join(EXCLUDE))
    for name in public_objects():
        if not exclude.search(name):
            for code, message in validate(name)["errors"]:
                if code in CHECKS:
                    yield name, code, message


def check_docstrings(app):
    """Warn (an error under -W) about every docstring violation."""
    for name, code, message in violations():
        logger.warning("%s: %s %s", name, code, message)


def setup(app):
    app.connect("builder-inited", build_pages)
    app.connect("builder-inited", check_docstrings)


if __name__ == "__main__":  # python docs/api/conf.py: the violations alone, in seconds, without building
    found = list(violations())
    for name, code, message in found:
        print(f"{name}: {code} {message}")
    print(f"{len(found)} violations")
    hidden = [(name, code) for name in public_objects() for code, _ in validate(name)["errors"] if code in CHECKS]
    idle = [p for p in EXCLUDE if not any(re.search(p, name) for name, _ in hidden)]
    print("exclusions that hide no violation (delete them):", *idle, sep="\n  ")
    sys.exit(bool(found))
