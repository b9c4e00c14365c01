"""The dev mailbox pages (super admins): the emails the dispatcher kept because no SMTP server
is configured, so a demo shows every email with no mail server."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cadency.notifications import service
from cadency.web.auth import PageContext, page_requires
from cadency.web.templating import render

router = APIRouter(include_in_schema=False)

# Emails hold buyers' details and signed links: the account's super admins only.
READ_MAILBOX = "super_admin"


@router.get("/settings/mailbox")
def mailbox(
    request: Request,
    before: int | None = None,
    page: PageContext = Depends(page_requires(READ_MAILBOX)),
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
    page: PageContext = Depends(page_requires(READ_MAILBOX)),
) -> Response:
    message = service.get_mailbox_message(page.session, page.account, message_id)
    return render(request, "notifications/mailbox_message.html", {"message": message})
