"""The configuration model: one YAML file validated by pydantic, plus environment overrides.

Every key is optional except the Telegram token. Unknown keys are errors, so a typo in the
file is reported instead of silently ignored.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = "studybot.yaml"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///studybot.db"
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{4,}$")


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookConfig(_Model):
    url: str | None = None
    listen: str = "0.0.0.0"
    port: int = Field(8443, ge=1, le=65535)
    # Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - (setWebhook).
    secret_token: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    path: str | None = None


class RateLimitConfig(_Model):
    overall_per_second: float = Field(30, ge=0)
    group_per_minute: float = Field(20, ge=0)
    max_retries: int = Field(3, ge=0)


class TelegramConfig(_Model):
    token: str | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook: WebhookConfig = WebhookConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    poll_timeout: int = Field(10, ge=0, le=50)


class DatabaseConfig(_Model):
    url: str = DEFAULT_DATABASE_URL
    echo: bool = False


class ScheduleConfig(_Model):
    misfire_grace: int = Field(3600, ge=0)
    reminder_time: dt.time = dt.time(20, 0)
    # How often the scheduler looks for due pushes (pushes also wake it at their exact time).
    tick_seconds: float = Field(30, gt=0, le=3600)


class LeaderboardConfig(_Model):
    staff_view: Literal["top10", "own_rank_only", "off"] = "top10"


class UploadsConfig(_Model):
    max_mb: float = Field(5, gt=0, le=50)

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


class CheckinRule(_Model):
    points: int = Field(1, ge=0)


class MaterialRule(_Model):
    points: int = Field(1, ge=0)
    daily_cap: int = Field(6, ge=0)


class DailyQuizRule(_Model):
    questions: int = Field(5, ge=1, le=50)
    per_correct: int = Field(1, ge=0)
    daily_cap: int = Field(5, ge=0)
    seconds: int = Field(0, ge=0)


class WeeklyQuizRule(_Model):
    questions: int = Field(10, ge=1, le=100)
    per_correct: int = Field(1, ge=0)


class SpecialQuizRule(_Model):
    per_correct: int = Field(1, ge=0)


class ChallengeRule(_Model):
    every: int = Field(2, ge=1)
    points: int = Field(1, ge=0)
    daily_cap: int = Field(6, ge=0)


class LiveQuizRule(_Model):
    per_correct: int = Field(2, ge=0)
    speed_bonus: list[int] = [3, 2, 1]


class StreakRule(_Model):
    days: int = Field(7, ge=2)
    points: int = Field(3, ge=0)


class SessionRule(_Model):
    points: int = Field(2, ge=0)


class DiscussionRule(_Model):
    points: int = Field(1, ge=0)
    min_chars: int = Field(10, ge=1)
    daily_cap: int = Field(2, ge=0)


class ReflectionRule(_Model):
    points: int = Field(2, ge=0)
    min_chars: int = Field(100, ge=1)
    weekly_cap: int = Field(1, ge=0)


class ReviewRule(_Model):
    questions: int = Field(5, ge=1, le=50)
    graduate_days: float = Field(21, gt=0)


class Season(_Model):
    name: str
    from_: dt.date = Field(alias="from")
    to: dt.date

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> Season:
        if self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self


class PointsConfig(_Model):
    checkin: CheckinRule = CheckinRule()
    material: MaterialRule = MaterialRule()
    daily_quiz: DailyQuizRule = DailyQuizRule()
    weekly_quiz: WeeklyQuizRule = WeeklyQuizRule()
    special_quiz: SpecialQuizRule = SpecialQuizRule()
    challenge: ChallengeRule = ChallengeRule()
    live_quiz: LiveQuizRule = LiveQuizRule()
    streak_bonus: StreakRule = StreakRule()
    session: SessionRule = SessionRule()
    discussion: DiscussionRule = DiscussionRule()
    reflection: ReflectionRule = ReflectionRule()
    review: ReviewRule = ReviewRule()
    seasons: list[Season] = [
        Season.model_validate({"name": "2026 秋季赛", "from": "2026-09-01", "to": "2026-12-31"})
    ]


class Config(_Model):
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    organization: str = "本单位"
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh_CN", "en"] = "zh_CN"
    admins: list[int] = []
    leaders: list[int] = []
    departments: list[str] = []
    registration: Literal["open", "roster"] = "open"
    groups: list[int] = []
    study_plan: str | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    leaderboard: LeaderboardConfig = LeaderboardConfig()
    uploads: UploadsConfig = UploadsConfig()
    points: PointsConfig = PointsConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("departments")
    @classmethod
    def _unique_departments(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if not name.strip():
                raise ValueError("a department name is empty")
            if name in seen:
                raise ValueError(f"department {name!r} is listed twice")
            seen.add(name)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str:
        """The validated token (``load_config`` guarantees it is present when required)."""
        if not self.telegram.token:
            raise ConfigError(
                "telegram.token: missing (set it in the config or TELEGRAM_BOT_TOKEN)"
            )
        return self.telegram.token

    def season_for(self, day: dt.date) -> Season | None:
        for season in self.points.seasons:
            if season.from_ <= day <= season.to:
                return season
        return None


def _format_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{key}: {message}"


def _merge_env(data: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    telegram = dict(data.get("telegram") or {})
    database = dict(data.get("database") or {})
    if env.get("TELEGRAM_BOT_TOKEN"):
        telegram["token"] = env["TELEGRAM_BOT_TOKEN"]
    if env.get("STUDYBOT_TELEGRAM_BASE_URL"):
        base = env["STUDYBOT_TELEGRAM_BASE_URL"].rstrip("/")
        telegram["base_url"] = base if base.endswith("/bot") else base + "/bot"
        if "base_file_url" not in (data.get("telegram") or {}):
            root = telegram["base_url"][: -len("/bot")]
            telegram["base_file_url"] = root + "/file/bot"
    if env.get("DATABASE_URL"):
        database["url"] = env["DATABASE_URL"]
    merged = dict(data)
    if telegram:
        merged["telegram"] = telegram
    if database:
        merged["database"] = database
    return merged


def normalise_database_url(url: str) -> str:
    """Pick the async driver for a plain URL, as users write them from habit."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def config_path_from(explicit: str | None, env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(explicit or env.get("STUDYBOT_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(
    path: str | Path | None = None,
    *,
    env: dict[str, str] | None = None,
    require_token: bool = True,
) -> Config:
    """Read, merge and validate the configuration; raise ConfigError with one line."""
    env = dict(os.environ) if env is None else env
    explicit = path is not None or bool(env.get("STUDYBOT_CONFIG"))
    cfg_path = config_path_from(str(path) if path is not None else None, env)
    data: Any = {}
    if cfg_path.exists():
        try:
            text = cfg_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read the config file ({exc})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{cfg_path}{where}: {problem}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{cfg_path}: the config must be a mapping of keys")
    elif explicit:
        raise ConfigError(f"{cfg_path}: config file not found")
    data = _merge_env(data, env)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    if require_token:
        token = config.telegram.token
        if not token:
            raise ConfigError(
                "telegram.token: missing (set it in the config file or TELEGRAM_BOT_TOKEN)"
            )
        if not TOKEN_RE.match(token):
            raise ConfigError("telegram.token: malformed (expected the form 123456:ABC-DEF…)")
    url = normalise_database_url(config.database.url)
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+")):
        raise ConfigError("database.url: unsupported database (use sqlite or postgresql)")
    if url != config.database.url:
        config = config.model_copy(
            update={"database": config.database.model_copy(update={"url": url})}
        )
    return config
