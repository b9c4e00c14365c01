"""Reading the dev mailbox: the emails kept instead of sent when no SMTP server is set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.kit.errors import not_found
from cadency.kit.housekeeping import delete_batch
from cadency.notifications.models import MailboxMessage

PAGE_SIZE = 50
# The dev mailbox is for trying things out, not an archive: older emails are purged.
MAILBOX_KEEP_FOR = timedelta(days=30)


@dataclass(frozen=True)
class MailboxPage:
    messages: list[MailboxMessage]
    # The id to pass as `before` for the next (older) page; None on the last page.
    older_than: int | None


def list_mailbox(
    session: Session, account: Account, *, before: int | None = None, limit: int = PAGE_SIZE
) -> MailboxPage:
    """The account's kept emails, newest first by the account's clock, a page at a time;
    `before` is the last email of the previous page."""
    m = MailboxMessage
    query = select(m).where(m.account_id == account.id)
    if before is not None:
        # A number no row can have (the database's integers stop at 2**63) is simply not found.
        last = session.get(m, before) if 0 < before < 2**63 else None
        if last is None or last.account_id != account.id:
            raise not_found("email", str(before))
        query = query.where(tuple_(m.dated_at, m.id) < tuple_(last.dated_at, last.id))
    ordered = query.order_by(m.dated_at.desc(), m.id.desc())
    rows = list(session.scalars(ordered.limit(limit + 1)))
    older = rows[limit - 1].id if len(rows) > limit else None
    return MailboxPage(rows[:limit], older)


def get_mailbox_message(session: Session, account: Account, message_id: int) -> MailboxMessage:
    message = session.get(MailboxMessage, message_id)
    if message is None or message.account_id != account.id:
        raise not_found("email", str(message_id))
    return message


def purge_old_mailbox_messages(session: Session, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` mailbox emails older than `MAILBOX_KEEP_FOR`. Returns how many went."""
    return delete_batch(
        session, MailboxMessage, MailboxMessage.created_at < now - MAILBOX_KEEP_FOR, limit=limit
    )
