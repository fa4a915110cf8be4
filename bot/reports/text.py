"""Text renderings of ``Figures``: the chat summary, the report paragraph, Markdown.

All labels and numbers come from ``overview_rows``/``department_rows``, which the XLSX and
DOCX renderers use too: a figure is formatted in exactly one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.periods import Period
from bot.i18n import N_, Translator, translator
from bot.reports.figures import DepartmentFigures, Figures

Value = int | float | None


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    value: Value
    kind: str  # count | rate | average

    @property
    def text(self) -> str:
        return fmt(self.value, self.kind)


def fmt(value: Value, kind: str = "count") -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "average":
        return f"{value:.1f}"
    return str(int(value))


def pct(value: float | None) -> str:
    return fmt(value, "rate")


OVERVIEW = [
    ("roster", N_("Members on the roster"), "count"),
    ("participants", N_("Participants"), "count"),
    ("participation_rate", N_("Participation rate"), "rate"),
    ("participations", N_("Participations (person-times)"), "count"),
    ("online_activities", N_("Online activities held"), "count"),
    ("materials_pushed", N_("Study materials pushed"), "count"),
    ("reads", N_("Materials read (person-times)"), "count"),
    ("live_rounds", N_("Live quiz rounds"), "count"),
    ("quizzes_taken", N_("Quizzes taken (person-times)"), "count"),
    ("answers", N_("Questions answered"), "count"),
    ("accuracy", N_("Average accuracy"), "rate"),
    ("sessions_held", N_("In-person sessions held"), "count"),
    ("session_attendance", N_("Session attendance (person-times)"), "count"),
    ("attendance_rate", N_("Attendance rate"), "rate"),
    ("discussions_held", N_("Topic discussions held"), "count"),
    ("discussion_joins", N_("Discussion participants (person-times)"), "count"),
    ("reflections", N_("Study reflections submitted"), "count"),
    ("points", N_("Points awarded"), "count"),
]

DEPARTMENT_COLUMNS = [
    ("roster", N_("Members on the roster"), "count"),
    ("participants", N_("Participants"), "count"),
    ("participation_rate", N_("Participation rate"), "rate"),
    ("participations", N_("Participations (person-times)"), "count"),
    ("reads", N_("Materials read (person-times)"), "count"),
    ("quizzes_taken", N_("Quizzes taken (person-times)"), "count"),
    ("answers", N_("Questions answered"), "count"),
    ("accuracy", N_("Average accuracy"), "rate"),
    ("session_attendance", N_("Session attendance (person-times)"), "count"),
    ("attendance_rate", N_("Attendance rate"), "rate"),
    ("discussion_joins", N_("Discussion participants (person-times)"), "count"),
    ("reflections", N_("Study reflections submitted"), "count"),
    ("points", N_("Points awarded"), "count"),
    ("average_points", N_("Average points per member"), "average"),
]


def overview_rows(figures: Figures, _: Translator) -> list[Metric]:
    """The unit's headline figures, labelled in the report's language."""
    unit = figures.unit
    rows = []
    for key, label, kind in OVERVIEW:
        source = figures if hasattr(figures, key) else unit
        rows.append(Metric(key, _(label), getattr(source, key), kind))
    return rows


def department_rows(dept: DepartmentFigures, _: Translator) -> list[Metric]:
    return [
        Metric(key, _(label), getattr(dept.figures, key), kind)
        for key, label, kind in DEPARTMENT_COLUMNS
    ]


def department_name(name: str | None, _: Translator) -> str:
    return name if name is not None else _("No department")


def period_phrase(period: Period, _: Translator, today: dt.date) -> str:
    """How a report names its period: "2026年以来", "2026年11月", "2026年第三季度"…"""
    key = period.key
    if key.isdigit() and len(key) == 4:
        year = int(key)
        if period.start <= today <= period.end:
            return _("Since the start of {year}", year=year)
        return _("In {year}", year=year)
    if len(key) == 7 and key[4] == "-" and key[5:].isdigit():
        return _("In {year}-{month:02d}", year=int(key[:4]), month=int(key[5:]))
    if "-Q" in key:
        return _("In {year} Q{quarter}", year=int(key[:4]), quarter=int(key[-1]))
    if "-W" in key:
        return _("In week {week} of {year}", year=int(key[:4]), week=int(key[-2:]))
    if key.startswith("season:"):
        return _("During {season}", season=period.label)
    if key == "all":
        return _("So far")
    return _("From {start} to {end}", start=period.start.isoformat(), end=period.end.isoformat())


def _clip(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def report_paragraph(figures: Figures, _: Translator, today: dt.date | None = None) -> str:
    """The ready-to-paste paragraph of the study section of a work report."""
    today = today or figures.generated_at.date()
    u = figures.unit
    when = period_phrase(figures.period, _, today)
    if figures.is_empty:
        return _(
            "{when}, {org} recorded no study activity on the learning platform.",
            when=when,
            org=figures.organization,
        )
    text = _(
        "{when}, {org} used the learning platform to push {materials} issues of study "
        "materials (read {reads} times), organised {sessions} in-person study sessions and "
        "seminars ({attendance} attendances, attendance rate {attendance_rate}), held "
        "{discussions} topic discussions ({joins} participants) and received {reflections} "
        "study reflections. It ran {online} online study activities, including {live} live "
        "quiz rounds, with {quizzes} quiz participations. Participation totalled {total} "
        "person-times; {participants} of {roster} members took part (participation rate "
        "{rate}), average accuracy was {accuracy} and {points} points were awarded.",
        when=when,
        org=figures.organization,
        materials=figures.materials_pushed,
        reads=u.reads,
        sessions=figures.sessions_held,
        attendance=u.session_attendance,
        attendance_rate=pct(u.attendance_rate),
        discussions=figures.discussions_held,
        joins=u.discussion_joins,
        reflections=u.reflections,
        online=figures.online_activities,
        live=figures.live_rounds,
        quizzes=u.quizzes_taken,
        total=u.participations,
        participants=u.participants,
        roster=u.roster,
        rate=pct(u.participation_rate),
        accuracy=pct(u.accuracy),
        points=u.points,
    )
    ranking = figures.department_ranking
    if len(ranking) >= 2:
        best = ranking[0]
        lowest = min(ranking, key=lambda d: (d.participation_rate or 0.0, -d.rank))
        text += _(
            " Among departments, {best} led with {average} points per member; {lowest} had "
            "the lowest participation rate ({rate}).",
            best=best.name,
            average=fmt(best.average_points, "average"),
            lowest=lowest.name,
            rate=pct(lowest.participation_rate),
        )
    return text


def problems_paragraph(figures: Figures, _: Translator) -> str:
    """Material for the report's "存在问题" part: the questions answered worst."""
    u = figures.unit
    parts = []
    if u.roster and u.participants < u.roster:
        parts.append(
            _(
                "{absent} members on the roster took no part in study activities.",
                absent=u.roster - u.participants,
            )
        )
    if figures.weak_questions:
        items = _(", ").join(
            _("“{text}” ({accuracy})", text=_clip(q.text, 40), accuracy=pct(q.accuracy))
            for q in figures.weak_questions[:5]
        )
        parts.append(
            _(
                "Some knowledge points are not yet well mastered; the questions with the "
                "lowest accuracy were {items}.",
                items=items,
            )
        )
    return " ".join(parts)


def summary_message(figures: Figures, _: Translator | None = None) -> str:
    """The chat summary (fits one Telegram message)."""
    _ = _ or translator("zh_CN")
    lines = [
        _("📊 Study summary · {period}", period=figures.period.label),
        _("{org} · {start} – {end}", org=figures.organization,
           start=figures.period.start.isoformat(), end=figures.period.end.isoformat()),
        "",
    ]  # fmt: skip
    lines += [f"{m.label}: {m.text}" for m in overview_rows(figures, _)]
    if figures.top:
        lines += ["", _("🏆 Top {n}", n=len(figures.top))]
        lines += [
            _(
                "{rank}. {name} ({department}) {points} pts",
                rank=r.rank,
                name=r.name,
                department=department_name(r.department, _),
                points=r.points,
            )
            for r in figures.top
        ]
    if figures.department_ranking:
        lines += ["", _("🏢 Departments")]
        lines += [
            _(
                "{rank}. {name}: {average} pts per member, participation {rate}",
                rank=d.rank,
                name=d.name,
                average=fmt(d.average_points, "average"),
                rate=pct(d.participation_rate),
            )
            for d in figures.department_ranking
        ]
    if figures.weak_questions:
        lines += ["", _("⚠️ Lowest accuracy")]
        lines += [
            f"{i}. {_clip(q.text, 36)} — {pct(q.accuracy)} ({q.correct}/{q.answers})"
            for i, q in enumerate(figures.weak_questions, 1)
        ]
    lines += ["", report_paragraph(figures, _)]
    text = "\n".join(lines)
    return text if len(text) <= 4000 else text[:3999] + "…"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cell(h) for h in header) + " |"]
    out.append("|" + "|".join("---" for _ in header) + "|")
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def markdown_report(figures: Figures, _: Translator) -> str:
    """The whole report as Markdown (the CLI's ``--format md``)."""
    out = [
        "# " + _("Study report · {period}", period=figures.period.label),
        "",
        _("{org} · {start} – {end}", org=figures.organization,
           start=figures.period.start.isoformat(), end=figures.period.end.isoformat()),
        "",
        "## " + _("Study"),
        "",
        report_paragraph(figures, _),
        "",
    ]  # fmt: skip
    problems = problems_paragraph(figures, _)
    if problems:
        out += ["## " + _("Problems"), "", problems, ""]
    out += ["## " + _("Overview"), ""]
    out += _md_table(
        [_("Figure"), _("Value")], [[m.label, m.text] for m in overview_rows(figures, _)]
    )
    out += ["", "## " + _("By department"), ""]
    header = [_("Department")] + [_(label) for _k, label, _kind in DEPARTMENT_COLUMNS]
    out += _md_table(
        header,
        [
            [department_name(d.name, _)] + [m.text for m in department_rows(d, _)]
            for d in figures.departments
        ],
    )
    if figures.top:
        out += ["", "## " + _("Top {n}", n=len(figures.top)), ""]
        out += _md_table(
            [_("Rank"), _("Name"), _("Department"), _("Points"), _("Accuracy")],
            [
                [str(r.rank), r.name, department_name(r.department, _), str(r.points),
                 pct(r.accuracy)]
                for r in figures.top
            ],
        )  # fmt: skip
    if figures.department_ranking:
        out += ["", "## " + _("Department ranking"), ""]
        out += _md_table(
            [_("Rank"), _("Department"), _("Average points per member"),
             _("Participation rate")],
            [[str(d.rank), d.name, fmt(d.average_points, "average"), pct(d.participation_rate)]
             for d in figures.department_ranking],
        )  # fmt: skip
    if figures.weak_questions:
        out += ["", "## " + _("Questions with the lowest accuracy"), ""]
        out += _md_table(
            [_("Bank"), _("Question"), _("Answers"), _("Accuracy")],
            [[q.bank, _clip(q.text, 60), str(q.answers), pct(q.accuracy)]
             for q in figures.weak_questions],
        )  # fmt: skip
    if figures.sessions:
        out += ["", "## " + _("In-person sessions"), ""]
        out += _md_table(
            [_("Date"), _("Title"), _("Kind"), _("Attendance"), _("Expected")],
            [[s.opened_at.astimezone(figures.period_tz).date().isoformat(), s.title, s.kind, str(s.attendance),
              str(s.expected)] for s in figures.sessions],
        )  # fmt: skip
    out += ["", "## " + _("Trend"), ""]
    out += _md_table(
        [_("Period"), _("Participants"), _("Participations (person-times)"),
         _("Questions answered"), _("Average accuracy"), _("Points awarded")],
        [[t.label, str(t.participants), str(t.participations), str(t.answers),
          pct(t.accuracy), str(t.points)] for t in figures.trend],
    )  # fmt: skip
    out.append("")
    return "\n".join(out)


Renderer = Callable[[Figures, Translator], str]
