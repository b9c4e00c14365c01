"""Web pages of the catalog package: thin handlers that authorise, call the service and render."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
