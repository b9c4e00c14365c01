"""The test clock of a test-mode account (super admins, as `POST /clock/advance`): move it
forward by a day, a week, a month or to a date. Everything due on the way runs in time order,
as the worker would have run it, and the page says what ran."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.billing import runner
from cadency.billing.endpoints import follow_clock
from cadency.kit import periods
from cadency.kit.errors import APIError
from cadency.kit.i18n import N_
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import form_data, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

PATH = "/settings/test-clock"
STEPS = {"day": N_("+1 day"), "week": N_("+1 week"), "month": N_("+1 month")}


def _page(
    request: Request, page: PageContext, error: str | None = None, status: int = 200
) -> Response:
    context = {
        "steps": STEPS,
        "error": error,
        "earliest": periods.add_days(page.today, 1).isoformat(),
    }
    return render(request, "billing/test_clock.html", context, status_code=status)


@router.get(PATH)
def test_clock(
    request: Request, page: PageContext = Depends(page_requires("super_admin"))
) -> Response:
    return _page(request, page)


@router.post(PATH)
def advance_test_clock(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires("super_admin")),
) -> Response:
    if page.account.mode != "test":
        return _page(request, page, page.gettext("A live account runs on real time."), 409)
    zone = ZoneInfo(page.account.timezone)
    local = page.now.astimezone(zone)
    step, day = text(form, "step"), text(form, "date")
    if step in STEPS:
        target = {
            "day": periods.add_days(local.date(), 1),
            "week": periods.add_days(local.date(), 7),
            "month": periods.add_months(local.date(), 1),
        }[step]
    elif day is not None:
        try:
            target = date.fromisoformat(day)
        except ValueError:
            return _page(request, page, page.gettext("Enter a date such as 2027-01-31."), 422)
        if target <= local.date():
            return _page(request, page, page.gettext("Choose a date after today."), 422)
    else:
        return _page(request, page, page.gettext("Choose how far to move the clock."), 422)
    # The same time of day on the day chosen, in the account's timezone.
    to = datetime.combine(target, local.timetz().replace(tzinfo=None), zone).astimezone(UTC)
    if to > page.now + runner.MAX_ADVANCE:
        return _page(request, page, page.gettext("The clock moves at most 5 years at a time."), 422)
    try:
        to = runner.check_advance(page.account, to)
    except APIError as exc:
        page.session.rollback()
        return _page(request, page, exc.message, exc.status_code)
    summary = runner.ClockAdvance(page.session, page.account, to).run()
    follow_clock(request.app, page.account, to)
    done = page.gettext(
        "The clock is now %(time)s. Invoices created: %(invoices)s. Payments created: %(payments)s."
    ) % {
        "time": page.fmt.datetime(page.now, page.account.timezone, "medium"),
        "invoices": summary["invoices_created"],
        "payments": summary["payments_created"],
    }
    if summary["subscriptions_failed"]:
        # The worker's log has the error; those subscriptions are tried again on the next pass.
        done += " " + page.gettext("Subscriptions that could not be billed: %(count)s.") % {
            "count": summary["subscriptions_failed"]
        }
    return redirect(PATH, flash=done)
