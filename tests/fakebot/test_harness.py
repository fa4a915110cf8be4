"""The end-to-end harness: config writing, readiness, kill/restart, CLI runs.

These tests run a small python-telegram-bot program that reads the harness's config file
instead of studybot, so the harness itself is checked independently of the bot's code;
they say nothing about studybot's behaviour.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import BotProcess, deep_merge, run_cli
from tests.fakebot import FakeBotAPI

ECHO_PROGRAM = textwrap.dedent(
    """
    import json, sys
    import yaml
    from telegram import Update
    from telegram.ext import Application, CommandHandler

    args = sys.argv[1:]
    config = yaml.safe_load(open(args[args.index("--config") + 1], encoding="utf-8"))
    command = args[args.index("--config") + 2:]
    if command[:1] == ["show-config"]:
        print(json.dumps(config, ensure_ascii=False))
        sys.exit(0)
    if command[:1] == ["fail"]:
        print("config error: token missing", file=sys.stderr)
        sys.exit(2)
    tg = config["telegram"]

    async def start(update, context):
        await update.effective_message.reply_text("pong " + config.get("organization", ""))

    app = (
        Application.builder()
        .token(tg["token"])
        .base_url(tg["base_url"])
        .base_file_url(tg["base_file_url"])
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    print("serving", flush=True)
    app.run_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)
    print("stopped cleanly", flush=True)
    """
)


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def program(tmp_path: Path) -> list[str]:
    script = tmp_path / "echo_bot.py"
    script.write_text(ECHO_PROGRAM, encoding="utf-8")
    return [sys.executable, str(script)]


def test_deep_merge() -> None:
    base = {"telegram": {"token": "t", "rate_limit": {"overall_per_second": 0}}, "locale": "zh_CN"}
    merged = deep_merge(base, {"telegram": {"rate_limit": {"group_per_minute": 5}}, "x": [1]})
    assert merged == {
        "telegram": {"token": "t", "rate_limit": {"overall_per_second": 0, "group_per_minute": 5}},
        "locale": "zh_CN",
        "x": [1],
    }
    assert base["telegram"]["rate_limit"] == {"overall_per_second": 0}


def test_process_start_kill_restart(fake: FakeBotAPI, tmp_path: Path, program: list[str]) -> None:
    alice = fake.user(1001, "Alice")
    proc = BotProcess(
        fake,
        tmp_path=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        config={"organization": "XX区局"},
        program=program,
    )
    with proc:
        assert proc.running
        since = fake.mark()
        fake.send_text(alice, "/start")
        assert fake.wait_for("sendMessage", since=since, timeout=10).text == "pong XX区局"

        proc.kill()
        assert not proc.running
        proc.start()
        since = fake.mark()
        fake.send_text(alice, "/start")
        fake.wait_for("sendMessage", since=since, timeout=10)
        assert proc.terminate() == 0
    log = proc.log_text()
    assert log.count("serving") == 2 and "stopped cleanly" in log
    assert proc.config["telegram"]["base_url"] == fake.base_url
    assert proc.config["database"]["url"].endswith("bot.db")


def test_start_reports_early_exit(fake: FakeBotAPI, tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('config error: bad token')\nsys.exit(2)\n")
    proc = BotProcess(
        fake, tmp_path=tmp_path, database_url="sqlite://", program=[sys.executable, str(script)]
    )
    with pytest.raises(AssertionError, match=r"exited with code 2(.|\n)*bad token"):
        proc.start(timeout=10)


def test_run_cli(fake: FakeBotAPI, tmp_path: Path, program: list[str]) -> None:
    done = run_cli(
        ["show-config"],
        tmp_path=tmp_path,
        database_url="sqlite+aiosqlite:///cli.db",
        config={"admins": [111111]},
        fake=fake,
        program=program,
        env={"DATABASE_URL": "ignored-by-the-program"},
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["admins"] == [111111] and shown["telegram"]["token"] == fake.token
    failed = run_cli(["fail"], tmp_path=tmp_path, database_url="sqlite://", program=program)
    assert failed.returncode == 2 and "token missing" in failed.stderr
