"""The rules of the service: what may change, when, and what callers see."""
