"""Agent Sessions: the shared layer every function imports (models, store, service, HTTP glue)."""

from agent_sessions.lean_import import lean

# Before anything imports them: only the submodules an API Gateway resolver uses (see lean_import).
lean("aws_lambda_powertools.event_handler")
lean("aws_lambda_powertools.utilities.data_classes")
