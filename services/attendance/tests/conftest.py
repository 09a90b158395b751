"""Fixtures for the attendance integration tests (helpers: attendance.testing)."""
import pytest
from attendance.testing import add_cast, store_of
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, wait_for


@pytest.fixture
def attendance(start_service):
    from attendance.service import AttendanceService

    return start_service(AttendanceService)


@pytest.fixture
def cast(people):
    """The clerks, supervisors, heads, GM and group leader (attendance.testing.CAST)."""
    add_cast(people)
    return people


@pytest.fixture
def seed(attendance, zhidu_config, cast):
    """``seed(person(...), ...)``: publish directory.employee_upserted and wait
    until the attendance service holds both its copies (its own employees, and
    the directory copy callers are proven against)."""
    def feed(*people):
        for p in people:
            publish_event(zhidu_config["AMQP_URI"],
                          make_envelope("directory", "employee_upserted", p))
        store = store_of(attendance)

        def copied(employee_id):
            # The cast is seeded without names: a name means the event landed.
            return store.employee(employee_id) and (store.person(employee_id) or {}).get("name")

        wait_for(lambda: all(copied(p["employee_id"]) for p in people), 15,
                 message="employees copied")
    return feed
