"""The DynamoDB client: created once per cold start, lazily, with botocore's standard retries.

`AWS_ENDPOINT_URL_DYNAMODB` (honoured by botocore itself) points it at DynamoDB Local, moto,
or nothing for real AWS.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    client: Any = boto3.client("dynamodb", config=config)
    return client  # type: ignore[no-any-return]


def reset() -> None:
    """Forget the client (tests that swap endpoints or mocks)."""
    dynamodb.cache_clear()
