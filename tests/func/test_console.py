"""The web console's access and actions, through its ASGI app in this process: local
mode, sign-in sessions, CSRF, roles, four-eyes, revocation, escaping. (The browser suite
in tests/browser drives the same through a real server and Chromium.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import Client

from pathtolive.service import audit as audit_service
from pathtolive.service import tokens as token_service
from pathtolive.service.workspace import open_workspace
from pathtolive.ui.console.app import CONTENT_SECURITY_POLICY
from tests.support.cli import run_in_process
from tests.support.console import (
    MODEL,
    SCRIPT,
    ConsoleWorkspace,
    console_environ,
    console_in_thread,
    copy_console_workspace,
)
from tests.support.serving import serving_in_thread


@pytest.fixture
def workspace(console_template: ConsoleWorkspace, tmp_path: Path) -> ConsoleWorkspace:
    return copy_console_workspace(console_template, tmp_path / "ws")


Opener = Callable[..., Any]


@pytest.fixture
def console(workspace: ConsoleWorkspace) -> Opener:
    """Open the console on the test's workspace with the settings given."""

    def open_console(**settings: Any) -> Any:
        return console_in_thread(workspace.root, **settings)

    return open_console


def sign_in(client: Client, token: str) -> str:
    """Sign in with ``token``; the session's CSRF token."""
    form = client.get("/sign-in")
    assert form.status_code == 200
    nonce = _field(form.text, "sign_in_token")
    answer = client.post("/sign-in", data={"token": token, "sign_in_token": nonce, "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf(client)


def csrf(client: Client, path: str = "/promotions") -> str:
    return _field(client.get(path).text, "csrf_token")


def _field(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def events(workspace: ConsoleWorkspace, action: str) -> list[Any]:
    ctx = open_workspace(workspace.root, environ=console_environ())
    try:
        return audit_service.audit_log(ctx, action=action, limit=None)
    finally:
        ctx.close()


def live(client: Client) -> str:
    page = client.get("/").text
    row = page[page.index(f">{MODEL}</a>") :]
    start = row.index("@")
    return row[start : row.index("</a>", start)]


def test_local_mode_acts_as_the_local_user_behind_strict_headers(console: Opener) -> None:
    with console() as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "ada" in page.text
        assert "local user" in page.text
        assert MODEL in page.text
        # Data reaches the page as text only: the alert on a feature named <script>.
        assert SCRIPT not in page.text
        assert "&lt;script&gt;" in page.text
        assert "http://" not in page.text
        assert "https://" not in page.text
        assert client.get("/static/console.css").status_code == 200
        assert client.get("/static/console.js").status_code == 200
        # A name rebound to this machine does not reach a console that trusts loopback.
        assert client.get("/", headers={"host": "evil.example"}).status_code == 421


def test_beyond_loopback_a_visitor_signs_in_with_a_token(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(host="0.0.0.0") as client:
        first = client.get("/promotions")
        assert first.status_code == 303
        assert first.headers["location"] == "/sign-in?next=/promotions"
        form = client.get("/sign-in")
        nonce = _field(form.text, "sign_in_token")
        wrong = client.post("/sign-in", data={"token": "nope", "sign_in_token": nonce})
        assert wrong.status_code == 401
        assert "not known here" in wrong.text
        # Every sign-in form carries a fresh nonce; the one refused is spent.
        again = client.post(
            "/sign-in", data={"token": workspace.tokens["maria"], "sign_in_token": nonce}
        )
        assert again.status_code == 403
        answer = client.post(
            "/sign-in",
            data={
                "token": workspace.tokens["maria"],
                "sign_in_token": _field(again.text, "sign_in_token"),
                "next": "/runs",
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/runs"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "max-age=" in cookie
        assert "secure" not in cookie
        assert workspace.tokens["maria"] not in answer.headers["set-cookie"]
        page = client.get("/")
        assert page.status_code == 200
        assert "maria" in page.text
        assert "approver" in page.text
    signed_in = events(workspace, "console.signed_in")
    assert [e.actor for e in signed_in] == ["maria"]


def test_a_sign_in_form_from_elsewhere_is_refused(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(auth=True) as client:
        answer = client.post("/sign-in", data={"token": workspace.tokens["val"]})
        assert answer.status_code == 403
        assert "pathtolive_session" not in answer.headers.get("set-cookie", "")


def test_cookies_are_secure_behind_https_only_when_told_to_trust_the_proxy(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    for trusted in (False, True):
        with console(auth=True, trust_forwarded_proto=trusted) as client:
            nonce = _field(client.get("/sign-in").text, "sign_in_token")
            answer = client.post(
                "/sign-in",
                data={"token": workspace.tokens["val"], "sign_in_token": nonce},
                headers={"x-forwarded-proto": "https"},
            )
            assert ("secure" in answer.headers["set-cookie"].lower()) is trusted


def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused_and_audited(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["val"])
        page = client.get("/promotions").text
        assert f"{MODEL}@2" in page
        assert "Approve" not in page
        assert "Roll back" not in page
        assert "Withdraw" not in page
        forged = client.post(
            "/promotions/approve",
            data={"csrf_token": token, "ref": f"{MODEL}@2", "alias": "live"},
        )
        assert forged.status_code == 403
        assert "val (viewer) may not approve promotions" in forged.text
        assert live(client) == "@1"
    refused = events(workspace, "console.refused")
    assert [(e.actor, e.details["doing"]) for e in refused] == [("val", "approve promotions")]


def test_a_post_without_the_sessions_csrf_token_is_refused(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(auth=True) as client:
        sign_in(client, workspace.tokens["maria"])
        for token in ("", "a" * 43):
            answer = client.post(
                "/promotions/approve",
                data={"csrf_token": token, "ref": f"{MODEL}@2", "alias": "live"},
            )
            assert answer.status_code == 403
            assert "CSRF" in answer.text
        assert live(client) == "@1"
        cross = client.post(
            "/promotions/approve",
            data={"csrf_token": csrf(client), "ref": f"{MODEL}@2"},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403
        assert live(client) == "@1"


def test_four_eyes_refuses_the_author_then_another_approver_moves_live_and_rolls_back(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    target = {"ref": f"{MODEL}@2", "alias": "live"}
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["ada"])
        # Told before trying; nothing waits for her on the overview.
        assert (
            "You may not approve it: ada trained it; four-eyes needs another approver."
            in client.get("/promotions").text
        )
        assert "Nothing waits for you." in client.get("/").text
        by_author = client.post("/promotions/approve", data={"csrf_token": token, **target})
        assert by_author.status_code == 403
        assert "ada trained it; four-eyes needs another approver" in by_author.text
        assert live(client) == "@1"
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["maria"])
        assert "Nothing waits for you." not in client.get("/").text
        assert "You may not approve it" not in client.get("/promotions").text
        approved = client.post(
            "/promotions/approve", data={"csrf_token": token, "comment": "looks good", **target}
        )
        assert approved.status_code == 303, approved.text
        after = client.get("/promotions").text
        assert f"Approved: {MODEL}@2 is now live." in after
        assert live(client) == "@2"
        rolled = client.post(
            "/promotions/rollback",
            data={"csrf_token": token, "model": MODEL, "alias": "live", "reason": "canary"},
        )
        assert rolled.status_code == 303, rolled.text
        assert live(client) == "@1"
    approvals = events(workspace, "promotion.approved")
    assert [(e.actor, e.details["comment"]) for e in approvals] == [("maria", "looks good")]
    assert [e.actor for e in events(workspace, "promotion.approval_refused")] == ["ada"]
    assert [e.actor for e in events(workspace, "promotion.rolled_back")] == ["maria"]


def test_an_approver_refuses_a_promotion_saying_why(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    target = {"ref": f"{MODEL}@2", "alias": "live"}
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["maria"])
        silent = client.post("/promotions/refuse", data={"csrf_token": token, **target})
        assert silent.status_code == 400
        assert "say why" in silent.text
        refused = client.post(
            "/promotions/refuse", data={"csrf_token": token, "reason": SCRIPT, **target}
        )
        assert refused.status_code == 303
        page = client.get("/promotions").text
        assert "No promotion waits for a decision." in page
        assert SCRIPT not in page
        assert "maria refused: &lt;script&gt;" in page
    declined = events(workspace, "promotion.declined")
    assert [(e.actor, e.details["reason"]) for e in declined] == [("maria", SCRIPT)]


def test_the_requester_withdraws_and_others_see_no_withdraw_button(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(auth=True) as client:
        sign_in(client, workspace.tokens["maria"])
        assert "Withdraw" not in client.get("/promotions").text
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["sam"])
        page = client.get("/promotions").text
        assert "Withdraw" in page
        assert "Approve" not in page
        answer = client.post(
            "/promotions/withdraw",
            data={"csrf_token": token, "ref": f"{MODEL}@2", "alias": "live"},
        )
        assert answer.status_code == 303
    assert [e.actor for e in events(workspace, "promotion.withdrawn")] == ["sam"]


def test_sign_out_ends_the_session(console: Opener, workspace: ConsoleWorkspace) -> None:
    with console(auth=True) as client:
        token = sign_in(client, workspace.tokens["val"])
        out = client.post("/sign-out", data={"csrf_token": token})
        assert out.status_code == 303
        assert client.get("/").status_code == 303
    assert [e.actor for e in events(workspace, "console.signed_out")] == ["val"]


def test_a_revoked_token_ends_its_sessions(console: Opener, workspace: ConsoleWorkspace) -> None:
    with console(auth=True, recheck_seconds=0.2) as client:
        sign_in(client, workspace.tokens["val"])
        assert client.get("/").status_code == 200
        ctx = open_workspace(workspace.root, environ=console_environ())
        try:
            viewer = next(t for t in token_service.list_tokens(ctx) if t.principal == "val")
            token_service.revoke_token(ctx, viewer.token_id)
        finally:
            ctx.close()
        deadline = time.monotonic() + 5
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status = client.get("/").status_code
            time.sleep(0.05)
        assert status == 303


def test_serve_ui_mounts_the_console_beside_the_prediction_routes(
    workspace: ConsoleWorkspace,
) -> None:
    with serving_in_thread(workspace.root, environ=console_environ(), ui=True) as server:
        page = httpx.get(f"{server.url}/ui/", timeout=30)
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert 'href="/ui/promotions"' in page.text
        assert httpx.get(f"{server.url}/ui/static/console.css").status_code == 200
        # The prediction routes are the server's own: no console middleware on them.
        models = httpx.get(f"{server.url}/v1/models")
        assert models.status_code == 200
        assert "content-security-policy" not in models.headers


def test_serve_ui_with_tokens_signs_console_visitors_in_and_keeps_bearer_tokens_for_the_api(
    workspace: ConsoleWorkspace,
) -> None:
    with (
        serving_in_thread(workspace.root, environ=console_environ(), ui=True, auth=True) as server,
        Client(base_url=server.url, follow_redirects=False, timeout=30) as client,
    ):
        assert client.get("/v1/models").status_code == 401
        first = client.get("/ui/promotions")
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/sign-in?next=/promotions"
        nonce = _field(client.get("/ui/sign-in").text, "sign_in_token")
        answer = client.post(
            "/ui/sign-in",
            data={"token": workspace.tokens["val"], "sign_in_token": nonce, "next": "/promotions"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/promotions"
        assert "path=/ui" in answer.headers["set-cookie"].lower()
        assert "val" in client.get("/ui/promotions").text
        # The session is the console's: the API still wants a bearer token.
        assert client.get("/v1/models").status_code == 401


def test_serve_ui_needs_a_single_worker(workspace: ConsoleWorkspace) -> None:
    result = run_in_process(
        ["serve", "--ui", "--workers", "2"], cwd=workspace.root, environ=console_environ()
    )
    assert result.code != 0
    assert "needs one worker" in result.stderr


def test_in_local_mode_forms_need_the_csrf_token_too(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    target = {"ref": f"{MODEL}@2", "alias": "live", "reason": "no"}
    with console() as client:
        # A page elsewhere can make the browser post to loopback, but cannot read the token.
        forged = client.post("/promotions/refuse", data=target)
        assert forged.status_code == 403
        refused = client.post("/promotions/refuse", data={"csrf_token": csrf(client), **target})
        assert refused.status_code == 303
    refusals = events(workspace, "console.refused")
    assert [(e.actor, e.details["doing"]) for e in refusals] == [("ada", "refuse promotions")]
    assert [e.actor for e in events(workspace, "promotion.declined")] == ["ada"]


def test_a_session_ends_when_it_expires(console: Opener, workspace: ConsoleWorkspace) -> None:
    with console(auth=True, session_hours=3 / 3600) as client:
        sign_in(client, workspace.tokens["val"])
        deadline = time.monotonic() + 15
        statuses = [client.get("/").status_code]
        while statuses[-1] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            statuses.append(client.get("/").status_code)
        assert statuses[0] == 200
        assert statuses[-1] == 303
        assert client.get("/").headers["location"] == "/sign-in"


def test_the_cli_refuses_a_promotion_with_the_same_event(workspace: ConsoleWorkspace) -> None:
    ref = f"{MODEL}@2"

    def refuse(*args: str, token: str) -> Any:
        return run_in_process(
            ["promotions", "refuse", ref, *args],
            cwd=workspace.root,
            environ=console_environ(PATHTOLIVE_TOKEN=token),
        )

    silent = refuse("--reason", " ", token=workspace.tokens["maria"])
    assert silent.code != 0
    assert "say why" in silent.stderr
    assert refuse("--reason", "no", token=workspace.tokens["val"]).code != 0
    done = refuse("--reason", "too slow", "--json", token=workspace.tokens["maria"])
    assert done.code == 0, done.stderr
    assert done.json()["status"] == "refused"
    declined = events(workspace, "promotion.declined")
    assert [(e.actor, e.details["reason"]) for e in declined] == [("maria", "too slow")]


def test_failed_sign_ins_are_limited_per_address_and_audited_without_the_token(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    guesses = [f"guess-{n}-{'x' * 20}" for n in range(3)]
    # Behind a trusted proxy each visitor is counted by the address the proxy saw.
    with console(auth=True, trust_forwarded_proto=True, sign_in_failures=3) as client:

        def attempt(token: str, address: str) -> httpx.Response:
            nonce = _field(client.get("/sign-in").text, "sign_in_token")
            return client.post(
                "/sign-in",
                data={"token": token, "sign_in_token": nonce},
                headers={"x-forwarded-for": f"192.0.2.1, {address}"},
            )

        for guess in guesses:
            assert attempt(guess, "203.0.113.7").status_code == 401
        # Refused before the token is looked at, even a good one.
        held = attempt(workspace.tokens["val"], "203.0.113.7")
        assert held.status_code == 429
        assert 0 < int(held.headers["retry-after"]) <= 300
        assert "too many failed sign-ins from this address: try again in" in held.text
        assert "pathtolive_session" not in held.headers.get("set-cookie", "")
        elsewhere = attempt(workspace.tokens["val"], "198.51.100.2")
        assert elsewhere.status_code == 303
    failed = sorted(events(workspace, "console.sign_in_failed"), key=lambda e: e.seq)
    assert [(e.actor, e.details["address"], e.details["failures"]) for e in failed] == [
        ("anonymous", "203.0.113.7", n) for n in (1, 2, 3)
    ]
    assert "wait_seconds" in failed[-1].details
    assert not any(guess in str(e.details) for e in failed for guess in guesses)
    assert [e.actor for e in events(workspace, "console.signed_in")] == ["val"]


def test_beyond_the_overall_limit_only_addresses_that_failed_wait(
    console: Opener, workspace: ConsoleWorkspace
) -> None:
    with console(
        auth=True, trust_forwarded_proto=True, sign_in_failures=5, sign_in_failures_overall=2
    ) as client:

        def attempt(token: str, address: str) -> int:
            nonce = _field(client.get("/sign-in").text, "sign_in_token")
            return client.post(
                "/sign-in",
                data={"token": token, "sign_in_token": nonce},
                headers={"x-forwarded-for": address},
            ).status_code

        assert [attempt("wrong", address) for address in ("192.0.2.1", "192.0.2.2")] == [401, 401]
        assert attempt(workspace.tokens["val"], "192.0.2.1") == 429
        assert attempt(workspace.tokens["val"], "192.0.2.3") == 303
