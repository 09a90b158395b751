"""Fixtures for the attendance integration tests (helpers: attendance.testing)."""
import pytest
from attendance.testing import store_of
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, wait_for


@pytest.fixture
def attendance(start_service):
    from attendance.service import AttendanceService

    return start_service(AttendanceService)


@pytest.fixture
def seed(attendance, zhidu_config):
    """``seed(person(...), ...)``: publish directory.employee_upserted and wait
    until the attendance service holds its copy."""
    def feed(*people):
        for p in people:
            publish_event(zhidu_config["AMQP_URI"],
                          make_envelope("directory", "employee_upserted", p))
        store = store_of(attendance)
        wait_for(lambda: all(store.employee(p["employee_id"]) for p in people), 15,
                 message="employees copied")
    return feed
