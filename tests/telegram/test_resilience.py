"""Retries around Bot API calls: what is retried, what is not, what counts as done."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.telegram.resilience import RetryingLimiter, repeatable

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class Script:
    """A callback that raises the scripted errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"message_id": 1}


async def call(limiter: RetryingLimiter, script: Script, endpoint: str) -> Any:
    return await limiter.process_request(script, (), {}, endpoint, {}, None)


@pytest.fixture
def limiter() -> RetryingLimiter:
    return RetryingLimiter(attempts=3, backoff=0.01)


async def test_flood_wait_then_success(limiter: RetryingLimiter) -> None:
    script = Script(RetryAfter(0))
    assert await call(limiter, script, "sendMessage") == {"message_id": 1}
    assert script.calls == 2


async def test_long_flood_ban_is_not_slept_through(limiter: RetryingLimiter) -> None:
    script = Script(RetryAfter(3600))
    with pytest.raises(RetryAfter):
        await call(limiter, script, "sendMessage")
    assert script.calls == 1


async def test_bad_gateway_is_retried_a_bounded_number_of_times(limiter: RetryingLimiter) -> None:
    script = Script(NetworkError("Bad Gateway"), NetworkError("Bad Gateway"))
    assert await call(limiter, script, "sendMessage") == {"message_id": 1}
    assert script.calls == 3
    script = Script(*[NetworkError("Bad Gateway")] * 5)
    with pytest.raises(NetworkError):
        await call(limiter, script, "sendMessage")
    assert script.calls == 3


async def test_timeouts_are_retried_only_where_repeating_is_harmless(
    limiter: RetryingLimiter,
) -> None:
    script = Script(TimedOut())
    with pytest.raises(TimedOut):
        await call(limiter, script, "sendMessage")
    assert script.calls == 1
    script = Script(TimedOut())
    assert await call(limiter, script, "answerCallbackQuery") == {"message_id": 1}
    assert script.calls == 2
    assert not repeatable("sendPoll") and not repeatable("copyMessage")
    assert repeatable("editMessageText") and repeatable("getFile")


async def test_not_modified_edit_counts_as_done(limiter: RetryingLimiter) -> None:
    not_modified = BadRequest(
        "Message is not modified: specified new message content and reply markup are exactly "
        "the same as a current content and reply markup of the message"
    )
    assert await call(limiter, Script(not_modified), "editMessageText") is True
    with pytest.raises(BadRequest):
        await call(limiter, Script(BadRequest("Message is not modified")), "sendMessage")
    with pytest.raises(BadRequest):
        await call(limiter, Script(BadRequest("Chat not found")), "editMessageText")


async def test_permanent_errors_are_not_retried(limiter: RetryingLimiter) -> None:
    script = Script(Forbidden("Forbidden: bot was blocked by the user"))
    with pytest.raises(Forbidden):
        await call(limiter, script, "sendMessage")
    assert script.calls == 1


async def test_a_throttling_limiter_keeps_its_own_flood_handling() -> None:
    class Inner:
        calls = 0

        async def initialize(self) -> None: ...

        async def shutdown(self) -> None: ...

        async def process_request(self, callback, args, kwargs, endpoint, data, rla) -> Any:
            Inner.calls += 1
            if Inner.calls == 1:
                raise RetryAfter(0)
            if Inner.calls == 2:
                raise NetworkError("Bad Gateway")
            return await callback(*args, **kwargs)

    limiter = RetryingLimiter(Inner(), attempts=3, backoff=0.01)  # type: ignore[arg-type]
    with pytest.raises(RetryAfter):
        await call(limiter, Script(), "sendMessage")
    assert await call(limiter, Script(), "sendMessage") == {"message_id": 1}
    assert Inner.calls == 3
