"""Who may move an alias, and whom the workspace trusts without a token, through the
service layer on a real workspace (SQLite, then PostgreSQL).

- An alias with a promotion policy (``live``; any alias ``[models.NAME.promotion]``
  names) moves only by promotion, approval or rollback, or by an admin's override with a
  reason, audited. ``canary`` and ``shadow`` move with ``deploy``.
- On a shared database every command needs a token unless an admin set
  ``[auth] local_role``; four-eyes counts only a token's principal, and compares names
  case-folded and NFKC-normalised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive import env
from pathtolive.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
)
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.tokens import create_token, first_admin_token
from pathtolive.service.workspace import init_workspace, open_workspace
from tests.support.cli import run_in_process

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
FEATURES = ["mean radius", "mean texture"]
FULLWIDTH_ADA = "\uff21\uff24\uff21"  # "ADA" in full-width letters
FULLWIDTH_CAROL = "\uff43\uff41\uff52\uff4f\uff4c"  # "carol" in full-width letters


@dataclass
class Setup:
    ctx: ServiceContext
    root: Path
    environ: dict[str, str]
    opened: list[ServiceContext]

    def reopen(
        self, *, toml: str = "", token: str | None = None, user: str | None = None
    ) -> ServiceContext:
        """The workspace with ``toml`` appended to its file, as a token's holder or a
        local user."""
        if toml:
            path = self.root / "pathtolive.toml"
            path.write_text(path.read_text() + toml)
        environ = dict(self.environ)
        if token is not None:
            environ[env.TOKEN] = token
        if user is not None:
            environ[env.USER] = user
        ctx = open_workspace(
            self.root, environ=environ, metadata_url=self.ctx.settings.metadata_url
        )
        self.opened.append(ctx)
        return ctx

    def token(self, principal: str, role: str) -> ServiceContext:
        return self.reopen(token=create_token(self.ctx, principal=principal, role=role).secret)

    def live(self) -> int | None:
        with self.ctx.metadata.read() as session:
            return session.alias_version("risk", "live")

    def counts(self) -> dict[str, int]:
        with self.ctx.metadata.read() as session:
            return session.row_counts()

    def events(self, action: str) -> list[tuple[str, dict[str, object]]]:
        with self.ctx.metadata.read() as session:
            return [(e.actor, e.details) for e in session.iter_audit_events(action=action)]


@pytest.fixture(scope="module")
def fitted() -> list[LogisticRegression]:
    frame = load_breast_cancer(as_frame=True).frame
    return [
        LogisticRegression(C=c, max_iter=5000).fit(frame[FEATURES], frame["target"])
        for c in (0.1, 1)
    ]


@pytest.fixture
def setup(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str], fitted: list[Any]
) -> Iterator[Setup]:
    """``risk`` versions 1 (live, by an admin's override) and 2, registered by the local
    admin ``ada``; on PostgreSQL the workspace trusts local users (``local_role``)."""
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    for model in fitted:
        model_service.register_model(ctx, model, "risk")
    model_service.set_alias(ctx, "risk@1", "live", override="the first release")
    made = Setup(ctx, tmp_path / "ws", clean_environ, [])
    yield made
    for opened in made.opened:
        opened.close()
    ctx.close()


# -- defect: `alias set` moved live past every gate and approval ------------------------


def test_a_scientist_may_not_set_an_alias_under_four_eyes(setup: Setup) -> None:
    four_eyes = setup.reopen(toml='[models.risk.promotion]\nlive = "four-eyes"\n')
    scientist = setup.reopen(token=create_token(setup.ctx, principal="s2", role="scientist").secret)
    before = setup.counts()
    with pytest.raises(PermissionDeniedError, match="moves only through promotion") as caught:
        model_service.set_alias(scientist, "risk@2", "live", reason="x")
    message = str(caught.value)
    assert "'four-eyes'" in message
    assert "pathtolive promote risk@2 --to live" in message
    assert caught.value.exit_code == 7
    # An override is an admin's; an admin too needs one.
    with pytest.raises(PermissionDeniedError, match=r"needs the role admin"):
        model_service.set_alias(scientist, "risk@2", "live", override="hurry")
    with pytest.raises(PermissionDeniedError, match="moves only through promotion"):
        model_service.set_alias(four_eyes, "risk@2", "live", reason="x")
    assert setup.counts() == before
    assert setup.live() == 1


def test_live_without_configuration_still_has_a_policy(setup: Setup) -> None:
    """live's policy defaults to approval, so it is never an alias to set freely."""
    scientist = setup.token("sam", "scientist")
    with pytest.raises(PermissionDeniedError, match="promotion policy 'approval'"):
        model_service.set_alias(scientist, "risk@2", "live")
    assert setup.live() == 1


def test_an_admin_override_moves_the_alias_and_is_audited(setup: Setup) -> None:
    admin = setup.reopen(toml='[models.risk.promotion]\nlive = "four-eyes"\n')
    for blank in ("", "  "):
        with pytest.raises(InvalidInputError, match="needs a reason"):
            model_service.set_alias(admin, "risk@2", "live", override=blank)
    move = model_service.set_alias(
        admin, "risk@2", "live", reason="incident 42", override="hotfix for the outage"
    )
    assert (move.from_version, move.to_version) == (1, 2)
    assert move.reason == "override: hotfix for the outage"
    overridden = setup.events("alias.overridden")
    assert overridden[-1] == (
        "ada",
        {
            "policy": "four-eyes",
            "from": 1,
            "to": 2,
            "reason": "hotfix for the outage",
            "role": "admin",
        },
    )
    _, moved = setup.events("alias.moved")[-1]
    assert moved["override"] == "hotfix for the outage"
    assert moved["reason"] == "incident 42"


def test_aliases_without_a_policy_stay_free_and_served_ones_move_by_deploy(
    setup: Setup,
) -> None:
    scientist = setup.token("sam", "scientist")
    assert model_service.set_alias(scientist, "risk@2", "staging").to_version == 2
    with pytest.raises(InvalidInputError, match="nothing to override"):
        model_service.set_alias(setup.ctx, "risk@1", "staging", override="why")
    for served in ("canary", "shadow"):
        with pytest.raises(PermissionDeniedError, match=f"pathtolive deploy risk --{served}"):
            model_service.set_alias(scientist, "risk@2", served)
    # An alias the promotion table names has a policy, even "auto".
    auto = setup.reopen(
        toml='[models.risk.promotion]\nstaging = "auto"\n',
        token=create_token(setup.ctx, principal="s2", role="scientist").secret,
    )
    with pytest.raises(PermissionDeniedError, match="promotion policy 'auto'"):
        model_service.set_alias(auto, "risk@1", "staging")


# -- defect: local trust on a shared database -------------------------------------------


def _pending_four_eyes(setup: Setup, *, requested_by: str) -> None:
    """A pending four-eyes promotion of risk@2 to live, asked for by ``requested_by``,
    whose gates compared it against live version 1."""
    with setup.ctx.metadata.write() as session:
        report_id = session.insert_gate_report(
            "risk",
            2,
            passed=True,
            report={"passed": True, "results": [], "champion_version": 1},
            at=T0,
            by=requested_by,
        )
        session.insert_promotion(
            "risk",
            2,
            alias="live",
            policy="four-eyes",
            status="pending",
            requested_by=requested_by,
            requested_at=T0,
            reason="better",
            gate_report_id=report_id,
        )


def test_four_eyes_never_counts_a_local_user_named_by_pathtolive_user(setup: Setup) -> None:
    """`PATHTOLIVE_USER=bob pathtolive approve` satisfied four-eyes alone: bob was only a
    name the requester typed. Only a token's principal counts."""
    _pending_four_eyes(setup, requested_by="ada")
    bob = setup.reopen(user="bob")  # local, with the workspace's local role (admin)
    assert not bob.actor().authenticated
    with pytest.raises(PermissionDeniedError, match="acts without a token") as caught:
        promotion_service.approve(bob, "risk@2")
    assert "PATHTOLIVE_TOKEN" in str(caught.value)
    assert setup.live() == 1
    assert [d["why"] for _, d in setup.events("promotion.approval_refused")] == [
        "bob acts without a token, and four-eyes counts only an approver a token vouches "
        "for; set PATHTOLIVE_TOKEN to an approver's token"
    ]
    # bob with a token of his own is a second pair of eyes.
    approved = promotion_service.approve(setup.token("bob", "approver"), "risk@2")
    assert (approved.status, setup.live()) == ("applied", 2)


@pytest.mark.parametrize("approver", ["Ada", "ADA", "ada"])
def test_four_eyes_compares_names_case_folded(setup: Setup, approver: str) -> None:
    """ada trained risk@2: a token for "Ada" is the same person."""
    _pending_four_eyes(setup, requested_by="someone")
    with pytest.raises(PermissionDeniedError, match="trained it"):
        promotion_service.approve(setup.token(approver, "approver"), "risk@2")
    assert setup.live() == 1


def test_four_eyes_compares_names_nfkc_normalised(setup: Setup, fitted: list[Any]) -> None:
    """Full-width letters are the same letters: a version trained by ADA and asked for
    by carol, both written in full-width letters, may be approved by neither ada nor
    Carol."""
    trainer = setup.reopen(user=FULLWIDTH_ADA)
    model_service.register_model(trainer, fitted[1], "risk")  # risk@3, trained by full-width ADA
    with setup.ctx.metadata.write() as session:
        report_id = session.insert_gate_report(
            "risk",
            3,
            passed=True,
            report={"passed": True, "results": [], "champion_version": 1},
            at=T0,
            by="x",
        )
        session.insert_promotion(
            "risk",
            3,
            alias="live",
            policy="four-eyes",
            status="pending",
            requested_by=FULLWIDTH_CAROL,
            requested_at=T0,
            reason="better",
            gate_report_id=report_id,
        )
    with pytest.raises(PermissionDeniedError, match="trained it"):
        promotion_service.approve(setup.token("ada", "approver"), "risk@3")
    with pytest.raises(PermissionDeniedError, match="asked for its promotion"):
        promotion_service.approve(setup.token("Carol", "approver"), "risk@3")
    assert setup.live() == 1
    promotion_service.approve(setup.token("dan", "approver"), "risk@3")
    assert setup.live() == 3


@pytest.mark.postgres
def test_a_shared_database_needs_a_token_unless_local_role_is_set(
    tmp_path: Path, postgres_url: str, clean_environ: dict[str, str]
) -> None:
    """Anyone with the PostgreSQL URL acted as the default admin role, could make admin
    tokens and approve as any name. Now a command without a token is refused."""
    root = tmp_path / "team"
    # As a team member's environment or checked-in workspace file would name it.
    shared = {**clean_environ, env.METADATA_URL: postgres_url}
    init_workspace(root, environ=shared).close()
    for user in ("ada", "bob"):
        ctx = open_workspace(root, environ={**shared, env.USER: user})
        with pytest.raises(AuthenticationError, match="needs a token") as caught:
            model_service.list_models(ctx)
        assert caught.value.exit_code == 7
        assert "postgres@" not in str(caught.value)  # no credentials in the message
        with pytest.raises(AuthenticationError, match="needs a token"):
            create_token(ctx, principal="mallory", role="admin")
        ctx.close()
    # The first admin token goes to the database's maker, once (init makes it).
    maker = open_workspace(root, environ=shared)
    first = first_admin_token(maker)
    assert (first.token.principal, first.token.role) == ("ada", "admin")
    with pytest.raises(ConflictError, match="has tokens already"):
        first_admin_token(maker)
    maker.close()
    refused = run_in_process(
        ["tokens", "create", "--user", "eve", "--role", "admin"], cwd=root, environ=shared
    )
    assert refused.code == 7
    assert "needs a token" in refused.stderr
    counts = open_workspace(root, environ=shared).metadata
    with counts.read() as session:
        assert session.row_counts()["tokens"] == 1
    counts.close()

    # An admin sets [auth] local_role explicitly: local users act with that role.
    config = root / "pathtolive.toml"
    config.write_text(config.read_text().replace('# local_role = "admin"', 'local_role = "admin"'))
    admin = open_workspace(root, environ=shared)
    created = create_token(admin, principal="sam", role="scientist")
    admin.close()
    config.write_text(config.read_text().replace('local_role = "admin"', 'local_role = "viewer"'))
    viewer = open_workspace(root, environ=shared)
    assert model_service.list_models(viewer) == []
    with pytest.raises(PermissionDeniedError, match=r"ada \(viewer\) may not create tokens"):
        create_token(viewer, principal="mallory", role="admin")
    viewer.close()
    # A token works whatever the local role.
    sam = open_workspace(root, environ={**shared, env.TOKEN: created.secret})
    assert (sam.actor().name, sam.actor().authenticated) == ("sam", True)
    sam.close()


def test_a_local_sqlite_workspace_trusts_its_local_user_as_before(
    tmp_path: Path, clean_environ: dict[str, str]
) -> None:
    ctx = init_workspace(tmp_path / "solo", environ=clean_environ)
    assert "local_role" not in ctx.settings.document.get("auth", {})
    actor = ctx.actor()
    assert (actor.name, actor.role.value, actor.authenticated) == ("ada", "admin", False)
    assert create_token(ctx, principal="sam", role="scientist").token.principal == "sam"
    ctx.close()
