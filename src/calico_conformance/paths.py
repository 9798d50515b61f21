"""Where the suite's own folders are, in a clone and in an installed wheel alike.

The checks (``conformance/`` in a clone) and the pytest fixtures (``fixtures/``) ship inside this
package as ``calico_conformance.conformance`` and ``calico_conformance.fixtures``, so nothing of
ours is installed under a generic top-level name; code finds them through the package, never
through a path relative to the clone."""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def suite_dir() -> Path:
    """The folder that holds the checks (test_*.py) and catalog.yaml."""
    # found, not imported: the checks are the top floor, and this module is near the bottom
    spec = importlib.util.find_spec("calico_conformance.conformance")
    return Path(spec.origin).resolve().parent


def in_suite(arg: str) -> bool:
    """Whether a pytest argument (a path or node ID, ``conformance/test_nodeport.py::test_dsr_reply_leaves_backend_node_directly``) names
    the suite's checks or some of them."""
    path = Path(arg.split("::")[0]).resolve()
    suite = suite_dir()
    return path == suite or suite in path.parents


def catalog_path() -> Path:
    return suite_dir() / "catalog.yaml"


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def plugin_args() -> list[str]:
    """``-p calico_conformance.plugin`` where pytest does not load the plugin by its entry point
    already (PYTEST_DISABLE_PLUGIN_AUTOLOAD); naming an autoloaded plugin again makes pytest warn
    that it cannot rewrite its asserts."""
    return ["-p", "calico_conformance.plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
