"""Request body limits, checked after authentication and before parsing (filled in by the
security work)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the body-limit middleware to ``app``."""
