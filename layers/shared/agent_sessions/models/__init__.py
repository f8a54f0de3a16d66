"""Pydantic models, kept apart by role: what callers send (requests), what they get back
(responses), and what the table stores (items)."""
