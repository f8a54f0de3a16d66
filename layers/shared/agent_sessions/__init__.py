"""Agent Sessions: the shared layer every function imports (models, store, service, HTTP glue)."""
