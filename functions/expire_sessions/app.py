"""The scheduled expiry job (EventBridge, every few minutes): idles and ends due sessions."""

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import clock
from agent_sessions.log import logger
from agent_sessions.runtime import expiry_job

metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = expiry_job().run(clock.now_ms(), context.get_remaining_time_in_millis)
    metrics.add_metric(name="SessionsIdled", unit=MetricUnit.Count, value=report.idled)
    metrics.add_metric(name="SessionsExpired", unit=MetricUnit.Count, value=report.expired)
    metrics.add_metric(name="ItemsCascaded", unit=MetricUnit.Count, value=report.cascaded_items)
    logger.info("Expiry run", extra=report.as_dict())
    return report.as_dict()
