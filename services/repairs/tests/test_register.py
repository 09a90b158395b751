"""The paid-service register (《工程部有偿服务登记表》, 001 §11 3.8, 5.3): the month's
services charged to households, as rows, an XLSX workbook and a CSV file — each
read back here as a person's spreadsheet program would."""
import base64
import csv
import io

import pytest
import requests
from openpyxl import load_workbook

HEADINGS = ["序号", "完工日期", "维修单号", "类别", "住户单元", "客户姓名", "维修地点", "工种",
            "维修内容", "维修人", "收费金额（元）", "客户签认", "回访结果", "结算状态"]


def charged(desk, received_at, items, *, kind="paid", household=None, callback=None,
            finish=None):
    """An order taken, dispatched, quoted, agreed and completed with ``items``."""
    day = received_at[:10]
    number = desk.take(f"{received_at}", kind=kind,
                       **({"household": household} if household else {}))
    desk.do("dispatch", number, f"{day} 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, f"{day} 10:20")
    if kind != "warranty":
        desk.do("quote", number, f"{day} 10:22", items=items)
        desk.do("record_consent", number, f"{day} 10:23", consented=True)
    desk.do("complete", number, finish or f"{day} 11:00", items=items,
            signed_off_by="李先生", report="修好")
    if callback is not None:
        desk.do("call_back", number, f"{day} 16:00", satisfied=callback)
    return number


@pytest.fixture
def month(desk):
    desk.store.names = lambda ids: {i: "周工" for i in ids if i == "eng-07"}
    first = charged(desk, "2026-11-13 10:00",
                    [{"code": "PL01", "quantity": 1}, {"code": "PL02", "quantity": 2}],
                    callback=True)
    # Typed at the desk: text that a spreadsheet must not take for a formula.
    second = charged(desk, "2026-11-02 09:00", [{"code": "EL01", "quantity": 1}],
                     kind="routine", callback=False,
                     household={"unit": "=1+1", "name": "=HYPERLINK(\"x\")", "phone": None})
    charged(desk, "2026-11-14 09:00", [{"code": "PL01"}], kind="warranty")  # the company pays
    charged(desk, "2026-11-30 23:00", [{"code": "LK01"}], finish="2026-12-01 00:30")
    return first, second


def test_the_month_lists_what_households_paid_for_in_completion_order(desk, month):
    first, second = month
    register = desk.app.paid_service_register(2026, 11)
    assert register["title"] == "工程部有偿服务登记表" and register["period"] == "2026年11月"
    assert [c["heading"] for c in register["columns"]] == HEADINGS
    assert [row["number"] for row in register["rows"]] == [second, first]
    assert (register["count"], register["total_yuan"]) == (2, 30 + 210)
    row = register["rows"][1]
    assert row == {
        "seq": 2, "completed_on": "2026-11-13", "number": first, "kind": "特约服务",
        "unit": "3-1202", "customer": "李先生", "location": "厨房", "trade": "水",
        "items": "水管漏水维修 ×1处；更换水龙头 ×2个", "engineer": "周工",
        "amount_yuan": 210, "signed_off_by": "李先生", "callback": "满意",
        "payment": "已转财务"}
    assert register["rows"][0]["callback"] == "不满意"
    # Completed after midnight in Shanghai: December's register, not November's.
    december = desk.app.paid_service_register(2026, 12)
    assert [row["amount_yuan"] for row in december["rows"]] == [100]
    assert desk.app.paid_service_register(2026, 10)["rows"] == []


def test_the_xlsx_reads_back_with_the_forms_headings_and_the_total(desk, month):
    first, second = month
    register = desk.app.paid_service_register(2026, 11)
    xlsx = register["files"]["xlsx"]
    assert xlsx["filename"] == "工程部有偿服务登记表-2026-11.xlsx"
    assert xlsx["media_type"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(base64.b64decode(xlsx["base64"]))).active
    assert sheet.title == "2026-11"
    assert sheet["A1"].value == "工程部有偿服务登记表" and sheet["A2"].value == "2026年11月"
    assert [cell.value for cell in sheet[3]] == HEADINGS
    assert [sheet.cell(4, c).value for c in (1, 2, 3, 6, 11)] == [
        1, "2026-11-02", second, "=HYPERLINK(\"x\")", 30]
    # What the desk typed stays text: no formula runs when the file is opened.
    assert sheet["E4"].data_type == "s" and sheet["F4"].data_type == "s"
    assert [sheet.cell(5, c).value for c in (3, 9, 10, 11)] == [
        first, "水管漏水维修 ×1处；更换水龙头 ×2个", "周工", 210]
    assert sheet["A6"].value == "合计" and sheet["K6"].value == 240
    assert sheet.max_row == 6


def test_the_csv_reads_back_and_guards_formulas(desk, month):
    register = desk.app.paid_service_register(2026, 11)
    content = base64.b64decode(register["files"]["csv"]["base64"])
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == HEADINGS
    assert rows[1][4:6] == ["'=1+1", "'=HYPERLINK(\"x\")"]
    assert rows[2][10] == "210" and rows[3][0] == "合计" and rows[3][10] == "240"
    assert len(rows) == 4


@pytest.mark.integration
def test_the_register_over_rpc_rest_and_as_a_file(start_service, rpc, people, auth_headers):
    from repairs.service import RepairsService

    service = start_service(RepairsService)
    people.add("fd-01", "staff", department="customer_service")
    people.add("eng-mgr", "dept_manager", department="engineering")
    people.add("eng-07", "staff", department="engineering", name="周工")
    desk, supervisor, engineer = ({"id": i, "role": r} for i, r in (
        ("fd-01", "staff"), ("eng-mgr", "dept_manager"), ("eng-07", "staff")))
    api = rpc.repairs
    number = api.take_request({
        "household": {"unit": "3-1202", "name": "李先生", "phone": "13900001111"},
        "location": "厨房", "trades": ["plumbing"], "description": "水管漏水", "kind": "paid",
        "received_at": "2026-11-13T10:00", "actor": desk})["number"]
    for command, actor, fields in (
            ("dispatch", supervisor, {"engineer_id": "eng-07"}),
            ("record_arrival", engineer, {}),
            ("quote", engineer, {"items": [{"code": "PL01"}]}),
            ("record_consent", engineer, {"consented": True}),
            ("complete", engineer, {"items": [{"code": "PL01"}], "signed_off_by": "李先生",
                                    "report": "换接头"})):
        getattr(api, command)({"number": number, "at": "2026-11-13T11:00", "actor": actor,
                               **fields})

    register = api.paid_service_register({"year": 2026, "month": 11, "actor": supervisor})
    assert [(r["number"], r["engineer"], r["amount_yuan"]) for r in register["rows"]] == [
        (number, "周工", 50)]

    base = f"{service.web_url}/api/v1/repairs/paid-register/2026/11"
    as_desk = auth_headers("fd-01")
    listed = requests.get(base, headers=as_desk, timeout=10)
    assert listed.status_code == 200 and listed.json()["total_yuan"] == 50
    download = requests.get(f"{base}.xlsx", headers=as_desk, timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"].endswith("spreadsheetml.sheet")
    assert 'filename="paid-service-register-2026-11.xlsx"' in \
        download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert [sheet.cell(4, c).value for c in (3, 10, 11)] == [number, "周工", 50]
    text = requests.get(f"{base}.csv", headers=as_desk, timeout=10)
    assert text.headers["Content-Type"].startswith("text/csv")
    assert text.content.decode("utf-8-sig").splitlines()[0].startswith("序号,完工日期,维修单号")

    # The same rights and refusals as the operation's.
    assert requests.get(f"{base}.xlsx", timeout=10).status_code == 401
    assert requests.get(f"{base}.xlsx", headers=auth_headers("eng-07"),
                        timeout=10).status_code == 403
    assert requests.get(f"{service.web_url}/api/v1/repairs/paid-register/2026/13.csv",
                        headers=as_desk, timeout=10).status_code == 400
    # No such file: the month "11.pdf" is no month.
    other = requests.get(f"{base}.pdf", headers=as_desk, timeout=10)
    assert other.status_code == 400 and "month" in other.json()["fields"]
