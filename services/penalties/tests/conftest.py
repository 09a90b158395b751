"""The penalties service with the directory beside it, and one worker W1."""
import pytest
from directory.service import DirectoryService
from penalties.service import PenaltiesService
from zhidu.testing import service_db, wait_for

LINE = {"team_leader_id": "TL", "manager_id": "DM", "unit_head_id": "UH"}
WORKER = {"employee_id": "W1", "name": "张伟", "gender": "M", "department": "property",
          "unit": "north", "monthly_wage_yuan": 3000, **LINE}


@pytest.fixture
def worker():
    return dict(WORKER)


@pytest.fixture
def penalties_service(start_service):
    """The running container (``.web_url`` for REST calls)."""
    start_service(DirectoryService)
    return start_service(PenaltiesService)


@pytest.fixture
def penalties(penalties_service, rpc, zhidu_config):
    rpc.directory.upsert_employee(WORKER)
    # The ledger needs the reporting line (from the directory's event) to split,
    # and the permissions file needs it to know W1's managers; the wage, from
    # its own event, sets the ceiling.
    people = service_db(zhidu_config, "penalties").people
    wait_for(lambda: (p := people.find_one({"_id": "W1"})) and p.get("manager_id")
             and p.get("monthly_wage_yuan"), message="W1 copied into penalties")
    return rpc
