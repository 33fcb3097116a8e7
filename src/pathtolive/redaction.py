"""Keeping secrets out of every output: logs, errors, ``--json``, records and responses.

Two rules, applied where text leaves the process or is stored:

- **By name**: an environment variable whose name says it holds a secret
  (:data:`SECRET_NAME_PATTERNS`: ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*_KEY``,
  ``*SALT*``, ``*KEK*``, …) is never recorded, and its value is replaced by ``***``
  wherever it shows up in a message (:func:`redact`).
- **By shape**: the password of a URL (``postgresql://user:PASSWORD@host/db``) is masked
  (:func:`mask_url`, :func:`mask_urls`) before the URL is printed, logged or stored.

Where it is applied, first line first:

- code that builds a message from a URL masks it (:func:`mask_url`), and every
  :class:`~pathtolive.errors.PathToLiveError` masks the URLs of its message;
- what is kept for others to read is redacted before it is stored: audit details, a
  step's captured log and a failure's traceback (:func:`redact_values`, :func:`redact`);
- what leaves the process is redacted on its way out: the filter on the log handlers
  (the CLI's and uvicorn's, :class:`RedactingFilter`), the CLI's error reporter, and the
  CLI's standard streams (:func:`redacted_streams`), which catch what a foreign
  library's message or a command's own output carries.

The guarantee holds for secrets this process knows of (its environment and the URLs it
was given). A secret that only a model or a user's file contains is not recognised.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TextIO, cast
from urllib.parse import quote, quote_plus, unquote

__all__ = [
    "LOCATION_SUFFIXES",
    "MASK",
    "SECRET_NAME_PATTERNS",
    "RedactingFilter",
    "RedactingStream",
    "install_log_redaction",
    "is_secret_name",
    "mask_url",
    "mask_urls",
    "redact",
    "redact_values",
    "redacted_streams",
    "safe_environ",
    "secret_values",
]

MASK: Final = "***"

SECRET_NAME_PATTERNS: Final[tuple[str, ...]] = (
    r"(^|_)TOKENS?($|_)",
    r"SECRET",
    r"PASSW(OR)?D",
    r"PASSPHRASE",
    r"(^|_)KEY($|_)",
    r"KEK",
    r"SALT",
    r"PRIVATE",
    r"CREDENTIAL",
    r"(^|_)AUTH($|_)",
    r"SIGNING",
    r"(^|_)DSN$",
)
"""Regular expressions, matched against the upper-cased name of an environment variable;
any match makes its value a secret."""

_SECRET_NAME: Final = re.compile("|".join(SECRET_NAME_PATTERNS))

LOCATION_SUFFIXES: Final[tuple[str, ...]] = ("_FILE", "_PATH", "_DIR", "_COMMAND", "_CMD")
"""Names ending so hold where a secret is (``PATHTOLIVE_KEK_FILE``, a key manager's
command), not the secret: they stay readable in messages, which name them to help."""

_URL_PASSWORD: Final = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]{0,40}://[^\s:/@'\"<>]{0,256}:)"
    r"(?P<password>[^\s@/'\"<>]{0,1024})(?P<at>@)"
)
"""``scheme://user:`` then the password up to ``@``: the one part of a URL to mask. Each
part is bounded, so a long text without URLs is scanned in linear time."""

_MIN_SECRET_LENGTH: Final = 8
"""Shorter values (``1``, ``true``, a path like ``/tmp``) would mask ordinary words, and
are no secrets worth the name."""


def is_secret_name(name: str) -> bool:
    """Whether an environment variable named ``name`` holds a secret by its name."""
    upper = name.upper()
    return _SECRET_NAME.search(upper) is not None and not upper.endswith(LOCATION_SUFFIXES)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (anything else kept: the user name
    and host say which database it is)."""
    return mask_urls(url)


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)


def _url_passwords(value: str) -> Iterable[str]:
    for match in _URL_PASSWORD.finditer(value):
        password = match["password"]
        if password:
            yield password
            yield unquote(password)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The secrets ``environ`` holds: values under secret names and the passwords of URLs,
    each also URL-encoded, longest first (so a longer one is masked before a part of it)."""
    found: set[str] = set()
    for name, value in environ.items():
        if is_secret_name(name) and len(value) >= _MIN_SECRET_LENGTH:
            found.add(value)
        if "://" in value:
            found.update(p for p in _url_passwords(value) if len(p) >= _MIN_SECRET_LENGTH)
    for value in list(found):
        found.add(quote(value, safe=""))
        found.add(quote_plus(value))
    return sorted(found, key=len, reverse=True)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with URL passwords and every secret of ``environ`` (default: this
    process's environment) replaced by ``***``."""
    return _redact(text, secret_values(os.environ if environ is None else environ))


def redact_values(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string in it
    redacted as :func:`redact` does; keys are kept."""
    secrets = secret_values(os.environ if environ is None else environ)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _redact(item, secrets)
        if isinstance(item, Mapping):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [walk(inner) for inner in item]
        return item

    return walk(value)


def _redact(text: str, secrets: Iterable[str]) -> str:
    text = mask_urls(text)
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def safe_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` that may be recorded or shown: secret names left out, URL
    passwords masked."""
    return {name: mask_urls(value) for name, value in environ.items() if not is_secret_name(name)}


class RedactingStream:
    """A text stream that writes to ``stream`` with secrets and URL passwords masked: the
    console's last line of defense (what a command prints, whatever printed it). Every
    other attribute is the wrapped stream's."""

    def __init__(self, stream: TextIO, secrets: Sequence[str]) -> None:
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str | bytes) -> int:
        if isinstance(text, str):
            self._stream.write(_redact(text, self._secrets))
        else:  # a probe for a binary stream (click writes b""): the stream's own answer
            self._stream.write(text)  # type: ignore[arg-type]
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_streams(environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Standard output and error, inside the block, as :class:`RedactingStream` over
    the secrets of ``environ`` (default: this process's environment)."""
    secrets = secret_values(os.environ if environ is None else environ)
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, RedactingStream(sys.stdout, secrets))
    sys.stderr = cast(TextIO, RedactingStream(sys.stderr, secrets))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class RedactingFilter(logging.Filter):
    """A log filter that formats each record's message, and its traceback, with secrets
    redacted (:func:`redact`), before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (default: the root
    logger) that has none yet."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
