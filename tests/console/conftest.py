"""The live API for the console's browser tests: the reliability suite's harness."""

from reliability.conftest import live_api

__all__ = ["live_api"]
