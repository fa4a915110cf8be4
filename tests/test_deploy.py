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


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def test_proxy_serves_the_webhook_path_and_port_of_the_replicas() -> None:
    from bot.telegram.webhook import webhook_path

    webhook = load_config(DEPLOY / "studybot.webhook.example.yaml", env={}).telegram.webhook
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert f"location = /{webhook_path(webhook)} {{" in text
    assert "location = /health {" in text
    upstream = re.search(r"upstream studybot_webhook \{(.*?)\}", text, re.S)
    assert upstream is not None
    assert set(re.findall(r"server (bot\d):(\d+)", upstream.group(1))) == {
        ("bot1", str(webhook.port)),
        ("bot2", str(webhook.port)),
    }
    # A replica that is shutting down answers 503 without processing: resent to the other.
    assert re.search(r"proxy_next_upstream[^;]*http_503[^;]*non_idempotent;", text)
    assert webhook.secret_token  # replicas refuse requests without it


def test_replicas_are_probed_on_health_and_stop_gracefully() -> None:
    compose = _compose()
    services = compose["services"]
    port = load_config(DEPLOY / "studybot.webhook.example.yaml", env={}).telegram.webhook.port
    for name in ("bot1", "bot2"):
        check = services[name]["healthcheck"]
        assert f"http://127.0.0.1:{port}/health" in " ".join(check["test"])
        assert check["start_period"] and check["interval"]
        assert services["proxy"]["depends_on"][name]["condition"] == "service_healthy"
    for name in ("bot", "bot1", "bot2"):
        grace = services[name]["stop_grace_period"]
        assert int(grace.rstrip("s")) >= 25  # the bot finishes updates in hand for up to 25 s


async def test_the_compose_health_probe_works_against_a_real_replica(db, database_url: str) -> None:
    """Run the compose probe's command against a webhook server: 0 when ready, else not."""
    import asyncio
    import sys

    from bot.db.engine import create_engine, create_session_factory
    from bot.telegram.webhook import WebhookServer
    from tests.telegram.test_webhook import StubApp, noop

    probe = _compose()["services"]["bot1"]["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"]

    async def run_probe(port: int) -> int:
        code = probe[3].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await proc.wait()

    server = WebhookServer(StubApp(noop), db, listen="127.0.0.1", port=0)  # type: ignore[arg-type]
    await server.start()
    try:
        assert await run_probe(server.port) == 0
    finally:
        await server.stop()
    engine = create_engine(f"sqlite+aiosqlite:////nonexistent-dir-{id(db)}/x.db")
    broken = WebhookServer(
        StubApp(noop),  # type: ignore[arg-type]
        create_session_factory(engine),
        listen="127.0.0.1",
        port=0,
    )
    await broken.start()
    try:
        assert await run_probe(broken.port) != 0
    finally:
        await broken.stop()
        await engine.dispose()
