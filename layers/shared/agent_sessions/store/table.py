"""What every store shares: the table's name and the client, resolved lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_sessions.settings import Settings
from agent_sessions.store.client import dynamodb
from agent_sessions.store.codec import Item
from agent_sessions.store.dynamo import store_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class TableStore:
    def __init__(self, settings: Settings, client: DynamoDBClient | None = None) -> None:
        self.settings = settings
        self.table = settings.table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or dynamodb()

    def get_raw(self, pk: str, sk: str) -> Item | None:
        """1 strongly consistent GetItem; the item as DynamoDB returns it."""
        with store_errors():
            response = self.client.get_item(
                TableName=self.table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
            )
        return response.get("Item")
