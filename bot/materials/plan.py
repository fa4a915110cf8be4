"""Study plans: the YAML format, its validation (every problem with its line and field), and
storing a plan in ``plan_items``.

A plan file::

    timezone: Asia/Shanghai          # optional; must match the bot's `timezone`
    items:
      - id: 2026-12-01-secrets       # stable: a reload updates the item, never duplicates it
        title: 保密法要点
        body: "……"
        url: https://…                # optional
        file: materials/x.docx        # optional, relative to the plan file's directory
        when: "2026-12-01T08:30"      # local date-time, or crontab "0 9 * * mon"
        audience: all                 # or [办公室, 宣传科] or [-1001234567890]
        points: 1                     # for the "Done" confirmation
        quiz: {bank: security-basics, questions: 3}   # optional, offered after reading

Loading a plan replaces the previous one: items missing from it are deactivated (their
history stays). An item's schedule counts from when it entered the plan, so adding an item
whose time is already past never pushes it late, and reloading never resends anything:
deliveries are keyed by (item, occurrence, chat).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import AuditEntry, PlanItem
from bot.db.types import utcnow
from bot.i18n import translator
from bot.materials.occurrences import (
    Cron,
    Schedule,
    ScheduleError,
    canonical_when,
    next_occurrences,
    parse_when,
    smallest_gap,
)
from bot.materials.render import MESSAGE_LIMIT, plain_length

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ITEM_FIELDS = ("id", "title", "body", "url", "file", "when", "audience", "points", "quiz")
TOP_FIELDS = ("timezone", "title", "items")
QUIZ_FIELDS = ("bank", "questions")
TITLE_MAX = 255
FILE_MAX_BYTES = 50 * 1024 * 1024  # what a bot may upload
DEFAULT_QUIZ_QUESTIONS = 5


class PlanError(Exception):
    """A plan that cannot be used; ``problems`` lists every one with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PlanItemSpec:
    """One validated item as written in the plan."""

    id: str
    title: str
    body: str
    url: str | None
    file: str | None  # absolute path
    when: str
    schedule: Schedule
    audience: list[str | int]
    points: int
    quiz_bank: str | None
    quiz_questions: int | None
    line: int

    def columns(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "file": self.file,
            "when": self.when,
            "audience": list(self.audience),
            "points": self.points,
            "quiz_bank": self.quiz_bank,
            "quiz_questions": self.quiz_questions,
        }


@dataclass(frozen=True)
class Plan:
    name: str
    items: list[PlanItemSpec]
    sha256: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Push:
    """One upcoming push of ``plan check``."""

    at: dt.datetime  # UTC
    item: PlanItemSpec


# --- reading the YAML with line numbers -----------------------------------------------------


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _key_nodes(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            result.setdefault(str(key.value), (key, value))
    return result


class _Where:
    """Formats a problem's place: file, line, item id, field."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._found: list[tuple[int, str]] = []

    def add(
        self, line: int, message: str, item: str | None = None, field_: str | None = None
    ) -> None:
        place = f"{self.name} line {line}" if line else self.name
        if item:
            place += f", item {item!r}"
        if field_:
            place += f", {field_}"
        self._found.append((line, f"{place}: {message}"))

    @property
    def problems(self) -> list[str]:
        """Every problem, in the order of the file."""
        return [text for _line_no, text in sorted(self._found, key=lambda f: f[0])]


def _load_yaml(text: str, where: _Where) -> tuple[Any, yaml.Node | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        where.add(mark.line + 1 if mark is not None else 0, f"not valid YAML ({problem})")
        return None, None
    return data, node


# --- validation ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _audience(value: Any) -> tuple[list[str | int] | None, str | None]:
    """Normalise ``audience``; returns (audience, problem)."""
    if value is None:
        return ["all"], None
    values = value if isinstance(value, list) else [value]
    if not values:
        return None, "empty; write all, department names, or group chat ids"
    result: list[str | int] = []
    for entry in values:
        if isinstance(entry, bool):
            return None, f"{entry!r} is neither a department name nor a group chat id"
        if isinstance(entry, int) or (isinstance(entry, str) and re.fullmatch(r"-?\d+", entry)):
            chat_id = int(entry)
            if chat_id >= 0:
                return None, (
                    f"{chat_id} is not a group chat id (group ids are negative, "
                    "e.g. -1001234567890)"
                )
            result.append(chat_id)
        elif isinstance(entry, str) and entry.strip():
            name = entry.strip()
            if name.lower() == "all":
                name = "all"
            result.append(name)
        else:
            return None, f"{entry!r} is neither a department name nor a group chat id"
    if "all" in result and len(result) > 1:
        return None, "'all' already includes everyone; list departments or groups instead"
    deduped: list[str | int] = []
    for entry in result:
        if entry not in deduped:
            deduped.append(entry)
    return deduped, None


def _check_item(
    index: int,
    data: Any,
    node: yaml.Node | None,
    *,
    where: _Where,
    config: Config,
    base_dir: Path,
    now: dt.datetime,
    warnings: list[str],
    past: list[tuple[int, str, str]],
) -> PlanItemSpec | None:
    item_line = _line(node)
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        where.add(item_line, f"item {index + 1} is not a mapping of fields (id, title, when, …)")
        return None
    keys = _key_nodes(node)

    def line_of(name: str) -> int:
        pair = keys.get(name)
        return _line(pair[1]) if pair else item_line

    before = len(where.problems)
    raw_id = _text(data.get("id"))
    label = raw_id if raw_id else f"#{index + 1}"

    def bad(name: str, message: str) -> None:
        where.add(line_of(name), message, label, name)

    for key, (key_node, _value) in keys.items():
        if key not in ITEM_FIELDS:
            where.add(
                _line(key_node),
                f"unknown field (expected one of {', '.join(ITEM_FIELDS)})",
                label,
                key,
            )
    if raw_id is None:
        bad("id", "missing; every item needs a stable id such as 2026-12-01-secrets")
    elif not ID_RE.match(raw_id):
        bad("id", "use letters, digits, '.', '_' or '-' (at most 64 characters)")

    title = _text(data.get("title"))
    if title is None or not title.strip():
        bad("title", "missing or empty")
    elif len(title.strip()) > TITLE_MAX:
        bad("title", f"too long ({len(title.strip())} characters; at most {TITLE_MAX})")

    body_value = data.get("body", "")
    body = _text(body_value) if body_value is not None else ""
    if body is None:
        bad("body", "must be text")
        body = ""

    url = data.get("url")
    if url is not None:
        if not isinstance(url, str) or not re.fullmatch(r"https?://\S+", url.strip()):
            bad("url", "must be a web address starting with http:// or https://")
            url = None
        elif len(url.strip()) > 1024:
            bad("url", "too long (at most 1024 characters)")
            url = None
        else:
            url = url.strip()

    file_path: str | None = None
    raw_file = data.get("file")
    if raw_file is not None:
        if not isinstance(raw_file, str) or not raw_file.strip():
            bad("file", "must be a file path relative to the plan file")
        else:
            path = Path(raw_file.strip())
            resolved = path if path.is_absolute() else base_dir / path
            if not resolved.is_file():
                bad("file", f"{raw_file.strip()} not found (looked for {resolved})")
            elif resolved.stat().st_size > FILE_MAX_BYTES:
                bad("file", f"{raw_file.strip()} is over the 50 MB a bot may send")
            elif resolved.stat().st_size == 0:
                bad("file", f"{raw_file.strip()} is empty")
            else:
                file_path = str(resolved.resolve())

    if not (body or "").strip() and url is None and raw_file is None and title:
        bad("body", "missing; an item needs a body, a url or a file")

    schedule: Schedule | None = None
    when_value = data.get("when")
    if when_value is None:
        bad("when", "missing; a date-time such as 2026-12-01T08:30 or a cron expression")
    elif not isinstance(when_value, str | dt.datetime | dt.date):
        bad(
            "when",
            "a date-time such as 2026-12-01T08:30 or a cron expression such as '0 9 * * mon'",
        )
    else:
        try:
            schedule = parse_when(when_value, config.tz)
        except ScheduleError as exc:
            bad("when", str(exc))
        else:
            upcoming = next_occurrences(schedule, now, 1)
            if isinstance(schedule, Cron):
                if not next_occurrences(schedule, now - dt.timedelta(days=1), 1):
                    bad("when", "this cron expression never fires")
                    schedule = None
                else:
                    gap = smallest_gap(schedule, now)
                    if gap is not None and gap < dt.timedelta(hours=1):
                        warnings.append(
                            f"{where.name} line {line_of('when')}, item {label!r}, when: fires "
                            f"more than once an hour ({canonical_when(when_value)})"
                        )
            elif not upcoming:
                past.append((line_of("when"), label, canonical_when(when_value)))

    audience, problem = _audience(data.get("audience"))
    if problem:
        bad("audience", problem)
    elif audience is not None:
        for entry in audience:
            if isinstance(entry, int) and config.groups and entry not in config.groups:
                warnings.append(
                    f"{where.name} line {line_of('audience')}, item {label!r}, audience: group "
                    f"{entry} is not in the config's groups (the bot leaves groups not listed)"
                )
            if (
                isinstance(entry, str)
                and entry != "all"
                and config.departments
                and entry not in config.departments
            ):
                warnings.append(
                    f"{where.name} line {line_of('audience')}, item {label!r}, audience: "
                    f"department {entry!r} is not in the config's departments"
                )

    points_value = data.get("points", config.points.material.points)
    points = 0
    if isinstance(points_value, bool) or not isinstance(points_value, int):
        bad("points", "must be a whole number such as 1")
    elif not 0 <= points_value <= 100:
        bad("points", "must be between 0 and 100")
    else:
        points = points_value

    quiz_bank: str | None = None
    quiz_questions: int | None = None
    quiz = data.get("quiz")
    if quiz is not None:
        quiz_pair = keys.get("quiz")
        quiz_node = quiz_pair[1] if quiz_pair else None
        if isinstance(quiz, str):
            quiz = {"bank": quiz}
        if not isinstance(quiz, dict):
            bad("quiz", "write {bank: BANK-ID, questions: N}")
        else:
            if isinstance(quiz_node, yaml.MappingNode):
                for key, (key_node, _value) in _key_nodes(quiz_node).items():
                    if key not in QUIZ_FIELDS:
                        where.add(
                            _line(key_node),
                            "unknown field (expected bank, questions)",
                            label,
                            f"quiz.{key}",
                        )
            bank = _text(quiz.get("bank"))
            if not bank or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", bank):
                bad("quiz", "bank: missing or not a bank id ([a-z0-9-], e.g. security-basics)")
            else:
                quiz_bank = bank
            count = quiz.get("questions", DEFAULT_QUIZ_QUESTIONS)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
                bad("quiz", "questions: a whole number from 1 to 50")
            else:
                quiz_questions = count

    if title and body is not None:
        longest = max(
            plain_length(
                translator(locale),
                title=title.strip(),
                body=body,
                url=url,
                points=points,
            )
            for locale in ("zh_CN", "en")
        )
        if longest > MESSAGE_LIMIT:
            bad(
                "body",
                f"too long for one Telegram message ({longest} characters with the title; "
                f"at most {MESSAGE_LIMIT})",
            )

    if len(where.problems) > before or schedule is None or audience is None:
        return None
    assert raw_id is not None and title is not None and when_value is not None
    return PlanItemSpec(
        id=raw_id,
        title=title.strip(),
        body=(body or "").strip(),
        url=url,
        file=file_path,
        when=canonical_when(when_value),
        schedule=schedule,
        audience=audience,
        points=points,
        quiz_bank=quiz_bank,
        quiz_questions=quiz_questions if quiz_bank else None,
        line=item_line,
    )


def parse_plan(
    content: str | bytes,
    *,
    name: str,
    config: Config,
    base_dir: Path,
    now: dt.datetime | None = None,
) -> Plan:
    """Validate a study plan; raise PlanError listing every problem with line and field."""
    now = now or utcnow()
    where = _Where(name)
    raw = content if isinstance(content, bytes) else content.encode("utf-8")
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlanError([f"{name}: not UTF-8 text (save the plan as UTF-8)"]) from None
    data, root = _load_yaml(text, where)
    if where.problems:
        raise PlanError(where.problems)
    if data is None:
        raise PlanError([f"{name}: the file is empty; a study plan lists its items under items:"])
    items_data: Any
    items_node: yaml.Node | None
    if isinstance(data, list) and isinstance(root, yaml.SequenceNode):
        items_data, items_node = data, root
    elif isinstance(data, dict) and isinstance(root, yaml.MappingNode):
        top = _key_nodes(root)
        for key, (key_node, _value) in top.items():
            if key not in TOP_FIELDS:
                where.add(_line(key_node), f"unknown key {key!r} (expected items, timezone, title)")
        zone = data.get("timezone")
        if zone is not None and str(zone) != config.timezone:
            where.add(
                _line(top["timezone"][1]),
                f"the plan is written for {zone} but the bot runs in {config.timezone} "
                "(config `timezone`); make them the same",
                field_="timezone",
            )
        if "items" not in data:
            where.add(_line(root), "no items: list; a study plan lists its items under items:")
            raise PlanError(where.problems)
        items_data, items_node = data["items"], top["items"][1]
    else:
        raise PlanError([f"{name}: not a study plan (expected a mapping with items:)"])
    if not isinstance(items_data, list) or not isinstance(items_node, yaml.SequenceNode):
        where.add(_line(items_node), "items must be a list of items", field_="items")
        raise PlanError(where.problems)
    if not items_data:
        where.add(_line(items_node), "the plan has no items", field_="items")
    warnings: list[str] = []
    past: list[tuple[int, str, str]] = []
    specs: list[PlanItemSpec] = []
    seen: dict[str, int] = {}
    for index, (item, node) in enumerate(zip(items_data, items_node.value, strict=False)):
        spec = _check_item(
            index,
            item,
            node,
            where=where,
            config=config,
            base_dir=base_dir,
            now=now,
            warnings=warnings,
            past=past,
        )
        raw_id = _text(item.get("id")) if isinstance(item, dict) else None
        if raw_id is not None:
            if raw_id in seen:
                keys = _key_nodes(node) if isinstance(node, yaml.MappingNode) else {}
                line = _line(keys["id"][1]) if "id" in keys else _line(node)
                where.add(line, f"duplicate id (first used at line {seen[raw_id]})", raw_id, "id")
                continue
            seen[raw_id] = _line(node)
        if spec is not None:
            specs.append(spec)
    if where.problems:
        raise PlanError(where.problems)
    if len(past) > 3:
        first, last = past[0], past[-1]
        notes = [
            f"{name} lines {first[0]}-{last[0]}: {len(past)} items ({first[1]!r} … {last[1]!r}) "
            "have a date-time in the past and will not be pushed"
        ]
    else:
        notes = [
            f"{name} line {line}, item {label!r}, when: {when} is in the past; "
            "it will not be pushed"
            for line, label, when in past
        ]
    return Plan(name=name, items=specs, sha256=sha, warnings=notes + warnings)


def read_plan_file(path: Path, config: Config, now: dt.datetime | None = None) -> Plan:
    """Read and validate a plan file; ``file:`` paths are relative to its directory."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PlanError([f"{path}: cannot read the study plan ({exc.strerror or exc})"]) from None
    return parse_plan(content, name=path.name, config=config, base_dir=path.parent, now=now)


def configured_plan_path(config: Config) -> Path | None:
    """``study_plan`` from the config; a relative path is relative to the working directory
    (like the default SQLite file), which is where the bot is started."""
    if not config.study_plan:
        return None
    return Path(config.study_plan).expanduser()


def upload_base_dir(config: Config) -> Path:
    """Where ``file:`` paths of a plan sent in chat are looked up: next to the configured
    plan (its materials folder), else the working directory."""
    path = configured_plan_path(config)
    return path.parent if path is not None else Path.cwd()


def upcoming_pushes(plan: Plan, after: dt.datetime, count: int = 10) -> list[Push]:
    pushes: list[Push] = []
    for spec in plan.items:
        for moment in next_occurrences(spec.schedule, after, count):
            pushes.append(Push(moment, spec))
    pushes.sort(key=lambda p: (p.at, p.item.line))
    return pushes[:count]


# --- storing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: bool = False


async def store_plan(
    session: AsyncSession,
    plan: Plan,
    *,
    source: str,
    actor_telegram_id: int | None = None,
    now: dt.datetime | None = None,
) -> StoreSummary:
    """Make ``plan`` the active plan: upsert its items by id, deactivate the others.

    ``updated_at`` moves only when an item's schedule changes (or it comes back): the
    scheduler owes an item only the occurrences since then.
    """
    now = now or utcnow()
    existing = {row.slug: row for row in await session.scalars(select(PlanItem))}
    added = updated = unchanged = deactivated = 0
    wanted = {spec.id for spec in plan.items}
    for spec in plan.items:
        columns = spec.columns()
        row = existing.get(spec.id)
        if row is None:
            session.add(PlanItem(slug=spec.id, active=True, updated_at=now, **columns))
            added += 1
            continue
        changed = [k for k, v in columns.items() if getattr(row, k) != v]
        if not changed and row.active:
            unchanged += 1
            continue
        if "when" in changed or not row.active:
            row.updated_at = now
        for key in changed:
            setattr(row, key, columns[key])
        row.active = True
        updated += 1
    for slug, row in existing.items():
        if slug not in wanted and row.active:
            row.active = False
            deactivated += 1
    summary = StoreSummary(added, updated, unchanged, deactivated)
    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="plan.load",
            detail={
                "source": source,
                "name": plan.name,
                "sha256": plan.sha256,
                "items": len(plan.items),
                "added": added,
                "updated": updated,
                "deactivated": deactivated,
            },
            created_at=now,
        )
    )
    await session.flush()
    return summary


async def _last_loads(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(AuditEntry.detail)
        .where(AuditEntry.action == "plan.load")
        .order_by(AuditEntry.id.desc())
        .limit(200)
    )
    return [dict(r or {}) for r in rows]


async def load_configured_plan(
    session: AsyncSession, config: Config, now: dt.datetime | None = None
) -> tuple[Plan, StoreSummary] | None:
    """Load ``study_plan`` at start-up, unless this very file was loaded before.

    A plan an admin sent in chat stays in force until the configured file changes: start-up
    reloads the file only when its content differs from the last time it was loaded.
    Raises PlanError when the file is unusable (the stored plan then stays as it was).
    """
    path = configured_plan_path(config)
    if path is None:
        return None
    if not path.is_file():
        raise PlanError([f"{path}: study plan not found (config study_plan)"])
    plan = read_plan_file(path, config, now)
    for detail in await _last_loads(session):
        if detail.get("source") == "config":
            if detail.get("sha256") == plan.sha256:
                return plan, StoreSummary(skipped=True)
            break
    summary = await store_plan(session, plan, source="config", now=now)
    return plan, summary
