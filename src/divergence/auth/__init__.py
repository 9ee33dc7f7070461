"""API keys, roles and the route policy of the HTTP service."""
