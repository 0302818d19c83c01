"""Retention: erase and delete what the retention policy (docs/operations.md) lets go."""
