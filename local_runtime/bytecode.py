"""Byte-compile a deployment tree, so that a cold start loads bytecode instead of compiling.

Lambda's file system is read-only: a package shipped without bytecode is compiled from source
on every cold start (the layer's own modules: ~15 ms of a first request), and bytecode whose
check is the source's timestamp is only as good as the timestamps the zip preserves. `make
build` therefore compiles everything `sam build` wrote with **unchecked hash-based** `.pyc`
files (PEP 552): loaded without looking at the source at all, which is right for a package
that never changes after it is built. The cold-start benchmark compiles its copies of the
code the same way, through this module, so it measures what is deployed.

    python -m local_runtime.bytecode .aws-sam/build
"""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path

INVALIDATION = py_compile.PycInvalidationMode.UNCHECKED_HASH


def compile_tree(root: Path) -> None:
    """Compile every `.py` under root for this interpreter (rewriting existing bytecode)."""
    if not compileall.compile_dir(str(root), quiet=1, force=True, invalidation_mode=INVALIDATION):
        raise SystemExit(f"byte-compiling {root} failed")


def main(argv: list[str]) -> None:
    if sys.version_info[:2] != (3, 13):
        # Bytecode is per interpreter version: the functions run on python3.13.
        raise SystemExit("byte-compile with Python 3.13, the functions' runtime")
    for argument in argv or [".aws-sam/build"]:
        compile_tree(Path(argument))


if __name__ == "__main__":
    main(sys.argv[1:])
