"""The regular meetings on their standing schedule and the GM office meeting's
agenda, through the running service (000 §3 四, 四.7): the real broker and
database, callers proven by their tokens."""
import pytest
from attendance.testing import local, person
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration


def refused(call, payload, kind):
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == kind, err.value.value
    return err.value.value


def test_the_agenda_by_the_5th_and_the_standing_meetings_scheduled_once_000_s3_4_4_7(
        attendance, rpc, seed, event_tap):
    seed(person("G1", role="gm", department="management"),
         person("D1", role="deputy_gm", department="management"),
         person("H1", role="dept_manager"),
         person("H2", role="dept_manager", department="finance"),
         person("O1", role="gm_office", department="office"))
    h1, h2, gm = (rpc.as_person(p).attendance for p in ("H1", "H2", "G1"))
    item = {"department": "customer_service", "item": "修订排班制度",
            "at": local(2026, 3, 2, 9)}
    # Each head sends their own department's items (四.7 各所属公司…上报).
    refused(h2.submit_agenda_item, item, "PermissionDenied")
    refused(rpc.as_person("D1").attendance.submit_agenda_item, item, "PermissionDenied")
    sent = h1.submit_agenda_item(item)
    assert (sent["no"], sent["month"], sent["closes_at"]) == \
        (1, "2026-03", "2026-03-05T16:00:00+00:00")

    with event_tap("attendance") as tap:
        # The 5th, 09:30: finance has sent nothing, its head is reminded once.
        swept = rpc.attendance.sweep({"now": local(2026, 3, 5, 9, 30)})
        assert swept["reminders_sent"] == [
            "agenda:gm_office_meeting:2026-03:finance:reminder:1"]
        assert rpc.attendance.sweep({"now": local(2026, 3, 5, 9, 35)})["reminders_sent"] == []
        [reminder] = tap.wait("attendance.meeting_agenda_reminder")
        assert (reminder["data"]["to_ids"], reminder["data"]["month"]) == (["H2"], "2026-03")
        # Next Tuesday's review is scheduled once, with the directory's holders.
        assert swept["standing_meetings"]["scheduled"] == ["weekly_review-2026-03-10"]
        [review] = tap.wait("attendance.meeting_scheduled")
        assert (review["data"]["attendees"], review["data"]["chair_id"]) == \
            (["D1", "G1", "H1", "H2"], "G1")

        h2.submit_agenda_item({"department": "finance", "item": "年度预算调整",
                               "at": local(2026, 3, 5, 10)})
        refused(gm.decide_agenda, {"year": 2026, "month": 3, "approved": [1, 2],
                                   "at": local(2026, 3, 5, 11)}, "Conflict")
        closed = rpc.attendance.sweep({"now": local(2026, 3, 6, 0, 30)})["standing_meetings"]
        assert closed == {"scheduled": [], "agendas_closed": ["gm_office_meeting:2026-03"]}
        [told] = [e for e in tap.wait("attendance.meeting_agenda_closed", 2)
                  if e["data"]["month"] == "2026-03"]
        assert told["data"]["agenda"] == ["1. customer_service: 修订排班制度",
                                          "2. finance: 年度预算调整"]

        # The GM approves (统一报总经理审批): the meeting is scheduled with its agenda.
        decision = {"year": 2026, "month": 3, "approved": [1, 2], "at": local(2026, 3, 6, 10)}
        refused(h1.decide_agenda, decision, "PermissionDenied")
        decided = gm.decide_agenda(decision)
        assert decided["meeting_id"] == "gm_office_meeting-2026-03-10"
        assert gm.decide_agenda(decision)["status"] == "decided"       # the same again
        notices = tap.wait("attendance.meeting_scheduled", 2)
        [notice] = [n for n in notices if n["data"]["standing"] == "gm_office_meeting"]
        assert (notice["data"]["attendees"], notice["data"]["start"]) == \
            (["D1", "G1"], "2026-03-10T01:00:00+00:00")
        assert [a["item"] for a in notice["data"]["agenda"]] == ["修订排班制度", "年度预算调整"]
        assert rpc.attendance.sweep({"now": local(2026, 3, 6, 12)})["standing_meetings"][
            "scheduled"] == []
        rpc.attendance.health({})
        assert len(tap.of_type("attendance.meeting_scheduled")) == 2
    meeting = rpc.as_person("D1").attendance.get_meeting(
        {"meeting_id": "gm_office_meeting-2026-03-10"})
    assert (meeting["standing"], meeting["occurrence"]) == ("gm_office_meeting", "2026-03-10")
    assert [a["no"] for a in meeting["agenda"]] == [1, 2]
    agenda = rpc.as_person("O1").attendance.get_agenda({"year": 2026, "month": 3})
    assert (agenda["status"], agenda["meeting_id"]) == ("decided",
                                                         "gm_office_meeting-2026-03-10")
    refused(rpc.as_person("E9").attendance.get_agenda, {"year": 2026, "month": 3},
            "PermissionDenied")
