"""A violation the ledger cannot book yet is parked, not lost, and booked on replay.

The dormitory ships a new rule (D18) before the penalties service knows it: the
event is dead-lettered with the reason. Operations deploy the updated
catalogue, restart penalties and replay: the violation is booked exactly once.
"""
from pathlib import Path

import pytest
import yaml
from penalties.service import PenaltiesService
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, wait_for

pytestmark = pytest.mark.integration

CATALOGS = Path(__file__).resolve().parents[1] / "services/penalties/penalties/catalogs"


def test_unbookable_violation_is_dead_lettered_then_booked_after_replay(
        start_service, rpc, zhidu_config, tmp_path):
    first = start_service(PenaltiesService)
    event = make_envelope("dormitory", "violation_recorded", {
        "violation_id": "V-new", "incident_id": "INSP-9", "employee_id": "R7",
        "code": "D18", "points": 2, "at": "2026-11-18T21:00:00+08:00",
        "building": "B", "room_no": "202"})
    publish_event(zhidu_config["AMQP_URI"], event)

    [letter] = wait_for(lambda: rpc.penalties.dead_letters({}), timeout=15,
                        message="the violation parked in the dead-letter queue")
    assert letter["event"]["id"] == event["id"]
    assert letter["error"].startswith("ValidationError") and "D18" in letter["error"]
    assert letter["handler"] == "penalties.on_dormitory_violation"
    account = {"employee_id": "R7", "year": 2026, "month": 11}
    assert rpc.penalties.get_account(account)["entries"] == []

    # The updated catalogue arrives with the next deployment.
    catalog = yaml.safe_load((CATALOGS / "dormitory.yaml").read_text(encoding="utf-8"))
    catalog["replaces"] = True
    catalog["rules"].append({"code": "D18", "kind": "penalty", "points": 2,
                             "title_zh": "私拉充电线给电动车充电",
                             "title_en": "Charging an e-bike from a private cable"})
    (tmp_path / "dormitory.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True),
                                             encoding="utf-8")
    first.stop()
    start_service(PenaltiesService, ZHIDU_PENALTY_CATALOGS=str(tmp_path / "dormitory.yaml"))

    assert rpc.penalties.replay_dead_letters({})["replayed"] == [letter["id"]]
    booked = wait_for(lambda: rpc.penalties.get_account(account)["entries"], timeout=15,
                      message="booked after replay")
    assert [(e["code"], e["points"], e["amount_yuan"]) for e in booked] == [("D18", 2, 20)]
    assert rpc.penalties.dead_letters({}) == []
    # Replaying again finds nothing and books nothing twice.
    assert rpc.penalties.replay_dead_letters({})["replayed"] == []
    assert len(rpc.penalties.get_account(account)["entries"]) == 1
