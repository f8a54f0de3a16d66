"""Lambda functions in-process, as warm execution environments.

Each function's module is imported once per environment and reused. A resolver keeps the
current event on itself, so one environment serves one invocation at a time — as in Lambda —
and concurrent invocations of a function get more environments (more imports of its module),
up to `max_environments`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from types import ModuleType
from typing import Any

from local_runtime.template import ACCOUNT_ID, REGION, ROOT, FunctionSpec, Stack

LAYER_PATHS = [ROOT / "layers" / "shared"]


class LambdaContext:
    """What the Lambda runtime hands a handler, with a real deadline."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{spec.logical_id}"
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvalidPayload(ValueError):
    """The Invoke API's payload is not JSON (Lambda's InvalidRequestContentException)."""


class _Environment:
    def __init__(self, spec: FunctionSpec, index: int) -> None:
        self.module = _import(spec, index)
        function_name = spec.handler.rpartition(".")[2]
        self.handler = getattr(self.module, function_name)


def _import(spec: FunctionSpec, index: int) -> ModuleType:
    module_file, _, _ = spec.handler.rpartition(".")
    path = spec.code_uri / (module_file.replace(".", "/") + ".py")
    name = f"local_function_{spec.logical_id}_{index}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


class _PerThread:
    """A data descriptor whose value belongs to the thread that set it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._values = threading.local()

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        try:
            return self._values.value
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        self._values.value = value


def isolate_resolver_requests() -> None:
    """Powertools' event handler keeps the request being resolved in class attributes
    (`BaseRouter.current_event`, `BaseRouter.lambda_context`), shared by every resolver in the
    process. Lambda runs one request per process, so that is safe there; here concurrent
    invocations run on threads of one process, and one request would read another's headers,
    body or authorizer context. Make both attributes per thread: on the class (through a
    metaclass, which is what `BaseRouter.current_event = ...` goes through) and on instances
    (through the class dictionary), backed by the same thread-local value."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if isinstance(BaseRouter.__dict__.get("current_event"), _PerThread):
        return
    descriptors = {name: _PerThread(name) for name in ("current_event", "lambda_context")}
    for name, descriptor in descriptors.items():
        setattr(BaseRouter, name, descriptor)  # before the metaclass, which would intercept it
    BaseRouter.__class__ = type(  # type: ignore[method-assign]
        "PerThreadRouterMeta", (type(BaseRouter),), dict(descriptors)
    )


class Functions:
    """Every function of the stack, invocable by logical id."""

    def __init__(self, stack: Stack, *, max_environments: int = 8) -> None:
        isolate_resolver_requests()
        self.stack = stack
        self.max_environments = max_environments
        self._idle: dict[str, list[_Environment]] = {name: [] for name in stack.functions}
        self._count: dict[str, int] = dict.fromkeys(stack.functions, 0)
        self._available = threading.Condition()
        self.cold_starts: dict[str, int] = dict.fromkeys(stack.functions, 0)
        apply_environment(stack)

    def names(self) -> list[str]:
        return sorted(self.stack.functions)

    def invoke(self, name: str, event: Any, *, request_id: str | None = None) -> Any:
        spec = self.stack.functions.get(name)
        if spec is None:
            raise KeyError(name)
        environment = self._acquire(spec)
        try:
            return environment.handler(event, LambdaContext(spec, request_id))
        finally:
            with self._available:
                self._idle[name].append(environment)
                self._available.notify()

    def module(self, name: str) -> ModuleType:
        """A loaded module of the function (an idle environment's, or a new one)."""
        environment = self._acquire(self.stack.functions[name])
        with self._available:
            self._idle[name].append(environment)
            self._available.notify()
        return environment.module

    def invoke_payload(self, name: str, payload: bytes) -> tuple[bytes, str | None]:
        """The Invoke API's view: JSON in, JSON out; a raised error becomes Lambda's error
        payload and its `X-Amz-Function-Error: Unhandled`."""
        try:
            event = json.loads(payload or b"{}")
        except ValueError as error:
            raise InvalidPayload(f"Could not parse request body: {error}") from error
        try:
            result = self.invoke(name, event)
        except Exception as error:  # Lambda reports any raised error this way
            body = {"errorType": type(error).__name__, "errorMessage": str(error)}
            for attribute in ("status", "code"):
                if hasattr(error, attribute):
                    body[attribute] = getattr(error, attribute)
            return json.dumps(body).encode(), "Unhandled"
        return json.dumps(result).encode(), None

    def _acquire(self, spec: FunctionSpec) -> _Environment:
        with self._available:
            while True:
                if self._idle[spec.logical_id]:
                    return self._idle[spec.logical_id].pop()
                if self._count[spec.logical_id] < self.max_environments:
                    self._count[spec.logical_id] += 1
                    index = self._count[spec.logical_id]
                    break
                self._available.wait()
        try:
            environment = _Environment(spec, index)
        except BaseException:
            with self._available:
                self._count[spec.logical_id] -= 1
            raise
        self.cold_starts[spec.logical_id] += 1
        return environment


def apply_environment(stack: Stack) -> None:
    """Every function's environment, in this one process. Functions that disagree on a
    variable cannot share a process: refuse rather than run one with the other's value."""
    merged: dict[str, str] = {}
    for spec in stack.functions.values():
        for name, value in spec.environment.items():
            if merged.get(name, value) != value:
                raise RuntimeError(f"functions disagree on {name}; they cannot share a local process")
            merged[name] = value
    os.environ.update(merged)
    for path in LAYER_PATHS:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
