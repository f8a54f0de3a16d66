"""The DynamoDB client: created once per cold start, lazily, with botocore's standard retries.

`AWS_ENDPOINT_URL_DYNAMODB` (honoured by botocore itself) points it at DynamoDB Local, moto,
or nothing for real AWS.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DATA = Path(__file__).parent / "botocore_data"
DATA_VERSION_FILE = DATA / "botocore-version.json"


def cut_data_fits(botocore_version: str) -> bool:
    """The cut data is botocore's own only for the botocore it was cut from: the python3.13
    runtime brings its own botocore (the layer does not ship one), which may be older or newer
    than the build's — then the client loads botocore's full data, slower and always right."""
    import json

    return bool(json.loads(DATA_VERSION_FILE.read_bytes())["botocore"] == botocore_version)


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    # botocore's own session, not boto3's: `import boto3` also imports s3transfer (through
    # boto3.compat), 50 ms of a cold start for nothing a DynamoDB client uses. The client is
    # the same botocore client boto3.client would return (same credential chain, endpoint
    # resolution, retry modes, event hooks).
    import botocore
    from botocore.config import Config
    from botocore.loaders import Loader
    from botocore.session import get_session

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
        # botocore checks every parameter against the model before sending: ~330 recursive
        # checks for a list page's batch get of 43 keys, over a third of the page's warm time.
        # The requests are built by this code only (store/), DynamoDB validates them again,
        # and every request shape runs in the test suite against moto and DynamoDB Local.
        parameter_validation=False,
    )
    session = get_session()
    # botocore's own data, cut to what a DynamoDB client reads (local_runtime/botocore_data.py
    # generates it from the installed botocore; a test keeps it fresh): the default loader
    # lists ~440 service directories and decodes a 1.2 MB endpoints.json on every cold start.
    if cut_data_fits(botocore.__version__):
        session.register_component(
            "data_loader", Loader(extra_search_paths=[str(DATA)], include_default_search_paths=False)
        )
    from agent_sessions.store.parsing import DynamoDBParserFactory

    session.register_component("response_parser_factory", DynamoDBParserFactory())
    client: Any = session.create_client("dynamodb", config=config)
    return client  # type: ignore[no-any-return]


def reset() -> None:
    """Forget the client (tests that swap endpoints or mocks)."""
    dynamodb.cache_clear()
