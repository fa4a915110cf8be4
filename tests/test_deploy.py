"""deploy/ cannot be built here (no Docker engine), so its files are checked by parsing."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from bot.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_compose_file_runs_bot_with_postgres_and_a_volume() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    bot = services["bot"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"
    env = bot["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "TELEGRAM_BOT_TOKEN" in env
    assert set(compose["volumes"]) >= {"pgdata", "botdata"}
    # The scale profile: two replicas behind a proxy.
    for name in ("bot1", "bot2", "proxy"):
        assert services[name]["profiles"] == ["scale"]


def test_example_configs_load_through_the_config_model() -> None:
    for name in ("studybot.example.yaml", "studybot.webhook.example.yaml"):
        config = load_config(DEPLOY / name, env={})
        assert config.timezone == "Asia/Shanghai"
    webhook = load_config(DEPLOY / "studybot.webhook.example.yaml", env={})
    assert webhook.telegram.webhook.url and webhook.telegram.webhook.port == 8080
    example = load_config(DEPLOY / "studybot.example.yaml", env={})
    assert example.points.daily_quiz.questions == 5 and example.departments


def test_dockerfile_is_slim_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.split()[0]
        for line in text.splitlines()
        if line and not line.startswith("#") and not line.startswith(" ")
    ]
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")
    assert 'ENTRYPOINT ["studybot"]' in text
    assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists" in text


def test_systemd_unit_is_well_formed() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "studybot.service", encoding="utf-8")
    service = parser["Service"]
    assert service["ExecStart"].endswith("studybot run")
    assert service["User"] != "root"
    assert service["Restart"] == "on-failure"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_proxy_balances_both_replicas() -> None:
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert "bot1:8080" in text and "bot2:8080" in text
