"""Running the real studybot process against the fake Bot API server.

End-to-end tests start ``python -m bot --config FILE run`` as a separate process, exactly as
an operator would, pointed at a :class:`tests.fakebot.FakeBotAPI` through
``telegram.base_url`` / ``telegram.base_file_url``. Killing and restarting that process is
how tests show that no state lives only in memory.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests import dbutil
from tests.fakebot import FakeBotAPI

__all__ = ["BotProcess", "base_config", "deep_merge", "run_cli", "write_config"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROGRAM = (sys.executable, "-m", "bot")
DEFAULT_TOKEN = "123456:TEST-TOKEN"
# Variables that would override the config file and make a test depend on the caller's shell.
_SCRUBBED_ENV = (
    "TELEGRAM_BOT_TOKEN",
    "DATABASE_URL",
    "STUDYBOT_CONFIG",
    "STUDYBOT_TELEGRAM_BASE_URL",
)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` updated recursively with ``override``; mappings merge, other values replace."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def base_config(fake: FakeBotAPI | None, database_url: str) -> dict[str, Any]:
    """The config every end-to-end run starts from: the fake server, no rate limiter."""
    telegram: dict[str, Any] = {
        "token": fake.token if fake is not None else DEFAULT_TOKEN,
        "rate_limit": {"overall_per_second": 0, "group_per_minute": 0},
    }
    if fake is not None:
        telegram["base_url"] = fake.base_url
        telegram["base_file_url"] = fake.base_file_url
    else:
        # Never let a test reach api.telegram.org: the discard port refuses connections.
        telegram["base_url"] = "http://127.0.0.1:9/bot"
        telegram["base_file_url"] = "http://127.0.0.1:9/file/bot"
    return {
        "telegram": telegram,
        "database": {"url": database_url},
        "timezone": "Asia/Shanghai",
        "locale": "zh_CN",
    }


def write_config(
    path: Path,
    fake: FakeBotAPI | None,
    database_url: str,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    data = deep_merge(base_config(fake, database_url), config)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return data


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    child = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    paths = [str(REPO_ROOT)]
    if child.get("PYTHONPATH"):
        paths.append(child["PYTHONPATH"])
    child["PYTHONPATH"] = os.pathsep.join(paths)
    child["PYTHONUNBUFFERED"] = "1"
    child.setdefault("PYTHONIOENCODING", "utf-8")
    child.update(env or {})
    return child


def wait_handled(
    fake: FakeBotAPI, database_url: str, *, timeout: float = 30, webhook: bool = False
) -> None:
    """Wait until every update sent so far was handled to the end.

    A webhook delivery is answered once handled. A polled update is confirmed to Telegram
    once the bot has stored it in its update inbox, and leaves the inbox once handled.
    """
    deadline = time.monotonic() + timeout
    fake.wait_delivered(timeout=timeout)
    if webhook:
        return
    while left := dbutil.scalar(database_url, "SELECT count(*) FROM update_inbox"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} received updates still not handled after {timeout}s")
        time.sleep(0.02)


class BotProcess:
    """One studybot process serving the fake Bot API; restartable, killable, inspectable."""

    def __init__(
        self,
        fake: FakeBotAPI,
        *,
        tmp_path: Path,
        database_url: str,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        program: Sequence[str] = DEFAULT_PROGRAM,
        name: str = "bot",
    ) -> None:
        self.fake = fake
        self.tmp_path = Path(tmp_path)
        self.database_url = database_url
        self.env = dict(env or {})
        self.program = list(program)
        self.config_path = self.tmp_path / f"{name}.yaml"
        self.log_path = self.tmp_path / f"{name}.log"
        self.config = write_config(self.config_path, fake, database_url, config)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.ready_call_index: int | None = None

    @property
    def webhook_mode(self) -> bool:
        webhook = (self.config.get("telegram") or {}).get("webhook") or {}
        return bool(webhook.get("url"))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        return [*self.program, "--config", str(self.config_path), "run"]

    def start(self, wait_ready: bool = True, timeout: float = 30) -> BotProcess:
        """Start the process; with ``wait_ready``, return once it polls (or sets its webhook)."""
        if self.running:
            raise RuntimeError("bot process already running")
        since = self.fake.mark()
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.tmp_path,
                env=_child_env(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait_ready:
            self.wait_ready(since, timeout)
        return self

    def wait_ready(self, since: int, timeout: float = 30) -> None:
        method = "setWebhook" if self.webhook_mode else "getUpdates"
        deadline = time.monotonic() + timeout
        while True:
            found = self.fake.calls(method, since=since)
            if self.webhook_mode:
                found = [c for c in found if c.status is None or c.ok]
            if found:
                self.ready_call_index = found[0].index
                return
            code = self.proc.poll() if self.proc is not None else None
            if code is not None:
                raise AssertionError(
                    f"bot process exited with code {code} before it was ready; log tail:\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"bot process sent no {method} within {timeout}s; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int | None:
        """SIGKILL, as a crash or an OOM kill would; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(30)

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait for a graceful exit (SIGKILL after ``timeout``)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(
                    f"bot process ignored SIGTERM for {timeout}s; log tail:\n{self.log_tail()}"
                ) from None
        return self.proc.returncode

    def restart(
        self, *, kill: bool = False, wait_ready: bool = True, timeout: float = 30
    ) -> BotProcess:
        """Stop (SIGTERM, or SIGKILL with ``kill=True``) and start again with the same config."""
        if kill:
            self.kill()
        else:
            self.terminate()
        return self.start(wait_ready=wait_ready, timeout=timeout)

    def wait_handled(self, timeout: float = 30) -> None:
        """Wait until every update sent so far was handled to the end (see ``wait_handled``)."""
        wait_handled(self.fake, self.database_url, timeout=timeout, webhook=self.webhook_mode)

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> BotProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running:
            try:
                self.terminate(timeout=15)
            except AssertionError:
                pass


def run_cli(
    args: Sequence[str],
    *,
    tmp_path: Path,
    database_url: str,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float = 120,
    fake: FakeBotAPI | None = None,
    program: Sequence[str] = DEFAULT_PROGRAM,
    config_name: str = "cli.yaml",
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot --config FILE ARGS...`` once; text stdout/stderr are captured."""
    tmp_path = Path(tmp_path)
    config_path = tmp_path / config_name
    write_config(config_path, fake, database_url, config)
    if isinstance(input, bytes):
        input = input.decode("utf-8")
    return subprocess.run(
        [*program, "--config", str(config_path), *map(str, args)],
        cwd=tmp_path,
        env=_child_env(env),
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )
