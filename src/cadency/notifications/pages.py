"""The dev mailbox pages (super admins): the emails the dispatcher kept because no SMTP server
is configured, so a demo shows every email with no mail server."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cadency.notifications import service
from cadency.web.auth import PageContext
from cadency.web.sections import reads
from cadency.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/settings/mailbox")
def mailbox(
    request: Request,
    before: int | None = None,
    page: PageContext = Depends(reads("mailbox")),
) -> Response:
    found = service.list_mailbox(page.session, page.account, before=before)
    context = {
        "messages": found.messages,
        "older_than": found.older_than,
        "smtp_configured": bool(request.app.state.settings.smtp_url),
    }
    return render(request, "notifications/mailbox.html", context)


@router.get("/settings/mailbox/{message_id}")
def mailbox_message(
    request: Request,
    message_id: int,
    page: PageContext = Depends(reads("mailbox")),
) -> Response:
    message = service.get_mailbox_message(page.session, page.account, message_id)
    return render(request, "notifications/mailbox_message.html", {"message": message})
