"""Logging: one line per record, and no secret ever printed.

The bot token is part of every Bot API URL (``https://api.telegram.org/bot<token>/…``), so any
library message or exception that shows a URL would show it. Every record is cleaned on its
way out: the configured token, anything shaped like a token, and registered secrets (the
webhook secret token) become ``<token>`` / ``<secret>``, in the message, its arguments and
its formatted traceback (chained exceptions included). Uncaught exceptions go through the
same path instead of Python's own printer.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from types import TracebackType

_TOKEN_RE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_SECRETS: set[str] = set()


def add_secret(value: str) -> None:
    """Keep ``value`` (e.g. the webhook secret token) out of every log record from now on."""
    if value:
        _SECRETS.add(value)


def redact(text: str, token: str | None = None) -> str:
    """``text`` without the token, token-shaped strings or registered secrets."""
    if token:
        text = text.replace(token, "<token>")
    text = _TOKEN_RE.sub("<token>", text)
    for secret in _SECRETS:
        text = text.replace(secret, "<secret>")
    return text


class RedactToken(logging.Filter):
    """Replace the token (and anything shaped like one) in every record."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def _clean(self, text: str) -> str:
        return redact(text, self.token)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("studybot").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("studybot").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def setup_logging(level: str = "INFO", token: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in (
        "httpx",
        "httpcore",
        "apscheduler",
        "aiosqlite",
        "telegram.ext.ExtBot",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if level == "DEBUG":
        # One line per Bot API request (its URL carries the token: redacted above).
        logging.getLogger("httpx").setLevel(logging.INFO)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
