"""The service's copy of the directory, as the routing table sees it.

People's phones and e-mail addresses come apart from the rest of their record,
in ``directory.employee_contact_changed``: an event only this service may
receive, since it is the one that sends to people.
"""
from __future__ import annotations

from zhidu.domain import DomainValidation
from zhidu.times import parse_time

from .store import NotificationsStore


def remember_contact(store: NotificationsStore, event: dict) -> str:
    data = event["data"]
    if not data.get("employee_id"):
        raise DomainValidation.one("data.employee_id", "missing")
    store.upsert_contact(data["employee_id"], data, parse_time(event["time"]))
    return data["employee_id"]


class StoreDirectory:
    """Looks people up in the store, once per id per event.

    ``role:X`` means the directory's holders of role X plus the ids configured
    for the group named X: the directory rarely records who the GM is, and
    the company's HR contact may be a shared mailbox person nobody reports to.
    """

    def __init__(self, store: NotificationsStore, groups: dict[str, list[str]]):
        self.store = store
        self.groups = groups
        self._people: dict[str, dict | None] = {}
        self._roles: dict[tuple, list[str]] = {}

    def person(self, employee_id: str) -> dict | None:
        if employee_id not in self._people:
            self._people[employee_id] = self.store.people([employee_id]).get(employee_id)
        return self._people[employee_id]

    def with_role(self, role: str, department: str | None = None) -> list[str]:
        key = (role, department)
        if key not in self._roles:
            found = self.store.with_role(role, department)
            if department is None:
                found = list(dict.fromkeys([*found, *self.groups.get(role, [])]))
            self._roles[key] = found
        return self._roles[key]

    def case_owner(self, number: str) -> str | None:
        return self.store.case_owner(number)

    def notice_people(self, notice_id: str) -> list[str]:
        notice = self.store.notice(notice_id) or {}
        return [str(pid) for pid in notice.get("employee_ids") or [] if pid]

    def group(self, name: str) -> list[str]:
        return list(self.groups.get(name, []))
