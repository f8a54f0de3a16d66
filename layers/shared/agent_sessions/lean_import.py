"""Import a package's submodules without running the package's `__init__`.

`aws_lambda_powertools.event_handler`'s `__init__` imports every resolver Powertools has
(AppSync with asyncio, Bedrock agents, Lambda function URLs, VPC Lattice) so that any of them
can be imported from the package: ~35 ms of every cold start, for an API Gateway resolver.
`lean("aws_lambda_powertools.event_handler")` registers the package as a module whose names
resolve on first use — a submodule by importing it, a name the real `__init__` re-exports
(`from .api_gateway import Response`) by importing just the submodule that defines it, read
from the `__init__`'s own import statements — and anything else by running the real
`__init__` after all. Nothing is copied from the package: what it exports stays its own.
Called first thing by the layer (agent_sessions/__init__.py); a no-op once the package is
imported (tests and the local runtime import it in full before that, and stay correct).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from typing import Any


def _reexports(spec: Any) -> dict[str, str]:
    """{name: submodule} for every `from .submodule import name` (or its absolute form) of the
    package's __init__."""
    source = spec.loader.get_source(spec.name) or ""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.level == 1:
            module = f"{spec.name}.{node.module}"
        elif node.level == 0 and node.module.startswith(f"{spec.name}."):
            module = node.module
        else:
            continue
        for alias in node.names:
            found[alias.asname or alias.name] = module
    return found


def lean(package: str) -> None:
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    state: dict[str, Any] = {"reexports": None, "complete": False}

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        submodule = f"{package}.{name}"
        if importlib.util.find_spec(submodule) is not None:
            return importlib.import_module(submodule)
        if state["reexports"] is None:
            state["reexports"] = _reexports(spec)
        if name in state["reexports"]:
            value = getattr(importlib.import_module(state["reexports"][name]), name)
            setattr(module, name, value)
            return value
        if not state["complete"]:
            state["complete"] = True
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            if name in module.__dict__:
                return module.__dict__[name]
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package] = module
