"""Adapters that make this store the session backend of agent frameworks (optional extras)."""
