"""Errors on pages are pages (in the visitor's language); errors in the API stay JSON."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_an_unknown_page_is_an_html_page_and_an_unknown_endpoint_is_json(
    client: TestClient,
) -> None:
    page = client.get("/no-such-page", headers={"accept-language": "nl"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Niet gevonden</h1>" in page.text

    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404
    assert api.json()["error"]["type"] == "not_found"


def test_pages_send_strangers_to_the_login_page(client: TestClient) -> None:
    response = client.get("/subscriptions?tab=unpaid", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/subscriptions%3Ftab%3Dunpaid"

    htmx = client.get("/subscriptions", headers={"hx-request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"].startswith("/login?next=")


def test_a_forged_session_cookie_is_not_a_session(app: FastAPI) -> None:
    with TestClient(app, cookies={"cadency_session": "made-up"}) as client:
        response = client.get("/settings/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_way_back_from_an_error_page_stays_on_the_site(client: TestClient) -> None:
    ours = client.get("/no-such-page", headers={"referer": "http://testserver/products?q=x"})
    assert 'href="/products?q=x"' in ours.text
    theirs = client.get("/no-such-page", headers={"referer": "https://evil.example/phish"})
    assert 'href="/subscriptions"' in theirs.text
    assert "evil.example" not in theirs.text
