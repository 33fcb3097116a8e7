"""Signing in with tokens of different roles, four-eyes, rollback, refusals, escaping,
sign-out and revocation, in Chromium against a real ``pathtolive ui``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pathtolive.service import audit as audit_service
from pathtolive.service.workspace import open_workspace
from tests.support.cli import run_in_process
from tests.support.console import MODEL, SCRIPT, console_environ

from .conftest import RunningConsole, Visitor

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.subprocess]

Open = Callable[[RunningConsole], Visitor]


def audit_actions(console: RunningConsole, action: str) -> list[Any]:
    ctx = open_workspace(console.workspace.root, environ=console_environ())
    try:
        return audit_service.audit_log(ctx, action=action, limit=None)
    finally:
        ctx.close()


def live_version(visitor: Visitor) -> str:
    visitor.visit("/", label="overview")
    row = visitor.page.get_by_role("row").filter(has_text=MODEL).first
    return str(row.get_by_role("cell").nth(1).inner_text()).strip()


@pytest.mark.parametrize(
    ("principal", "may_decide"),
    [("val", False), ("sam", False), ("maria", True), ("root", True)],
)
def test_each_role_sees_the_pages_and_only_the_buttons_it_may_use(
    visitor_on: Open, shared_console: RunningConsole, principal: str, may_decide: bool
) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in(principal)
    page = visitor.visit("/", label="overview")
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_role("link", name=MODEL).first.is_visible()
    page = visitor.visit("/promotions", label="promotions")
    assert page.get_by_role("link", name=f"{MODEL}@2").first.is_visible()
    assert (page.get_by_role("button", name="Approve").count() == 1) is may_decide
    assert (page.get_by_role("button", name="Refuse").count() == 1) is may_decide
    assert (page.get_by_role("button", name=f"Roll back {MODEL}").count() == 1) is may_decide


def test_a_viewers_forged_post_is_refused_with_403_and_audited(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("val")
    page = visitor.visit("/promotions", label="promotions")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        visitor.url("/promotions/approve"),
        form={"csrf_token": token, "ref": f"{MODEL}@2", "alias": "live"},
        headers={"origin": shared_console.url},
    )
    assert answer.status == 403
    assert "val (viewer) may not approve promotions" in answer.text()
    refused = audit_actions(shared_console, "console.refused")
    assert ("val", "approve promotions") in [(e.actor, e.details["doing"]) for e in refused]


def test_the_author_is_refused_then_another_approver_moves_live_and_rolls_back(
    visitor_on: Open, own_console: RunningConsole
) -> None:
    author = visitor_on(own_console)
    author.sign_in("ada")
    page = author.visit("/promotions", label="promotions")
    page.get_by_role("button", name="Approve").click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible()
    assert f"Approve {MODEL}@2" in dialog.inner_text()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("alert").inner_text() == (
        f"ada may not approve {MODEL}@2: ada trained it; four-eyes needs another approver"
    )
    # The refusal is a 403 page: the browser logs it, and it is what this step expects.
    assert any(": 403" in failure for failure in author.failed)
    author.errors.clear()
    author.failed.clear()
    author.check("refused")

    approver = visitor_on(own_console)
    approver.sign_in("maria")
    assert live_version(approver) == "@1"
    page = approver.visit("/promotions", label="promotions")
    page.get_by_label("Comment (kept with the approval)").fill("gates look good")
    page.get_by_role("button", name="Approve").click()
    with page.expect_navigation():
        page.locator("#confirm-dialog").get_by_role("button", name="Confirm").click()
    assert page.get_by_role("status").inner_text() == f"Approved: {MODEL}@2 is now live."
    approver.check("approved")
    assert live_version(approver) == "@2"

    page = approver.visit("/promotions", label="promotions")
    page.get_by_role("button", name=f"Roll back {MODEL}").click()
    with page.expect_navigation():
        page.locator("#confirm-dialog").get_by_role("button", name="Confirm").click()
    assert "Rolled back" in page.get_by_role("status").inner_text()
    assert live_version(approver) == "@1"
    approved = audit_actions(own_console, "promotion.approved")
    assert [(e.actor, e.details["comment"]) for e in approved] == [("maria", "gates look good")]


def test_names_and_reasons_from_data_render_as_text(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    visitor = visitor_on(shared_console)
    dialogs: list[str] = []
    visitor.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    visitor.sign_in("val")
    page = visitor.visit("/", label="overview")
    assert page.get_by_text(f"drift in {SCRIPT}").count() == 1
    page = visitor.visit("/promotions", label="promotions")
    assert page.get_by_text(SCRIPT).count() >= 1
    assert page.locator("script:not([src])").count() == 0
    assert dialogs == []


def test_sign_out_ends_the_session(visitor_on: Open, shared_console: RunningConsole) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("sam")
    page = visitor.visit("/", label="overview")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/sign-in")
    visitor.visit("/promotions", label="after sign-out")
    assert "/sign-in" in page.url
    assert page.get_by_role("heading", name="Sign in to pathtolive").is_visible()


def test_a_revoked_token_ends_its_session_within_seconds(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    root = shared_console.workspace.root

    def cli(*args: str) -> Any:
        done = run_in_process(args, cwd=root, environ=console_environ())
        assert done.code == 0, done.stderr
        return done.json()

    created = cli("tokens", "create", "--user", "rita", "--role", "viewer", "--json")
    shared_console.workspace.tokens["rita"] = created["secret"]
    visitor = visitor_on(shared_console)
    visitor.sign_in("rita")
    page = visitor.visit("/", label="overview")
    cli("tokens", "revoke", created["token"]["token_id"], "--json")
    deadline = time.monotonic() + 5
    while "/sign-in" not in page.url and time.monotonic() < deadline:
        page.reload()
        time.sleep(0.2)
    assert "/sign-in" in page.url
