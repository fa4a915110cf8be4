"""PNG charts of leaderboards and summaries (matplotlib, Agg backend, no display needed).

Chinese needs a CJK font: a system Noto Sans CJK / WenQuanYi / Source Han font is used when
installed, else the OFL subset of Noto Sans CJK SC bundled in ``bot/fonts`` (GB2312), so a
fresh machine renders 汉字 instead of empty boxes.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.figure import Figure

from bot.i18n import Translator
from bot.points.leaderboard import DepartmentRow, LeaderRow
from bot.reports.figures import Figures

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"
BUNDLED_FAMILY = "Studybot CJK Sans"
SYSTEM_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)
# rc_context changes global settings: one chart at a time when rendered off the event loop.
_LOCK = threading.Lock()
BAR = "#c0392b"
BAR_2 = "#2e86c1"


@functools.cache
def font_families() -> list[str]:
    """Families to draw text with, best first; matplotlib falls back glyph by glyph."""
    for path in sorted(FONTS_DIR.glob("*.otf")) + sorted(FONTS_DIR.glob("*.ttf")):
        font_manager.fontManager.addfont(str(path))
    available = {f.name for f in font_manager.fontManager.ttflist}
    families = [name for name in SYSTEM_CJK_FAMILIES if name in available][:1]
    if BUNDLED_FAMILY in available:
        families.append(BUNDLED_FAMILY)
    families.append("DejaVu Sans")
    return families


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    fig.set_layout_engine("constrained")
    return fig


def _style(ax: object) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _rc() -> dict[RcKeyType, Any]:
    return {"font.family": font_families(), "axes.unicode_minus": False}


def people_chart(rows: Sequence[LeaderRow], title: str, _: Translator) -> bytes:
    """Horizontal bars of the top people's points (first place on top)."""
    with _LOCK, matplotlib.rc_context(_rc()):
        fig = _figure(7, 0.45 * max(len(rows), 3) + 1.2)
        ax = fig.add_subplot()
        labels = [f"{r.rank}. {r.name}" for r in rows][::-1]
        values = [r.points for r in rows][::-1]
        bars = ax.barh(labels, values, color=BAR)
        ax.bar_label(bars, padding=3)
        ax.set_xlabel(_("Points"))
        ax.set_title(title)
        if not rows:
            ax.text(0.5, 0.5, _("No points in this period yet."), ha="center",
                    transform=ax.transAxes)  # fmt: skip
        _style(ax)
        return _png(fig)


def departments_chart(rows: Sequence[DepartmentRow], title: str, _: Translator) -> bytes:
    """Average points per member and participation rate of each department."""
    with _LOCK, matplotlib.rc_context(_rc()):
        fig = _figure(7, 0.55 * max(len(rows), 3) + 1.4)
        ax = fig.add_subplot()
        names = [d.name for d in rows][::-1]
        bars = ax.barh(names, [d.average_points for d in rows][::-1], color=BAR)
        ax.bar_label(bars, labels=[f"{d.average_points:.1f}" for d in rows][::-1], padding=3)
        ax.set_xlabel(_("Average points per member"))
        ax.set_title(title)
        rate = ax.twiny()
        rate.plot(
            [(d.participation_rate or 0) * 100 for d in rows][::-1],
            names,
            "o",
            color=BAR_2,
            label=_("Participation rate"),
        )
        rate.set_xlim(0, 105)
        rate.set_xlabel(_("Participation rate") + " (%)", color=BAR_2)
        _style(ax)
        return _png(fig)


def summary_chart(figures: Figures, _: Translator) -> bytes:
    """One picture for the report: trend, departments and the top 10."""
    with _LOCK, matplotlib.rc_context(_rc()):
        fig = _figure(10, 7.5)
        grid = fig.add_gridspec(2, 2)
        trend = fig.add_subplot(grid[0, :])
        labels = [t.label for t in figures.trend]
        trend.bar(labels, [t.participations for t in figures.trend], color=BAR, alpha=0.85,
                  label=_("Participations (person-times)"))  # fmt: skip
        trend.plot(labels, [t.participants for t in figures.trend], "o-", color=BAR_2,
                   label=_("Participants"))  # fmt: skip
        trend.set_title(_("Trend") + f" · {figures.period.label}")
        trend.legend(loc="upper left")
        if len(labels) > 8:
            trend.tick_params(axis="x", labelrotation=45)
        _style(trend)

        depts = fig.add_subplot(grid[1, 0])
        ranking = figures.department_ranking
        names = [d.name for d in ranking][::-1]
        rates = [(d.participation_rate or 0) * 100 for d in ranking][::-1]
        bars = depts.barh(names, rates, color=BAR_2)
        depts.bar_label(bars, labels=[f"{r:.1f}%" for r in rates], padding=3)
        depts.set_xlim(0, 115)
        depts.set_title(_("Participation rate"))
        _style(depts)

        top = fig.add_subplot(grid[1, 1])
        rows = figures.top
        bars = top.barh([f"{r.rank}. {r.name}" for r in rows][::-1],
                        [r.points for r in rows][::-1], color=BAR)  # fmt: skip
        top.bar_label(bars, padding=3)
        top.set_title(_("Top {n}", n=len(rows)) if rows else _("No points in this period yet."))
        _style(top)
        fig.suptitle(
            _("Study report · {period}", period=figures.period.label) + f" · {figures.organization}"
        )
        return _png(fig)
