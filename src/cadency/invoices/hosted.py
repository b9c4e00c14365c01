"""What every hosted page for buyers shares (the invoice page, update payment method, the
billing portal): the response headers of a page behind a secret link, the one error page for a
bad link, reading a link's payload, and the token that ties a posted form to its link."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.models import Account
from cadency.billing import invoicing
from cadency.invoices import documents
from cadency.invoices.documents import D_
from cadency.kit import clock, i18n, signing
from cadency.kit.errors import APIError
from cadency.kit.middleware import CONTENT_SECURITY_POLICY
from cadency.kit.throttle import Limiter, client_address
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import Subscription

FORM_PURPOSE = "hosted_form"
FORM_LIFETIME = timedelta(days=1)
# How often something is charged, as buyers read it (the portal, the payment-link page).
PERIOD_LABELS = {
    "weekly": D_("Weekly"),
    "biweekly": D_("Every two weeks"),
    "monthly": D_("Monthly"),
    "quarterly": D_("Quarterly"),
    "per_six_months": D_("Every six months"),
    "annually": D_("Yearly"),
    "per_two_years": D_("Every two years"),
    "per_three_years": D_("Every three years"),
    "per_four_years": D_("Every four years"),
    "per_five_years": D_("Every five years"),
}
LINK_INVALID = D_("This link is not valid or has expired. Ask the sender for a new link.")
LINK_STALE = D_(
    "This link was made for a previous billing contact of this subscription and no longer "
    "works. Ask the sender for a new link."
)


def page(
    html: str,
    status_code: int = 200,
    *,
    processor: Mapping[str, Any] | None = None,
    foreign_images: bool = False,
) -> HTMLResponse:
    """A buyer's page. Behind a secret link: never cached by shared caches, never sent on as a
    referrer. With the processor's own card field (`processor`: Stripe.js), its origins may
    load scripts, be called and be framed (3-D Secure); with `foreign_images` (a payment
    link's logo), images may come from any https address. Nothing else foreign is allowed."""
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if processor is not None or foreign_images:
        headers["Content-Security-Policy"] = buyer_policy(
            processor["origins"] if processor else (), foreign_images=foreign_images
        )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def buyer_policy(origins: Sequence[str], *, foreign_images: bool) -> str:
    """The app's Content-Security-Policy, opened only as far as a buyer's page needs."""
    policy = CONTENT_SECURITY_POLICY
    if foreign_images:
        policy = policy.replace("img-src 'self' data:", "img-src 'self' data: https:")
    if origins:
        allowed = " ".join(origins)
        policy = policy.replace("script-src 'self'", f"script-src 'self' {allowed}")
        policy = policy.replace("connect-src 'self'", f"connect-src 'self' {allowed}")
        policy += f"; frame-src {allowed}"
    return policy


class BadLink(Exception):
    """A link that opens nothing: altered, expired, made for something else, or naming a
    record that is gone."""

    message = LINK_INVALID
    status_code = 404


class StaleLink(BadLink):
    """A link to a subscription's pages made for a billing contact the subscription no longer
    bills: the previous contact must not manage it (gone for good, so 410)."""

    message = LINK_STALE
    status_code = 410


def link_error(request: Request, bad: BadLink | None = None) -> HTMLResponse:
    """One page for every bad link: it says why and shows nothing else."""
    bad = bad or BadLink()
    language = documents.document_language(
        i18n.negotiate(request.headers.get("accept-language"), documents.LANGUAGES)
    )
    html = documents.render_template(
        "invoices/link_error.html", language, {"language": language, "message": bad.message}
    )
    return page(html, status_code=bad.status_code)


def link_payload(session: Session, purpose: str, token: str) -> tuple[Account, dict[str, Any]]:
    try:
        payload = signing.unsign(session, purpose, token)
    except signing.BadSignature as exc:
        raise BadLink from exc
    account_id = payload.get("account_id")
    account = session.get(Account, account_id) if isinstance(account_id, int) else None
    if account is None:
        raise BadLink
    return account, payload


def subscription_of_link(
    session: Session, purpose: str, token: str
) -> tuple[Account, Subscription, dict[str, Any]]:
    """The subscription a link to its buyer pages (portal, update payment method) opens, with
    the link's payload. The link names the billing contact it was made for
    (`subscriptions.service.buyer_link_payload`); once the subscription bills someone else it is a
    `StaleLink`, and so is a link that names no contact (made before links were bound)."""
    account, payload = link_payload(session, purpose, token)
    try:
        subscription = subscription_service.get(
            session, account, str(payload.get("subscription_id"))
        )
    except APIError as exc:
        raise BadLink from exc
    if "contact_id" not in payload or payload["contact_id"] != subscription.contact_id:
        raise StaleLink
    return account, subscription, payload


def buyer_formatting(
    session: Session, account: Account, subscription: Subscription
) -> tuple[str, i18n.Formatter]:
    """The language a subscription's buyer reads (`invoicing.buyer_language`, in one of the
    document languages) and its dates and money, in the subscription's locale when it speaks
    that language."""
    language = documents.document_language(
        invoicing.buyer_language(
            account,
            subscription.invoice_settings,
            invoicing.contact_language(session, subscription),
        )
    )
    locale = (subscription.invoice_settings or {}).get("locale") or account.locale
    return language, i18n.Formatter(documents.document_locale(language, locale))


# --- the form token -----------------------------------------------------------------------


def _link_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def form_token(session: Session, link_token: str) -> str:
    """The hidden field of a hosted form: signed with the installation secret and tied to the
    link, so a post made elsewhere (or for another link) is refused."""
    expires_at = clock.real_now() + FORM_LIFETIME
    return signing.sign(session, FORM_PURPOSE, {"link": _link_digest(link_token)}, expires_at)


def form_token_valid(session: Session, link_token: str, form: FormData) -> bool:
    sent = form.get("form_token")
    if not isinstance(sent, str):
        return False
    try:
        payload = signing.unsign(session, FORM_PURPOSE, sent)
    except signing.BadSignature:
        return False
    return hmac.compare_digest(str(payload.get("link", "")), _link_digest(link_token))


TOO_MANY_ATTEMPTS = D_("Too many payment attempts. Please try again later.")
FORM_EXPIRED = D_("This form has expired. Reload the page and try again.")


def payment_attempts(link_of: Callable[[Session, str], str]) -> Callable[..., int | None]:
    """A dependency of a buyer's payment form that counts one attempt against its link
    (`link_of` names the invoice or subscription of the token; never the token itself) and
    against the client's address: card testers try many cards on one link, or many links
    from one address. It gives the seconds to wait when a limit is passed, None otherwise.

    Declare it before get_session: on SQLite the request's session takes the write lock,
    and the counters are written on their own connection, so they stay counted whatever
    becomes of the attempt."""

    def dependency(request: Request, token: str) -> int | None:
        with request.app.state.session_factory() as session:
            try:
                link = link_of(session, token)
            except BadLink:
                return None  # the handler shows the bad-link page
        limiter: Limiter = request.app.state.limiter
        verdicts = (
            limiter.hit("payment_form_per_link", link),
            limiter.hit("payment_form_per_address", client_address(request.scope)),
        )
        waits = [verdict.reset_in for verdict in verdicts if not verdict.allowed]
        return max(waits) if waits else None

    return dependency
