"""SnapStart: offered by the template (on for prod), and nothing unique made during INIT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from local_runtime.template import ROOT, load_template, read_stack

PROBE = r"""
import json, os, secrets, sys, uuid, random
ours = (os.path.join(sys.argv[1], "layers"), os.path.join(sys.argv[1], "functions"))
calls = []

def watch(module, name):
    original = getattr(module, name)
    def watched(*args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(ours):
                calls.append(f"{module.__name__}.{name} from {frame.f_code.co_filename}:{frame.f_lineno}")
                break
            frame = frame.f_back
        return original(*args, **kwargs)
    setattr(module, name, watched)

for module, name in [(os, "urandom"), (secrets, "token_bytes"), (secrets, "token_hex"),
                     (secrets, "token_urlsafe"), (secrets, "randbelow"), (secrets, "choice"),
                     (uuid, "uuid4"), (uuid, "uuid1"), (random, "random"), (random, "uniform"),
                     (random, "seed"), (random, "getrandbits")]:
    watch(module, name)
import app
print(json.dumps(calls))
"""


def test_the_template_offers_snapstart_and_prod_turns_it_on() -> None:
    template = load_template()
    assert template["Parameters"]["SnapStart"]["Default"] == "off"
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "on"]}
    function_globals = template["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["SnapStart"]["ApplyOn"] == {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
    api = template["Resources"]["SessionsApi"]["Properties"]
    authorizer = api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    assert authorizer["FunctionArn"] == {"Ref": "AuthorizerFunction.Alias"}  # the snapshotted version
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert "SnapStart=on" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert "SnapStart" not in config["default"]["deploy"]["parameters"]["parameter_overrides"]


@pytest.mark.parametrize(
    "function", sorted(read_stack(table_names={"SessionsTable": "t", "IdentitiesTable": "i"}).functions)
)
def test_init_makes_nothing_unique(function: str) -> None:
    """Importing a function (its whole INIT) draws no ids, tokens or random numbers in this
    project's code: what a snapshot holds is the same for every restored environment."""
    spec = read_stack(
        table_names={"SessionsTable": "sessions-table", "IdentitiesTable": "identities-table"},
        secrets={"CursorSigningSecret": "a-cursor-signing-key-for-tests"},
    ).functions[function]
    env = {
        **os.environ,
        **spec.environment,
        "PYTHONPATH": os.pathsep.join([str(spec.code_uri), str(ROOT / "layers" / "shared")]),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT)], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_restore_hooks_prime_the_client_and_reseed(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from agent_sessions import snapstart

    registered: dict[str, object] = {}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = lambda hook: registered.setdefault("before", hook)  # type: ignore[attr-defined]
    fake.register_after_restore = lambda hook: registered.setdefault("after", hook)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    assert snapstart.prepare_snapshot() is False and registered == {}  # on-demand INIT: nothing
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    assert snapstart.prepare_snapshot() is True
    assert registered == {"before": snapstart.create_clients, "after": snapstart.reseed}
    import random

    random.seed(1)
    first = random.random()
    random.seed(1)
    snapstart.reseed()
    assert random.random() != first  # a restored environment does not replay the snapshot's sequence
