"""External baselines: a model behind someone else's HTTP endpoint, as the thing to beat.

"Is the bespoke model worth building?" is often asked against a vendor's scoring API or
another team's service rather than a model pathtolive trains. Such a baseline is named
``baseline = "external:NAME"`` in ``[models.MODEL.gates]`` and described once, for every
model that compares with it, in ``[baselines.NAME]``::

    [baselines.vendor]
    url = "https://scoring.example.com/v1/models/risk:predict"
    protocol = "kserve-v1"        # kserve-v1, mlflow or v2; or adapter = "module:object"
    batch_rows = 500              # rows per request
    timeout_seconds = 10          # per request
    retries = 2                   # more tries on a timeout, a lost connection, 429 or 5xx
    backoff_seconds = 0.5         # wait before retry k: backoff_seconds * 2**(k - 1)
    rate_limit_per_second = 5     # most requests started per second
    token_env = "VENDOR_TOKEN"    # the credential's environment variable, never its value
    token_header = "Authorization"  # sent as "Bearer <token>"; another header gets it bare
    classes = [0, 1]              # the order of the answer's probability columns
    price_per_1k = 0.40           # what it charges per 1,000 predictions ([costs] currency)

This module is pure: it reads that table, shapes a batch of rows into each protocol's
request and each protocol's answer back into one answer per row, and turns the answers
into :class:`~pathtolive.gates.predictions.Predictions`. Calling the endpoint, and
keeping its answers, is :mod:`pathtolive.service.external_baseline`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, cast, get_args
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from pathtolive.config import WORKSPACE_FILE, check_choice, check_keys, table_at
from pathtolive.errors import ConfigError
from pathtolive.gates.metrics import Task
from pathtolive.gates.predictions import Predictions
from pathtolive.redaction import mask_url

__all__ = [
    "EXTERNAL_KEYS",
    "EXTERNAL_PREFIX",
    "PROTOCOLS",
    "Adapter",
    "ExternalBaseline",
    "ExternalProtocol",
    "WrongAnswerError",
    "answers_to_predictions",
    "external_name",
    "protocol_answers",
    "protocol_request",
    "request_rows",
]

EXTERNAL_PREFIX = "external:"
"""How ``[models.NAME.gates] baseline`` names an external baseline: ``external:NAME``."""

ExternalProtocol = Literal["kserve-v1", "mlflow", "v2"]
PROTOCOLS: tuple[ExternalProtocol, ...] = get_args(ExternalProtocol)

EXTERNAL_KEYS: tuple[str, ...] = (
    "url",
    "protocol",
    "adapter",
    "batch_rows",
    "timeout_seconds",
    "retries",
    "backoff_seconds",
    "rate_limit_per_second",
    "token_env",
    "token_header",
    "classes",
    "price_per_1k",
)
"""The keys of a ``[baselines.NAME]`` table."""


class WrongAnswerError(Exception):
    """An answer that is not what the protocol promises: the wrong shape, count or kind.
    The message is one line saying what was expected and what came."""


class Adapter(Protocol):
    """A vendor's own format, in the workspace's code: ``request`` turns a batch of rows
    into the JSON body to POST, ``answers`` the decoded JSON answer into one answer per
    row (a list of class probabilities, a probability of the positive class, a label or
    a value)."""

    def request(self, batch: pd.DataFrame) -> Any: ...

    def answers(self, body: Any, rows: int) -> Sequence[Any]: ...


@dataclass(frozen=True)
class ExternalBaseline:
    """A ``[baselines.NAME]`` table, checked. It never holds a credential: ``token_env``
    names the environment variable to read it from when the endpoint is called."""

    name: str
    url: str
    protocol: ExternalProtocol | None = "kserve-v1"
    adapter: str | None = None
    batch_rows: int = 500
    timeout_seconds: float = 10.0
    retries: int = 2
    backoff_seconds: float = 0.5
    rate_limit_per_second: float | None = None
    token_env: str | None = None
    token_header: str = "Authorization"
    classes: tuple[Any, ...] | None = None
    price_per_1k: float | None = None
    """What the vendor charges for 1,000 predictions, in the currency of ``[costs]``:
    what the cost of owning a model is compared with. None: not known."""

    @property
    def shown_url(self) -> str:
        """The URL without any password it may carry, for reports and messages."""
        return mask_url(self.url)

    @property
    def speaks(self) -> str:
        """The protocol, or ``adapter MODULE:OBJECT``."""
        return f"adapter {self.adapter}" if self.adapter else str(self.protocol)

    def identity(self) -> dict[str, Any]:
        """What decides the answers, besides the rows: kept with them and hashed into
        the key that finds them again. No credential is part of it."""
        return {
            "baseline": self.name,
            "url": self.shown_url,
            "protocol": self.protocol,
            "adapter": self.adapter,
            "classes": None if self.classes is None else list(self.classes),
        }

    @classmethod
    def from_toml(cls, name: str, document: Mapping[str, Any]) -> ExternalBaseline:
        """The baseline ``name`` from the workspace file's ``[baselines]`` table;
        ``ConfigError`` when it is missing or a key is wrong."""
        where = f"baselines.{name}"
        tables = table_at(document.get("baselines", {}), "baselines")
        if name not in tables:
            known = ", ".join(sorted(tables)) or "none"
            raise ConfigError(
                f"the baseline 'external:{name}' needs a [{where}] table in {WORKSPACE_FILE} "
                f"with its url and protocol; the external baselines are: {known}"
            )
        raw = table_at(tables[name], where)
        check_keys(raw, where, EXTERNAL_KEYS)
        url = raw.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"{where}.url in {WORKSPACE_FILE} must be the http(s) URL to POST rows to, "
                f"such as https://scoring.example.com/v1/models/risk:predict"
            )
        adapter = raw.get("adapter")
        protocol = raw.get("protocol")
        if adapter is not None:
            if protocol is not None:
                raise ConfigError(
                    f"{where} sets both protocol and adapter; an adapter speaks the vendor's "
                    "own format, so keep one of them"
                )
            if not isinstance(adapter, str) or adapter.count(":") != 1 or adapter[0] == ":":
                raise ConfigError(
                    f'{where}.adapter must be "module:object", such as "vendor_adapter:adapter", '
                    f"an object in the workspace's code with request() and answers()"
                )
        else:
            protocol = check_choice(
                protocol if protocol is not None else "kserve-v1",
                f"{where}.protocol",
                PROTOCOLS,
                kind="protocol",
            )
        token_env = raw.get("token_env")
        if token_env is not None and (not isinstance(token_env, str) or not token_env):
            raise ConfigError(
                f"{where}.token_env must name an environment variable, such as "
                '"VENDOR_TOKEN"; never write the token itself into the file'
            )
        header = raw.get("token_header", "Authorization")
        if not isinstance(header, str) or not header or ":" in header:
            raise ConfigError(f"{where}.token_header must be a header name, like X-Api-Key")
        classes = raw.get("classes")
        if classes is not None and (not isinstance(classes, list) or len(classes) < 2):
            raise ConfigError(
                f"{where}.classes must list the classes in the order of the answer's "
                "probability columns, like [0, 1]"
            )
        return cls(
            name=name,
            url=cast(str, url),
            protocol=None if adapter is not None else cast(ExternalProtocol, protocol),
            adapter=adapter,
            batch_rows=_whole(raw.get("batch_rows", 500), f"{where}.batch_rows", 1),
            timeout_seconds=_positive(raw.get("timeout_seconds", 10.0), f"{where}.timeout_seconds"),
            retries=_whole(raw.get("retries", 2), f"{where}.retries", 0),
            backoff_seconds=_positive(
                raw.get("backoff_seconds", 0.5), f"{where}.backoff_seconds", zero=True
            ),
            rate_limit_per_second=(
                None
                if raw.get("rate_limit_per_second") is None
                else _positive(raw["rate_limit_per_second"], f"{where}.rate_limit_per_second")
            ),
            token_env=token_env,
            token_header=header,
            classes=None if classes is None else tuple(classes),
            price_per_1k=(
                None
                if raw.get("price_per_1k") is None
                else _positive(raw["price_per_1k"], f"{where}.price_per_1k", zero=True)
            ),
        )


def external_name(baseline: str | None) -> str | None:
    """``NAME`` of a baseline setting ``external:NAME``; None for any other baseline."""
    if baseline is None or not baseline.startswith(EXTERNAL_PREFIX):
        return None
    return baseline[len(EXTERNAL_PREFIX) :]


# -- requests --------------------------------------------------------------------------


def request_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The rows of ``frame`` as JSON values, positionally: NaN and NaT as null, NumPy
    scalars as Python ones, times in ISO 8601. The same rows give the same JSON, which
    is what the answers' key hashes."""
    columns = [frame[column].tolist() for column in frame.columns]
    return [[_json_value(value) for value in row] for row in zip(*columns, strict=True)]


def protocol_request(
    protocol: ExternalProtocol, columns: Sequence[str], rows: list[list[Any]]
) -> dict[str, Any]:
    """The JSON body that asks an endpoint speaking ``protocol`` for ``rows``."""
    if protocol == "kserve-v1":
        return {"instances": [dict(zip(columns, row, strict=True)) for row in rows]}
    if protocol == "mlflow":
        return {"dataframe_split": {"columns": list(columns), "data": rows}}
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": _v2_datatype(values), "data": values}
            for name, values in zip(columns, map(list, by_column), strict=True)
        ],
    }


def protocol_answers(protocol: ExternalProtocol, body: Any, rows: int, task: Task) -> list[Any]:
    """One answer per row from an endpoint's decoded JSON answer; ``WrongAnswerError``
    when it is not the protocol's shape or does not hold ``rows`` answers."""
    if protocol in ("kserve-v1", "mlflow"):
        # MLflow's own server has answered both a bare list and {"predictions": [...]}.
        found = body.get("predictions") if isinstance(body, dict) else body
        if not isinstance(found, list):
            raise WrongAnswerError(
                f'expected {{"predictions": [...]}} but the answer is {_kind(body)}'
                + (f" with keys {sorted(body)[:5]}" if isinstance(body, dict) else "")
            )
        return _counted(found, rows)
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not all(isinstance(item, dict) for item in outputs):
        raise WrongAnswerError(
            f'expected {{"outputs": [{{"name", "shape", "data"}}, ...]}} but the answer is '
            f"{_kind(body)}"
        )
    by_name = {item.get("name"): item for item in outputs}
    wanted = ("predict",) if task == "regression" else ("predict_proba", "predict")
    chosen = next((by_name[name] for name in wanted if name in by_name), None)
    if chosen is None and len(outputs) == 1:
        chosen = outputs[0]
    if chosen is None:
        raise WrongAnswerError(
            f"expected an output named {' or '.join(wanted)}; the answer has "
            f"{sorted(str(name) for name in by_name)[:5]}"
        )
    data, shape = chosen.get("data"), chosen.get("shape")
    if not isinstance(data, list) or not isinstance(shape, list) or not shape:
        raise WrongAnswerError(f"output {chosen.get('name')!r} has no data list and shape")
    flat = np.asarray(data, dtype=object).reshape(-1)
    if shape[0] != rows or len(flat) != math.prod(int(size) for size in shape):
        raise WrongAnswerError(
            f"expected {rows} rows but output {chosen.get('name')!r} has shape {shape} and "
            f"{len(flat)} values"
        )
    if len(shape) == 1 or math.prod(shape[1:]) == 1:
        return flat.tolist()
    return flat.reshape(rows, -1).tolist()


def _counted(answers: list[Any], rows: int) -> list[Any]:
    if len(answers) != rows:
        raise WrongAnswerError(f"sent {rows} rows but got {len(answers)} answers")
    return answers


# -- answers to predictions --------------------------------------------------------------


def answers_to_predictions(
    answers: Sequence[Any],
    task: Task,
    classes: Sequence[Any] | None,
    answer_classes: Sequence[Any] | None = None,
) -> Predictions:
    """Predictions from one answer per row, in the order of the gate's ``classes``.

    A regressor answers numbers. A classifier answers, per row, a list of class
    probabilities (in the order of ``answer_classes``, default ``classes``), a label, or
    for two classes the probability of the second. ``WrongAnswerError`` otherwise."""
    if not answers:
        raise WrongAnswerError("got no answers")
    if task == "regression":
        return Predictions(values=_numbers(answers, "a number per row"))
    assert classes is not None
    first = answers[0]
    if isinstance(first, list):
        order = list(answer_classes if answer_classes is not None else classes)
        widths = {len(row) if isinstance(row, list) else -1 for row in answers}
        if widths != {len(order)}:
            raise WrongAnswerError(
                f"expected a list of {len(order)} class probabilities per row (classes "
                f"{order[:10]}) but got rows of {_widths(widths)}"
            )
        proba = np.array([_numbers(row, "probabilities") for row in answers])
        position = {_label_key(label): index for index, label in enumerate(classes)}
        unknown = [label for label in order if _label_key(label) not in position]
        if unknown:
            raise WrongAnswerError(f"the answer's classes {unknown[:5]} are not the target's")
        aligned = np.zeros((len(answers), len(classes)))
        aligned[:, [position[_label_key(label)] for label in order]] = proba
        return Predictions(proba=aligned)
    known = {_label_key(label): label for label in classes}
    if all(_label_key(answer) in known for answer in answers):
        return Predictions(labels=np.array([known[_label_key(a)] for a in answers], dtype=object))
    values = _numbers(answers, "a label or a probability per row")
    if len(classes) == 2 and bool(np.all((values >= 0) & (values <= 1))):
        return Predictions(proba=values)
    raise WrongAnswerError(
        f"expected per row a label of {list(classes)[:10]}, a list of class probabilities"
        f"{' or a probability' if len(classes) == 2 else ''}, but got {answers[0]!r}"
    )


def _numbers(values: Sequence[Any], what: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    odd = [value for value in values if not _is_number(value)]
    if odd:
        raise WrongAnswerError(f"expected {what} but got {odd[0]!r}")
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise WrongAnswerError(f"expected {what} but got a value that is not finite")
    return array


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label_key(label: Any) -> Any:
    # 1, 1.0 and True are one label to a comparison but not to a dict of str and int.
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool):
        return ("n", int(label))
    if isinstance(label, int | float):
        return ("n", float(label))
    return ("s", str(label))


def _widths(widths: set[int]) -> str:
    shown = sorted("non-lists" if width < 0 else f"{width} values" for width in widths)
    return " and ".join(shown)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return type(value).__name__ if value is not None else "null"


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool | int | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _v2_datatype(values: Sequence[Any]) -> str:
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return "BOOL"
    if present and all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "INT64"
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return "FP64"
    return "BYTES"


def _whole(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{where} in {WORKSPACE_FILE} must be a whole number of at least {minimum}"
        )
    return value


def _positive(value: object, where: str, *, zero: bool = False) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if zero else value > 0)
    )
    if not ok:
        floor = "0 or more" if zero else "above 0"
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a number {floor}, not {value!r}")
    return float(cast(float, value))
