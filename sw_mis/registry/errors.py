"""Exceptions the registry services raise; the HTML views, the API and imports translate them."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base class for refusals by the registry services."""


class ValidationError(RegistryError):
    """Input refused; ``errors`` maps flat field paths (``members.0.date_of_birth``) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class ConflictError(RegistryError):
    """The record changed since the user loaded it (optimistic locking)."""


class NotFound(RegistryError):
    """No such record, or not one the user may see (never say which)."""


class Forbidden(RegistryError):
    """The user's role may not do this to this record."""


class LikelyDuplicates(RegistryError):
    """Members resemble people already registered; the clerk must confirm they are different."""

    def __init__(self, candidates: list[dict[str, Any]]):
        super().__init__(f"{len(candidates)} possible duplicate(s)")
        self.candidates = candidates


class ErrorBag:
    """Collect messages per flat path, then raise them together."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        """Record ``message`` against ``path``."""
        self.errors.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise :class:`ValidationError` when any message was recorded."""
        if self.errors:
            raise ValidationError(self.errors)
