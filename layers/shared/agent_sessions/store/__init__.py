"""Data access: keys, conditions, transactions, pagination cursors. Nothing here knows HTTP."""
