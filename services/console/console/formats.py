"""How times, money and durations read on the console's pages."""
from __future__ import annotations

import re
from datetime import date, datetime

from zhidu.times import local_tz, parse_time


def _moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return None


def when(value, with_time: bool = True) -> str:
    """An ISO moment in the company's time zone: ``2026-11-13 10:00``."""
    moment = _moment(value)
    if moment is None:
        return "—" if value in (None, "") else str(value)
    local = moment.astimezone(local_tz())
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def day(value) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        return value
    return when(value, with_time=False)


def iso(value) -> str:
    moment = _moment(value)
    return moment.isoformat() if moment else ""


def yuan(amount) -> str:
    if amount is None:
        return "—"
    return f"¥{int(amount):,}"


def points(value) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{number:g}"


def percent(rate) -> str:
    if rate is None:
        return "—"
    return f"{float(rate) * 100:.1f}%"


def duration(seconds: float, locale: str) -> str:
    """``2天3小时`` / ``2 d 3 h``; minutes below an hour, seconds never."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    zh = locale == "zh-CN"
    parts = []
    if days:
        parts.append(f"{days}天" if zh else f"{days} d")
    if hours:
        parts.append(f"{hours}小时" if zh else f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes}分钟" if zh else f"{minutes} min")
    if not parts:
        return "不到1分钟" if zh else "under a minute"
    return "".join(parts) if zh else " ".join(parts)


# The notes the complaints service writes into a case's history, in English
# (its record is the same for everyone); the common ones read in the person's
# language, anything else as written.
_NOTES = {"acknowledged": "history.acknowledged", "department feedback":
          "history.department_feedback", "resumed": "history.resumed"}
_HANDED = re.compile(r"^(?P<re>reassigned to )?(?P<department>[\w-]+)/(?P<owner>[\w.-]+)$")
_YUAN = re.compile(r"^(?P<amount>\d+) yuan$")
_LIABILITY = re.compile(r"^liability: (?P<party>\w+) (?P<department>\S*)$")


def history_note(note, t, names=None) -> str:
    """A history entry's note as ``t``'s reader reads it."""
    if not note:
        return ""
    text = str(note)
    if text in _NOTES:
        return t(_NOTES[text])
    if m := _HANDED.match(text):
        owner = (names or {}).get(m["owner"], m["owner"])
        to = f"{t.label('department', m['department'])} · {owner}"
        return t("history.reassigned" if m["re"] else "history.assigned", to=to)
    if m := _YUAN.match(text):
        return yuan(int(m["amount"]))
    if m := _LIABILITY.match(text):
        department = t.label("department", m["department"]) if m["department"] else ""
        return t("history.liability", party=t.label("party", m["party"]),
                 department=department).strip()
    if t.has(f"channel.{text}"):
        return t.label("channel", text)
    return text
