"""Asking an external baseline for its answers on a holdout, and keeping them.

The holdout's feature rows go to the endpoint of a ``[baselines.NAME]`` table (see
:mod:`pathtolive.gates.external`) in batches of ``batch_rows``, each request within
``timeout_seconds``, retried with a doubling back-off on a timeout, a lost connection, a
429 or a 5xx, and started no faster than ``rate_limit_per_second``. The credential is read
from the environment variable ``token_env`` names at the moment of the call; it is sent
in a header and never written anywhere.

The answers are stored as one JSON object in the artifact store, content-addressed, with
what asked for them (the baseline's URL, protocol or adapter, the holdout's dataset
version and the BLAKE3 of the rows sent). The gate report names that object's digest, so
the comparison can be audited, and redone with ``gates check --offline``, without calling
the vendor again. Any problem (no answer, a timeout after the retries, an error status,
answers of the wrong shape or count) is an :class:`ExternalBaselineFailed` whose one-line
message names the endpoint; the gates turn it into a failing ``beat_baseline``, never a
pass.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from pathtolive.errors import ConfigError, MissingExtraError, NotFoundError
from pathtolive.gates.external import (
    Adapter,
    ExternalBaseline,
    WrongAnswerError,
    answers_to_predictions,
    protocol_answers,
    protocol_request,
    request_rows,
)
from pathtolive.gates.metrics import Task
from pathtolive.gates.predictions import Predictions
from pathtolive.hashing import hash_bytes
from pathtolive.redaction import MASK
from pathtolive.service.context import ServiceContext

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ANSWERS_FORMAT",
    "ExternalAnswers",
    "ExternalBaselineFailed",
    "ask_external_baseline",
    "read_answers",
]

ANSWERS_FORMAT = "pathtolive.external-answers/1"
"""The ``format`` of a stored answers object."""

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_SECONDS = 30.0


class ExternalBaselineFailed(Exception):
    """The external baseline gave no usable answers; ``message`` says which endpoint and
    what went wrong, in one line without any credential."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ExternalAnswers:
    """An external baseline's predictions for the holdout, and where they are kept:
    ``digest`` of the stored answers object, ``key`` (what asked for them, hashed) and
    whether they were ``reused`` from an earlier check rather than asked for."""

    baseline: ExternalBaseline
    predictions: Predictions
    digest: str
    key: str
    rows: int
    requests: int
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        """What the gate report keeps: enough to find the answers and to see what was
        asked, and no credential."""
        return {
            "baseline": self.baseline.name,
            "url": self.baseline.shown_url,
            "speaks": self.baseline.speaks,
            "answers_digest": self.digest,
            "key": self.key,
            "rows": self.rows,
            "requests": self.requests,
            "reused": self.reused,
        }


def ask_external_baseline(
    ctx: ServiceContext,
    baseline: ExternalBaseline,
    features: pd.DataFrame,
    *,
    task: Task,
    classes: Sequence[Any] | None,
    dataset: str,
    recorded: Mapping[str, Any] | None = None,
    offline: bool = False,
) -> ExternalAnswers:
    """The predictions of ``baseline`` for the rows of ``features`` (the holdout of
    dataset version ``dataset``), stored as an answers object.

    ``recorded`` is what an earlier report kept (:meth:`ExternalAnswers.to_dict`); with
    ``offline`` its answers are read back instead of calling the endpoint, provided they
    were asked for the same rows of the same baseline. ``ExternalBaselineFailed`` when
    there are no usable answers."""
    columns = [str(column) for column in features.columns]
    rows = request_rows(features)
    rows_digest = hash_bytes(_encode({"columns": columns, "rows": rows}))
    key = hash_bytes(_encode({"baseline": baseline.identity(), "rows": rows_digest}))
    if offline:
        return _reuse(ctx, baseline, recorded, key, task, classes)
    answers, requests = _ask(ctx, baseline, features, columns, rows, task)
    predictions = _predictions(baseline, answers, task, classes)
    document = {
        "format": ANSWERS_FORMAT,
        "baseline": baseline.identity(),
        "key": key,
        "holdout": {"dataset": dataset, "rows": len(rows), "rows_digest": rows_digest},
        "columns": columns,
        "task": task,
        "classes": None if classes is None else list(classes),
        "answered_at": datetime.now(UTC).isoformat(),
        "answers": answers,
    }
    stored = ctx.artifacts.put_bytes(_encode(document))
    return ExternalAnswers(
        baseline, predictions, stored.digest, key, len(rows), requests, reused=False
    )


def read_answers(ctx: ServiceContext, digest: str) -> dict[str, Any]:
    """The stored answers object ``digest`` (verified by its hash as it is read)."""
    document = json.loads(ctx.artifacts.get_bytes(digest))
    if not isinstance(document, dict) or document.get("format") != ANSWERS_FORMAT:
        raise NotFoundError(f"object {digest[:16]}… is not a stored set of baseline answers")
    return cast(dict[str, Any], document)


def _reuse(
    ctx: ServiceContext,
    baseline: ExternalBaseline,
    recorded: Mapping[str, Any] | None,
    key: str,
    task: Task,
    classes: Sequence[Any] | None,
) -> ExternalAnswers:
    where = f"the external baseline {baseline.name!r} ({baseline.shown_url})"
    digest = None if recorded is None else recorded.get("answers_digest")
    if not isinstance(digest, str) or recorded is None or recorded.get("key") != key:
        raise ExternalBaselineFailed(
            f"{where}: no answers are recorded for these holdout rows; run 'gates check' "
            "without --offline once to ask it"
        )
    try:
        document = read_answers(ctx, digest)
    except NotFoundError as exc:
        raise ExternalBaselineFailed(f"{where}: the recorded answers are gone: {exc}") from None
    answers = document["answers"]
    predictions = _predictions(baseline, answers, task, classes)
    return ExternalAnswers(
        baseline, predictions, digest, key, len(answers), requests=0, reused=True
    )


def _predictions(
    baseline: ExternalBaseline, answers: list[Any], task: Task, classes: Sequence[Any] | None
) -> Predictions:
    try:
        return answers_to_predictions(answers, task, classes, baseline.classes)
    except WrongAnswerError as exc:
        raise ExternalBaselineFailed(
            f"the external baseline {baseline.name!r} ({baseline.shown_url}) answered in the "
            f"wrong shape: {exc}"
        ) from None


# -- calling the endpoint ------------------------------------------------------------------


def _ask(
    ctx: ServiceContext,
    baseline: ExternalBaseline,
    features: pd.DataFrame,
    columns: list[str],
    rows: list[list[Any]],
    task: Task,
) -> tuple[list[Any], int]:
    try:
        import httpx
    except ImportError as exc:
        raise MissingExtraError(
            "an external baseline is called with httpx, which is not installed: "
            "pip install 'pathtolive[external]'"
        ) from exc
    token = _token(ctx, baseline)
    adapter = None if baseline.adapter is None else _load_adapter(ctx.settings.root, baseline)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token is not None:
        headers[baseline.token_header] = (
            f"Bearer {token}" if baseline.token_header.lower() == "authorization" else token
        )
    caller = _Caller(baseline, token)
    answers: list[Any] = []
    with httpx.Client(timeout=baseline.timeout_seconds, headers=headers) as client:
        for start in range(0, len(rows), baseline.batch_rows):
            batch = rows[start : start + baseline.batch_rows]
            span = f"rows {start} to {start + len(batch) - 1}"
            if adapter is None:
                assert baseline.protocol is not None
                body = protocol_request(baseline.protocol, columns, batch)
            else:
                frame = features.iloc[start : start + len(batch)]
                body = caller.adapted("request()", partial(adapter.request, frame))
            answer = caller.post(client, body, span)
            try:
                if adapter is None:
                    assert baseline.protocol is not None
                    found = protocol_answers(baseline.protocol, answer, len(batch), task)
                else:
                    read = caller.adapted("answers()", partial(adapter.answers, answer, len(batch)))
                    if not isinstance(read, list | tuple):
                        raise WrongAnswerError(
                            f"the adapter read {type(read).__name__}, not a list of answers"
                        )
                    found = list(read)
                    if len(found) != len(batch):
                        raise WrongAnswerError(
                            f"sent {len(batch)} rows but the adapter read {len(found)} answers"
                        )
            except WrongAnswerError as exc:
                raise caller.failed(f"answered {span} in the wrong shape: {exc}") from None
            answers.extend(found)
    return answers, caller.requests


class _Caller:
    """One endpoint's requests: the rate limit, the retries and the failure messages."""

    def __init__(self, baseline: ExternalBaseline, token: str | None) -> None:
        self.baseline = baseline
        self.token = token
        self.requests = 0
        self._next_start = 0.0

    def failed(self, problem: str) -> ExternalBaselineFailed:
        message = (
            f"the external baseline {self.baseline.name!r} ({self.baseline.shown_url}) {problem}"
        )
        if self.token:
            message = message.replace(self.token, MASK)
        return ExternalBaselineFailed(" ".join(message.split()))

    def adapted(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # the workspace's own code: any failure is its answer
            raise self.failed(
                f"could not be used: adapter {self.baseline.adapter} {what} raised "
                f"{type(exc).__name__}: {exc}"
            ) from None

    def post(self, client: httpx.Client, body: Any, span: str) -> Any:
        import httpx

        tries = self.baseline.retries + 1
        problem = ""
        for attempt in range(tries):
            if attempt:
                time.sleep(self.baseline.backoff_seconds * 2 ** (attempt - 1))
            self._pace()
            self.requests += 1
            try:
                response = client.post(self.baseline.url, content=_encode(body))
            except httpx.TimeoutException:
                problem = f"did not answer {span} within {self.baseline.timeout_seconds:g} s"
                continue
            except httpx.TransportError as exc:
                problem = f"could not be reached ({type(exc).__name__}: {exc})"
                continue
            if response.status_code in _RETRY_STATUSES:
                problem = f"answered {span} with HTTP {response.status_code}"
                self._wait_as_told(response)
                continue
            if response.status_code >= 400:
                raise self.failed(
                    f"refused {span} with HTTP {response.status_code}{_excerpt(response)}"
                )
            try:
                return json.loads(response.content)
            except ValueError:
                raise self.failed(
                    f"answered {span} with a body that is not JSON{_excerpt(response)}"
                ) from None
        raise self.failed(f"{problem}, after {tries} {'try' if tries == 1 else 'tries'}")

    def _pace(self) -> None:
        rate = self.baseline.rate_limit_per_second
        now = time.monotonic()
        if rate is not None and now < self._next_start:
            time.sleep(self._next_start - now)
            now = self._next_start
        self._next_start = now + (0.0 if rate is None else 1.0 / rate)

    def _wait_as_told(self, response: httpx.Response) -> None:
        told = response.headers.get("Retry-After", "")
        try:
            seconds = min(float(told), _MAX_RETRY_AFTER_SECONDS)
        except ValueError:
            return
        self._next_start = max(self._next_start, time.monotonic() + seconds)


def _encode(body: Any) -> bytes:
    """Compact JSON with sorted keys, so equal content gives equal bytes (and digests);
    NumPy scalars and arrays (an adapter's body may hold them) as plain values."""
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_plain
    ).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:200]
    return f": {text}" if text else ""


def _token(ctx: ServiceContext, baseline: ExternalBaseline) -> str | None:
    if baseline.token_env is None:
        return None
    token = ctx.settings.environ.get(baseline.token_env)
    if not token:
        raise ExternalBaselineFailed(
            f"the external baseline {baseline.name!r} ({baseline.shown_url}) was not called: "
            f"the environment variable {baseline.token_env}, which [baselines.{baseline.name}] "
            "token_env names, is not set"
        )
    return token


def _load_adapter(root: Path, baseline: ExternalBaseline) -> Adapter:
    """The adapter object ``module:object`` from the workspace's code: ``module`` is a
    dotted path under the workspace folder (``adapters.vendor`` is
    ``adapters/vendor.py``), loaded by file so nothing on ``sys.path`` can stand in for
    it."""
    assert baseline.adapter is not None
    module_name, _, attribute = baseline.adapter.partition(":")
    parts = module_name.split(".")
    path = root.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        path = root.joinpath(*parts, "__init__.py")
    where = f"[baselines.{baseline.name}] adapter = {baseline.adapter!r}"
    if not all(part.isidentifier() for part in parts) or not path.is_file():
        raise ConfigError(
            f"{where}: no module {module_name} in the workspace; put it in "
            f"{Path(*parts).with_suffix('.py')} beside pathtolive.toml"
        )
    unique = f"_pathtolive_adapters.{baseline.name.replace('-', '_')}.{module_name}"
    spec = importlib.util.spec_from_file_location(unique, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(unique, None)
        raise ConfigError(f"{where}: importing it raised {type(exc).__name__}: {exc}") from exc
    adapter = getattr(module, attribute, None)
    if (
        adapter is None
        or not callable(getattr(adapter, "request", None))
        or not callable(getattr(adapter, "answers", None))
    ):
        raise ConfigError(
            f"{where}: {module_name} has no object {attribute!r} with request(batch) and "
            "answers(body, rows)"
        )
    return cast(Adapter, adapter)
