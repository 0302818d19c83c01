"""sw-mis: a single-window eligibility management information system for social protection."""

from __future__ import annotations

from sw_mis.app import create_app

__all__ = ["create_app"]
