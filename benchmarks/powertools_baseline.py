"""The cold-start baseline: an idiomatic Powertools REST handler as the Powertools examples
write one — Logger, Metrics and Tracer, a resolver with validation, a pydantic body model
and a DynamoDB table resource created at module scope. The benchmark imports it in a fresh
process exactly as it imports each of this project's functions."""

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

logger = Logger()
metrics = Metrics(namespace="Baseline")
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
table = boto3.resource("dynamodb").Table("baseline")


class Message(BaseModel):
    role: str = Field(min_length=1, max_length=32)
    content: str = Field(max_length=100_000)


class Appended(BaseModel):
    session_id: str
    message_count: int


@app.post("/v1/agents/sessions/<session_id>/messages")
@tracer.capture_method
def append(session_id: str, message: Message) -> Appended:
    result = table.update_item(
        Key={"PK": session_id, "SK": "SESSION"},
        UpdateExpression="ADD message_count :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    metrics.add_metric(name="MessagesAppended", unit=MetricUnit.Count, value=1)
    return Appended(session_id=session_id, message_count=int(result["Attributes"]["message_count"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
