"""The token and the webhook secret never reach the log, whatever carries them."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import httpx
import pytest
from telegram.error import NetworkError

from bot import logging_setup
from bot.logging_setup import RedactToken, add_secret, redact

TOKEN = "123456:TEST-TOKEN"
REAL_SHAPED = "7012345678:AAH4xY_bcdEFghIJklMNopQRstuVWxyz012"
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(TOKEN))
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers[:] = []


def httpx_error() -> httpx.HTTPStatusError:
    request = httpx.Request("POST", URL)
    response = httpx.Response(502, request=request)
    return httpx.HTTPStatusError(
        f"Server error '502 Bad Gateway' for url '{URL}'", request=request, response=response
    )


def test_message_and_arguments(captured) -> None:
    logger, stream = captured
    logger.info("HTTP Request: POST %s %r", URL, {"url": URL})
    logger.warning("shaped like a token: %s", REAL_SHAPED)
    text = stream.getvalue()
    assert TOKEN not in text and REAL_SHAPED not in text
    assert text.count("<token>") == 3


def test_httpx_errors_with_the_url_in_tracebacks(captured) -> None:
    logger, stream = captured
    try:
        try:
            raise httpx_error()
        except httpx.HTTPStatusError as exc:
            raise NetworkError(f"httpx.HTTPStatusError: {exc}") from exc
    except NetworkError:
        logger.exception("sendMessage failed for %s", URL)
    try:
        raise httpx.InvalidURL(f"Invalid URL {URL}")
    except httpx.InvalidURL as exc:
        logger.error("request failed: %s", exc, exc_info=exc, stack_info=True)
    text = stream.getvalue()
    assert "Traceback" in text and "HTTPStatusError" in text
    assert TOKEN not in text


def test_registered_secrets(captured) -> None:
    logger, stream = captured
    add_secret("webhook-secret-value")
    try:
        logger.warning("header X-Telegram-Bot-Api-Secret-Token: webhook-secret-value")
        assert "webhook-secret-value" not in stream.getvalue()
        assert redact("x webhook-secret-value y") == "x <secret> y"
    finally:
        logging_setup._SECRETS.discard("webhook-secret-value")


def test_uncaught_exceptions_are_logged_redacted(capsys) -> None:
    saved = (sys.excepthook, logging.getLogger().handlers[:], logging.getLogger().level)
    try:
        logging_setup.setup_logging("INFO", TOKEN)
        try:
            raise RuntimeError(f"cannot reach {URL}")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
        err = capsys.readouterr().err
        assert "uncaught exception" in err and "RuntimeError" in err
        assert TOKEN not in err
    finally:
        sys.excepthook = saved[0]
        logging.getLogger().handlers[:] = saved[1]
        logging.getLogger().setLevel(saved[2])
