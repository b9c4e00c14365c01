"""Web pages of subscriptions: the index (with saved views), the create form and its live
summary, and the record panel with its actions. One module each, joined here; the create form
comes before the record panel so `/subscriptions/new` is not read as a subscription ID."""

from __future__ import annotations

from fastapi import APIRouter

from cadency.subscriptions import pages_create, pages_index, pages_record

router = APIRouter(include_in_schema=False)
for module in (pages_index, pages_create, pages_record):
    router.include_router(module.router)
