"""Metrics and logs: what operators see of the service (SPEC section 5)."""
