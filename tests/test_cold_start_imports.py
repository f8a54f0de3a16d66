"""What keeps a function's cold start lean stays true: the botocore data the layer's client
loads is the installed botocore's (cut, not edited), and the event handler loads only the
API Gateway resolver — while every name Powertools exports stays importable."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from local_runtime import botocore_data
from local_runtime.template import ROOT


def test_the_committed_botocore_data_is_what_the_installed_botocore_generates() -> None:
    assert botocore_data.generate() == botocore_data.committed(), "stale: python -m local_runtime.botocore_data --write"


def test_the_layer_client_loads_only_the_layer_data(table: Any) -> None:
    """`table` made the client (and the template's tables through it, waiter included)."""
    from agent_sessions.store.client import DATA

    loader = table._loader
    assert loader.search_paths == [str(DATA)]
    assert loader.list_available_services("service-2") == ["dynamodb"]
    assert table.meta.service_model.operation_model("TransactWriteItems").name == "TransactWriteItems"
    assert table.meta.config.retries["mode"] == "standard"
    assert table.list_tables()["TableNames"]


def test_the_layer_ships_the_botocore_the_data_was_cut_from() -> None:
    """The functions run the botocore the tests ran (not the Lambda runtime's own), and the cut
    data is that version's."""
    import botocore

    from agent_sessions.store.client import cut_data_fits

    pins = dict(
        line.split("==")
        for line in (ROOT / "layers" / "shared" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["botocore"] == botocore.__version__
    assert cut_data_fits(botocore.__version__)


def test_another_botocore_loads_its_own_data(monkeypatch: Any) -> None:
    """Under a botocore the data was not cut from, the client falls back to botocore's data."""
    import botocore

    from agent_sessions.store import client

    monkeypatch.setattr(botocore, "__version__", "1.0.0")
    client.reset()
    try:
        made = client.dynamodb()
        assert str(client.DATA) not in made._loader.search_paths
        assert made.meta.service_model.operation_model("Query").name == "Query"
    finally:
        client.reset()


PROBE = """
import json, sys
import agent_sessions.http
loaded = sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools.event_handler"))
lean = {"appsync": "aws_lambda_powertools.event_handler.appsync" in sys.modules, "asyncio": "asyncio" in sys.modules}
from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import SQSEvent
late = [AppSyncResolver.__name__, APIGatewayRestResolver.__name__, SQSEvent.__name__]
print(json.dumps({"lean": lean, "late": late}))
"""


def test_the_layer_imports_the_api_gateway_resolver_alone_and_the_rest_on_demand() -> None:
    output = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(ROOT / "layers" / "shared"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["lean"] == {"appsync": False, "asyncio": False}
    assert result["late"] == ["AppSyncResolver", "APIGatewayRestResolver", "SQSEvent"]


def test_the_fast_attribute_value_parser_answers_what_botocores_does(table: Any) -> None:
    """The layer's parser (agent_sessions.store.parsing) against botocore's own, on a response
    holding every kind of attribute value, nested, and on values the fast path hands back."""
    from botocore.parsers import JSONParser

    from agent_sessions.store.parsing import DynamoDBJSONParser

    operation = table.meta.service_model.operation_model("Query")
    every_kind = {
        "s": {"S": "text ✓"},
        "n": {"N": "-12.5e3"},
        "b": {"B": "AAEC/w=="},
        "bool": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": ["AQ==", "Ag=="]},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"M": {"deep": {"B": "Aw=="}}}, {"NULL": True}]}}},
        "l": {"L": []},
        "empty_m": {"M": {}},
    }
    odd = {"unknown": {"Z": "1"}, "two": {"S": "a", "N": "1"}, "none": {"S": None}}
    for items in ([every_kind, {"k": {"S": "v"}}], [odd], []):
        body = json.dumps(
            {"Items": items, "Count": len(items), "ScannedCount": 1, "LastEvaluatedKey": {"PK": {"S": "p"}}}
        )
        response = {"status_code": 200, "headers": {}, "body": body.encode()}
        expected = JSONParser().parse(dict(response), operation.output_shape)
        assert DynamoDBJSONParser().parse(dict(response), operation.output_shape) == expected
    assert isinstance(table._endpoint._response_parser_factory.create_parser("json"), DynamoDBJSONParser)


def test_the_build_ships_bytecode_that_never_looks_at_the_source(tmp_path: Any) -> None:
    """`make build` compiles the deployment with unchecked hash-based bytecode: a cold start
    loads it whatever timestamps the zip kept (here: the source changes after the build and the
    bytecode still answers)."""
    from local_runtime.bytecode import compile_tree

    package = tmp_path / "built"
    package.mkdir()
    (package / "module.py").write_text("ANSWER = 'compiled'\n")
    compile_tree(tmp_path)
    [pyc] = (package / "__pycache__").glob(f"module.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc")
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, source unchecked
    (package / "module.py").write_text("ANSWER = 'source'\n")
    output = subprocess.run(
        [sys.executable, "-c", "import built.module as m; print(m.ANSWER)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == "compiled"


def test_make_build_byte_compiles_what_sam_built() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\nbuild:", 1)[1].split("\n\n", 1)[0]
    assert "$(SAM) build" in recipe
    assert recipe.index("$(SAM) build") < recipe.index("-m local_runtime.bytecode .aws-sam/build")
