"""Security headers on every response (filled in by the security work)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the security-header middleware to ``app``."""
