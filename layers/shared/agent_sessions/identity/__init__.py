"""Organizations, namespaces and API keys: the identities table, read by the authorizer and
written by the admin command. No session function imports this package."""
