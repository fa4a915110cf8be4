"""Config loading: validation errors are one line naming the key; env overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "studybot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_with_token_from_environment(tmp_path: Path) -> None:
    config = load_config(env={"TELEGRAM_BOT_TOKEN": "123:ABCDEF"})
    assert config.token == "123:ABCDEF"
    assert config.database.url == "sqlite+aiosqlite:///studybot.db"
    assert config.locale == "zh_CN"
    assert config.points.daily_quiz.questions == 5


def test_missing_token_is_one_clear_line(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: X\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith("telegram.token: missing")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("telegram: {token: '1:abcd'}\nbogus: 1\n", "bogus: unknown key"),
        ("telegram: {token: '1:abcd'}\ntimezone: Mars/Base\n", "timezone: unknown time zone"),
        ("telegram: {token: '1:abcd'}\nadmins: [abc]\n", "admins.0:"),
        (
            "telegram: {token: '1:abcd'}\npoints: {daily_quiz: {questions: zero}}\n",
            "points.daily_quiz.questions:",
        ),
        ("telegram: {token: 'not a token'}\n", "telegram.token: malformed"),
        ("telegram: {token: '1:abcd'}\nregistration: maybe\n", "registration:"),
        ("telegram: [1, 2\n", "line"),
        ("- just\n- a list\n", "must be a mapping"),
        (
            "telegram: {token: '1:abcd'}\ndatabase: {url: 'mysql://x'}\n",
            "database.url: unsupported",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "Traceback" not in message


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '1:abcd'}\ndatabase: {url: 'sqlite:///a.db'}\n")
    config = load_config(
        path,
        env={
            "TELEGRAM_BOT_TOKEN": "99:zzzz",
            "DATABASE_URL": "postgresql://u@h/db",
            "STUDYBOT_TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        },
    )
    assert config.token == "99:zzzz"
    assert config.database.url == "postgresql+psycopg://u@h/db"
    assert config.telegram.base_url == "http://127.0.0.1:9/bot"
    assert config.telegram.base_file_url == "http://127.0.0.1:9/file/bot"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '1:abcd'}\norganization: 某局\n")
    config = load_config(env={"STUDYBOT_CONFIG": str(path)})
    assert config.organization == "某局"
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(env={"STUDYBOT_CONFIG": str(tmp_path / "nope.yaml")})


def test_seasons_must_be_ordered(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "telegram: {token: '1:abcd'}\npoints: {seasons: [{name: s, from: 2026-12-01, to: 2026-01-01}]}\n",
    )
    with pytest.raises(ConfigError, match=r"points\.seasons\.0"):
        load_config(path, env={})
