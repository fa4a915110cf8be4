"""Builds the python-telegram-bot Application and serves it (long polling or webhook)."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    TypeHandler,
)

from bot.config import Config
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from bot.members.service import sync_departments
from bot.telegram import registration, resilience
from bot.telegram.commands import register_commands
from bot.telegram.common import STARTUP_HOOKS
from bot.telegram.context import StudyContext
from bot.telegram.http import AiohttpRequest
from bot.telegram.middleware import before_handlers, prefetch_actors
from bot.telegram.polling import SafePoller
from bot.telegram.processor import OrderedUpdateProcessor
from bot.telegram.sender import BotSender
from bot.telegram.webhook import serve_webhook

log = logging.getLogger("studybot")

# Feature modules; each has ``register(app)``. Order matters only for overlapping filters.
FEATURES: list[str] = [
    "bot.telegram.registration",
    "bot.telegram.live",
    "bot.telegram.discussions",
    "bot.telegram.quiz",
    "bot.telegram.me",
    "bot.telegram.reports",
    "bot.telegram.materials",
    "bot.telegram.sessions",
    "bot.telegram.banks",
]


def settle_garbage_collector() -> None:
    """Once started: what exists now (modules, configuration, compiled statements) lives as
    long as the process, so the cyclic collector stops scanning it, and it runs less often on
    the short-lived objects of each update. Measured: about 5 % less CPU per quiz answer and
    a lower p99 with 20 members answering at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_application(config: Config, db: async_sessionmaker[AsyncSession]) -> Application:  # type: ignore[type-arg]
    processor = OrderedUpdateProcessor(256, db)
    processor.batch_hooks.append(prefetch_actors)
    builder = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .context_types(ContextTypes(context=StudyContext))
        .concurrent_updates(processor)
        .request(AiohttpRequest(connection_pool_size=64, pool_timeout=30))
        .get_updates_request(AiohttpRequest(connection_pool_size=2, pool_timeout=30))
        .updater(None)
    )
    limits = config.telegram.rate_limit
    throttle = None
    if limits.overall_per_second > 0 or limits.group_per_minute > 0:
        throttle = AIORateLimiter(
            overall_max_rate=limits.overall_per_second,
            overall_time_period=1,
            group_max_rate=limits.group_per_minute,
            group_time_period=60,
            max_retries=limits.max_retries,
        )
    builder = builder.rate_limiter(
        resilience.RetryingLimiter(throttle, attempts=max(1, limits.max_retries + 1))
    )
    app = builder.build()
    app.bot_data["config"] = config
    app.bot_data["db"] = db
    app.bot_data["sender"] = BotSender(app.bot)
    app.add_handler(TypeHandler(Update, before_handlers), group=-1)  # type: ignore[arg-type]
    resilience.install_error_handlers_first(app)
    for name in FEATURES:
        importlib.import_module(name).register(app)
    resilience.install(app)
    registration.register_fallbacks(app)
    return app


async def serve(config: Config) -> None:
    """Migrate, start, serve until SIGTERM/SIGINT, and shut down gracefully."""
    engine = create_engine(config.database.url, echo=config.database.echo)
    before, after = await upgrade(engine)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    db = create_session_factory(engine)
    async with db.begin() as session:
        await sync_departments(session, config)
    app = build_application(config, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    webhook = config.telegram.webhook
    poller: SafePoller | None = None
    try:
        async with app:
            me = app.bot.bot  # fetched by getMe while the application initialised
            log.info("started as @%s (id %s)", me.username, me.id)
            await register_commands(app.bot)
            await app.start()
            try:
                for hook in STARTUP_HOOKS:
                    await hook(app)
                settle_garbage_collector()
                if webhook.url:
                    await serve_webhook(app, db, webhook, stop)
                else:
                    poller = SafePoller(app, timeout=config.telegram.poll_timeout)
                    task = asyncio.create_task(poller.run())
                    stop_wait = asyncio.create_task(stop.wait())
                    await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                    poller.stop()
                    await task
                    stop_wait.cancel()
            finally:
                # Also when serving failed: the application must stop before it shuts down.
                log.info("stopping")
                await app.stop()
    finally:
        # python-telegram-bot skips the requests' shutdown when initialising failed (e.g.
        # getMe unreachable); close their connection pools here so nothing leaks.
        for request in app.bot._request:
            await request.shutdown()
        await engine.dispose()
