"""Throttling (issue 11, #4): failed logins lock an email (and an address) out for the rest
of the window, even with the right password; the buyer's payment forms take a few attempts per
link and per address; the API counts per key, says where it stands in RateLimit-* headers and
answers 429 `rate_limit` with Retry-After. Counters live in the database, so two app instances
(two `cadency serve` processes) count together."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cadency.accounts.models import Account
from cadency.config import Settings
from cadency.kit.throttle import LEASE_MAX, RateLimitCounter
from cadency.web.app import create_app
from tests.conftest import Api, add_account_users, make_api
from tests.web.test_hosted_pages import sent_invoice

START = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)


LimitedApp = Callable[..., FastAPI]


@pytest.fixture
def limited_app(app: FastAPI, database_url: str) -> Iterator[LimitedApp]:
    """Other apps (other server processes) on the suite's database, with their own limits."""
    made: list[FastAPI] = []

    def make(**limits: Any) -> FastAPI:
        settings = Settings(
            database_url=database_url, base_url="http://testserver", smtp_url=None, **limits
        )
        made.append(create_app(settings, migrate_db=False))
        return made[-1]

    yield make
    for other in made:
        other.state.engine.dispose()


def visitor(app: FastAPI) -> TestClient:
    """A client from an address of its own, so counters of other tests do not interfere."""
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    return TestClient(app, raise_server_exceptions=False, client=(address, 50000))


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    # A moment of its own per test: counters are windows in real time.
    with time_machine.travel(START + timedelta(days=secrets.randbelow(10_000)), tick=False) as t:
        yield t


# --- the API ------------------------------------------------------------------------------


def test_api_counts_down_per_key_then_answers_429(
    app: FastAPI, limited_app: LimitedApp, api: Api, clock: time_machine.Coordinates
) -> None:
    limited = visitor(limited_app(api_limit_per_key="3 per minute"))
    auth = {"Authorization": f"Bearer {api.key}"}

    remaining = []
    for _ in range(3):
        response = limited.get("/api/v1/products", headers=auth)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Reset"] == "60"
        assert response.headers["RateLimit-Policy"] == "3;w=60"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    clock.shift(timedelta(seconds=20))
    refused = limited.post("/api/v1/products", json={"name": "Beans"}, headers=auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit"
    assert "the limit is 3 per minute for this API key" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"] == "40"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == "40"
    assert api.ok(api.get("/products"))["data"] == []  # nothing was made

    # Another key of another account is not affected; the window passes and the key is back.
    other = make_api(limited, app.state.session_factory, name="Other shop")
    other_key = {"Authorization": f"Bearer {other.key}"}
    assert limited.get("/api/v1/products", headers=other_key).status_code == 200
    clock.shift(timedelta(seconds=41))
    again = limited.get("/api/v1/products", headers=auth)
    assert again.status_code == 200
    assert again.headers["RateLimit-Remaining"] == "2"


def test_requests_without_a_key_count_per_address(
    limited_app: LimitedApp, clock: time_machine.Coordinates
) -> None:
    stranger = visitor(limited_app(api_limit_per_key="2 per minute"))
    statuses = [stranger.get("/api/v1/products").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    message = stranger.get("/api/v1/products").json()["error"]["message"]
    assert "requests without an API key" in message


def test_two_servers_share_the_counters(
    app: FastAPI, limited_app: LimitedApp, api: Api, clock: time_machine.Coordinates
) -> None:
    first = visitor(limited_app(api_limit_per_key="4 per minute"))
    second = visitor(limited_app(api_limit_per_key="4 per minute"))
    auth = {"Authorization": f"Bearer {api.key}"}
    statuses = [
        client.get("/api/v1/products", headers=auth).status_code
        for client in (first, second, first, second, first)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    # The key itself is never stored: counters are named by a hash.
    with app.state.session_factory() as session:
        keys = session.scalars(select(RateLimitCounter.key)).all()
    assert keys and not any(api.key in key for key in keys)


def test_a_busy_key_gets_exactly_its_limit_from_one_server(
    limited_app: LimitedApp, api: Api, clock: time_machine.Coordinates
) -> None:
    # Past HOT_PER_SECOND requests a second the server reserves hits in batches (one
    # database write per batch); the key still gets exactly its limit, counting down.
    limited = visitor(limited_app(api_limit_per_key="100 per minute"))
    auth = {"Authorization": f"Bearer {api.key}"}
    answers = [limited.get("/api/v1/products", headers=auth) for _ in range(130)]
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 100 + [429] * 30
    remaining = [int(a.headers["RateLimit-Remaining"]) for a in answers]
    assert remaining[:100] == list(range(99, -1, -1))
    assert set(remaining[100:]) == {0}
    assert answers[-1].headers["Retry-After"] == "60"


def test_busy_servers_sharing_a_key_never_allow_more_than_the_limit(
    limited_app: LimitedApp, api: Api, clock: time_machine.Coordinates
) -> None:
    first = visitor(limited_app(api_limit_per_key="200 per minute"))
    second = visitor(limited_app(api_limit_per_key="200 per minute"))
    auth = {"Authorization": f"Bearer {api.key}"}
    statuses = [
        client.get("/api/v1/products", headers=auth).status_code
        for _ in range(150)
        for client in (first, second)
    ]
    allowed = statuses.count(200)
    # Hits one server reserved and did not use are lost to the other: at most LEASE_MAX - 1
    # each, never more than the limit.
    assert 200 - 2 * (LEASE_MAX - 1) <= allowed <= 200
    assert set(statuses) == {200, 429}


def test_the_suite_api_reports_its_limit(api: Api) -> None:
    response = api.get("/products")
    assert response.headers["RateLimit-Limit"] == "6000"
    assert int(response.headers["RateLimit-Remaining"]) < 6000


# --- login --------------------------------------------------------------------------------


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def post_login(client: TestClient, email: str, password: str, token: str) -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/subscriptions"},
        follow_redirects=False,
    )


def test_failed_logins_lock_the_email_out_even_for_the_right_password(
    limited_app: LimitedApp,
    app: FastAPI,
    api: Api,
    session_factory: Any,
    clock: time_machine.Coordinates,
) -> None:
    email = f"lock-{api.account_id}@example.com"
    add_account_users(session_factory, api, email)
    browser = visitor(limited_app())  # the defaults: 10 per email per 15 minutes
    token = login_token(browser)

    for _ in range(10):
        assert post_login(browser, email, "guess", token).status_code == 401
    locked = post_login(browser, email, "password-123", token)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert "Too many failed logins. Try again in 15 minutes." in locked.text
    assert "cadency_session" not in locked.cookies

    # From another address too: the email is locked, not the address. In Dutch it says so.
    elsewhere = visitor(app)
    other_token = login_token(elsewhere)
    dutch = elsewhere.post(
        "/login",
        data={"email": email.upper(), "password": "password-123", "csrf_token": other_token},
        headers={"Accept-Language": "nl"},
        follow_redirects=False,
    )
    assert dutch.status_code == 429
    assert "Probeer het over 15 minuten opnieuw." in dutch.text

    clock.shift(timedelta(minutes=14, seconds=1))
    late = post_login(browser, email, "password-123", token)
    assert late.status_code == 429
    assert late.headers["Retry-After"] == "59"
    assert "Try again in 1 minute." in late.text

    clock.shift(timedelta(minutes=1))
    signed_in = post_login(browser, email, "password-123", token)
    assert signed_in.status_code == 303
    assert signed_in.cookies.get("cadency_session")


def test_failed_logins_from_one_address_lock_that_address_out(
    limited_app: LimitedApp, api: Api, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    email = f"addr-{api.account_id}@example.com"
    add_account_users(session_factory, api, email)
    browser = visitor(limited_app(login_limit_per_address="5 per 15 minutes"))
    token = login_token(browser)
    for n in range(5):
        assert post_login(browser, f"nobody-{n}@example.com", "guess", token).status_code == 401
    refused = post_login(browser, email, "password-123", token)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


def test_a_successful_login_forgets_earlier_failures(
    limited_app: LimitedApp, api: Api, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    email = f"forget-{api.account_id}@example.com"
    add_account_users(session_factory, api, email)
    browser = visitor(limited_app(login_limit_per_email="3 per 15 minutes"))
    token = login_token(browser)
    for _ in range(2):
        assert post_login(browser, email, "guess", token).status_code == 401
    assert post_login(browser, email, "password-123", token).status_code == 303
    browser.cookies.clear()  # signed out again: a fresh login form
    token = login_token(browser)
    for _ in range(2):
        assert post_login(browser, email, "guess", token).status_code == 401
    assert post_login(browser, email, "password-123", token).status_code == 303


# --- the buyer's payment forms ------------------------------------------------------------


def form_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


CARD = {"exp_month": "12", "exp_year": "2045", "cvc": "123"}


def test_card_testing_on_an_invoice_is_stopped_per_link(
    limited_app: LimitedApp, api: Api, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    invoice = sent_invoice(api, session_factory)
    path = urlsplit(invoice["hosted_url"]).path
    server = limited_app(payment_form_limit_per_link="3 per hour")
    buyer = visitor(server)
    token = form_token(buyer, path)

    for _ in range(3):
        declined = buyer.post(
            f"{path}/pay", data={"form_token": token, "number": "4000000000000341", **CARD}
        )
        assert declined.status_code == 402
    # The fourth try, even from another address and with a good card, is refused.
    other = visitor(server)
    good_card = {"form_token": token, "number": "4242424242424242", **CARD}
    refused = other.post(f"{path}/pay", data=good_card)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    assert "Too many payment attempts. Please try again later." in refused.text
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "open"

    clock.shift(timedelta(hours=1))
    paid = other.post(f"{path}/pay", data=good_card, follow_redirects=False)
    assert paid.status_code == 303
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "paid"


def test_payment_forms_are_limited_per_address(
    limited_app: LimitedApp, app: FastAPI, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    buyer = visitor(limited_app(payment_form_limit_per_address="2 per hour"))
    statuses = []
    for n in range(3):
        shop = make_api(buyer, session_factory, name=f"Shop {n}")
        invoice = sent_invoice(shop, session_factory)
        path = urlsplit(invoice["hosted_url"]).path
        token = form_token(buyer, path)
        response = buyer.post(
            f"{path}/pay", data={"form_token": token, "number": "4000000000000341", **CARD}
        )
        statuses.append(response.status_code)
    assert statuses == [402, 402, 429]


def test_the_update_payment_method_page_is_limited_too(
    limited_app: LimitedApp, api: Api, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    from cadency.subscriptions import service as subscription_service

    invoice = sent_invoice(api, session_factory)
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        sub = subscription_service.get(session, account, invoice["subscription_id"])
        path, _ = subscription_service.payment_method_link_path(session, sub, timedelta(days=1))
        session.commit()
    buyer = visitor(limited_app(payment_form_limit_per_link="1 per hour"))
    token = form_token(buyer, path)
    first = buyer.post(path, data={"form_token": token, "number": "4000000000000341", **CARD})
    assert first.status_code != 429
    second = buyer.post(path, data={"form_token": token, "number": "4242424242424242", **CARD})
    assert second.status_code == 429
    assert "Too many payment attempts" in second.text


def test_failed_checkouts_on_payment_link_pages_lock_out_the_address(
    limited_app: LimitedApp, session_factory: Any, clock: time_machine.Coordinates
) -> None:
    """Card testing across many payment links from one address: failed attempts count per
    address (the default is 10 in 10 minutes); a good card from there waits for the window."""
    buyer = visitor(limited_app(checkout_failure_limit_per_address="2 per 10 minutes"))
    statuses = []
    for n in range(3):
        shop = make_api(buyer, session_factory, name=f"Pay shop {n}")
        product = shop.ok(
            shop.post(
                "/products",
                {"name": "Kit", "unit_price": "5.00", "currency": "USD", "billing_frequency": None},
            )
        )
        link = shop.ok(
            shop.post(
                "/payment-links",
                {"name": "Kit", "currency": "USD", "line_items": [{"product_id": product["id"]}]},
            )
        )
        path = urlsplit(link["url"]).path
        page = buyer.get(path).text
        key = re.search(r'name="form_key" value="([^"]+)"', page)
        assert key
        fields = {
            "form_token": form_token(buyer, path),
            "form_key": key.group(1),
            "email": "tester@example.com",
            "number": "4000000000000341",
            # The clock may stand decades ahead (a window of its own): a card valid then.
            **{**CARD, "exp_year": "2099"},
        }
        statuses.append(buyer.post(path, data=fields).status_code)
    assert statuses == [402, 402, 429]
    clock.shift(timedelta(minutes=10))
    good = {**fields, "number": "4242424242424242"}
    assert buyer.post(path, data=good, follow_redirects=False).status_code == 303
