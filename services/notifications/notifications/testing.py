"""Helpers for tests of notifications' routing: a directory held in memory."""
from __future__ import annotations


class MemoryDirectory:
    """What routing looks people up in (:class:`notifications.routing.Directory`),
    from dictionaries: people by id, groups, case owners and notices' people."""

    def __init__(self, people, groups=None, cases=None, notices=None):
        self.people = people
        self.groups = groups or {}
        self.cases = cases or {}
        self.notices = notices or {}

    def person(self, employee_id):
        return self.people.get(employee_id)

    def with_role(self, role, department=None):
        found = [pid for pid, p in sorted(self.people.items()) if p.get("role") == role
                 and (department is None or p.get("department") == department)]
        if department is None:
            found += [g for g in self.groups.get(role, []) if g not in found]
        return found

    def case_owner(self, number):
        return self.cases.get(number)

    def notice_people(self, notice_id):
        return list(self.notices.get(notice_id, []))

    def group(self, name):
        return list(self.groups.get(name, []))
