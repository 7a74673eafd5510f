"""Security: encryption at rest, API keys, budgets, and roles on `keel.policy`."""
