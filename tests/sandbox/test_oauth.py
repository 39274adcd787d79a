"""OAuth grants, rotation and expiry over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx2

from proxy.sandbox import DEMO

from .conftest import Api, password_token

APP = (DEMO.client_id, DEMO.client_secret)


def refresh(client: httpx2.Client, token: str) -> httpx2.Response:
    """A refresh_token grant with the query-string style Enphase documents."""
    params = {"grant_type": "refresh_token", "refresh_token": token}
    return client.post("/oauth/token", params=params, auth=APP)


def test_password_grant_body_has_enphase_fields(http: httpx2.Client) -> None:
    body = password_token(http)
    assert body["token_type"] == "bearer"
    assert body["expires_in"] <= 86400
    assert body["enl_uid"] == "5001"
    assert {"refresh_token", "scope", "enl_cid", "enl_password_last_changed", "jti"} <= set(body)
    assert body["is_internal_app"] is False
    assert http.get("/_sandbox/stats").json()["token_grants"]["password"] == 1


def test_form_body_parameters_work_too(http: httpx2.Client) -> None:
    form = {"grant_type": "password", "username": DEMO.username, "password": DEMO.password}
    assert http.post("/oauth/token", data=form, auth=APP).status_code == 200


def test_bad_client_and_bad_password(http: httpx2.Client) -> None:
    params = {"grant_type": "password", "username": DEMO.username, "password": DEMO.password}
    bad_client = http.post("/oauth/token", params=params, auth=(DEMO.client_id, "nope"))
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"
    bad_password = http.post("/oauth/token", params={**params, "password": "x"}, auth=APP)
    assert bad_password.status_code == 400
    assert bad_password.json()["error"] == "invalid_grant"
    assert http.get("/_sandbox/stats").json()["token_failures"]["password"] == 2


def test_authorization_code_flow_single_use_and_redirect_check(http: httpx2.Client) -> None:
    query = {
        "response_type": "code",
        "client_id": DEMO.client_id,
        "redirect_uri": DEMO.redirect_uri,
        "state": "xyz",
    }
    redirect = http.get("/oauth/authorize", params=query)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == DEMO.redirect_uri
    got = parse_qs(location.query)
    assert got["state"] == ["xyz"]
    exchange = {"grant_type": "authorization_code", "code": got["code"][0]}
    wrong_uri = http.post(
        "/oauth/token", params={**exchange, "redirect_uri": "http://evil/cb"}, auth=APP
    )
    assert wrong_uri.json()["error"] == "invalid_grant"
    code = parse_qs(urlsplit(http.get("/oauth/authorize", params=query).headers["location"]).query)
    exchange = {**exchange, "code": code["code"][0], "redirect_uri": DEMO.redirect_uri}
    assert http.post("/oauth/token", params=exchange, auth=APP).status_code == 200
    assert http.post("/oauth/token", params=exchange, auth=APP).status_code == 400


def test_authorize_rejects_unregistered_redirect(http: httpx2.Client) -> None:
    query = {"response_type": "code", "client_id": DEMO.client_id, "redirect_uri": "http://x/"}
    assert http.get("/oauth/authorize", params=query).status_code == 400


def test_refresh_rotates_and_old_token_dies(http: httpx2.Client) -> None:
    first = password_token(http)
    second = refresh(http, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = refresh(http, first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert refresh(http, second.json()["refresh_token"]).status_code == 200


def test_concurrent_refresh_with_one_token_succeeds_once(http: httpx2.Client) -> None:
    token = password_token(http)["refresh_token"]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: refresh(http, token).status_code, range(16)))
    assert sorted(statuses) == [200] + [400] * 15


def test_refresh_token_expires(http: httpx2.Client) -> None:
    token = password_token(http)["refresh_token"]
    http.post("/_sandbox/clock", json={"offset": 7 * 86400 + 1})
    assert refresh(http, token).json()["error"] == "invalid_grant"


def test_access_token_expires(http: httpx2.Client, api: Api) -> None:
    token = password_token(http)["access_token"]
    assert api("/systems/1001", token=token).status_code == 200
    http.post("/_sandbox/clock", json={"offset": 86401})
    expired = api("/systems/1001", token=token)
    assert expired.status_code == 401
    assert expired.json() == {
        "message": "Not Authorized",
        "details": "Access token has expired",
        "code": 401,
    }
