"""The live API for the client's tests: the local runtime on DynamoDB Local (the reliability
suite's harness), with a real organization, namespace and key."""

from reliability.conftest import live_api

__all__ = ["live_api"]
