"""zhidu.spreadsheets: sheets written as XLSX and CSV, read back as a person's
spreadsheet program would, with nothing typed ever becoming a formula."""
from __future__ import annotations

import base64
import csv
import io

import pytest
from openpyxl import load_workbook
from zhidu import spreadsheets

COLUMNS = [{"key": "item", "heading": "项目", "width": 20}, {"key": "n", "heading": "件数"}]


def two_sheets():
    return [
        {"name": "汇总", "title": "客诉案件统计表", "subtitle": "2026年2月", "columns": COLUMNS,
         "rows": [{"item": "=HYPERLINK(\"x\")", "n": 3}, {"item": "-1", "n": None}],
         "total": {"item": "合计", "n": 3}},
        {"name": "按部门/渠道", "columns": COLUMNS, "rows": [{"item": "@SUM(A1)", "n": 1}]},
    ]


def test_every_sheet_is_a_tab_with_its_title_headings_rows_and_total():
    book = load_workbook(io.BytesIO(spreadsheets.xlsx(two_sheets())))
    assert book.sheetnames == ["汇总", "按部门_渠道"]
    first = book["汇总"]
    assert first["A1"].value == "客诉案件统计表" and first["A2"].value == "2026年2月"
    assert [c.value for c in first[3]] == ["项目", "件数"]
    assert [first.cell(4, 1).value, first.cell(4, 2).value] == ["=HYPERLINK(\"x\")", 3]
    # Text stays text: no formula runs when the file is opened.
    assert first["A4"].data_type == "s" and first["A5"].data_type == "s"
    assert [first.cell(6, c).value for c in (1, 2)] == ["合计", 3]
    assert first.freeze_panes == "A4"
    second = book["按部门_渠道"]
    assert [c.value for c in second[1]] == ["项目", "件数"] and second["A2"].data_type == "s"


def test_the_csv_holds_each_sheet_under_its_name_and_guards_formulas():
    text = spreadsheets.csv_bytes(two_sheets())
    assert text.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows == [["汇总"], ["项目", "件数"], ["'=HYPERLINK(\"x\")", "3"], ["'-1", ""],
                    ["合计", "3"], [], ["按部门/渠道"], ["项目", "件数"], ["'@SUM(A1)", "1"]]
    # One sheet: one plain table.
    single = spreadsheets.csv_bytes(two_sheets()[1:]).decode("utf-8-sig").splitlines()
    assert single == ["项目,件数", "'@SUM(A1),1"]


def test_a_file_and_its_download():
    file = spreadsheets.file(two_sheets(), "客诉案件统计表-2026-02", "csv")
    assert (file["filename"], file["media_type"]) == ("客诉案件统计表-2026-02.csv",
                                                      spreadsheets.CSV_TYPE)
    reply = spreadsheets.download(file, "monthly-2026-02.csv")
    assert reply.get_data() == base64.b64decode(file["base64"])
    assert reply.headers["Content-Type"] == spreadsheets.CSV_TYPE
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="monthly-2026-02.csv"; ')
    assert "filename*=UTF-8''%E5%AE%A2" in disposition
    with pytest.raises(ValueError):
        spreadsheets.render(two_sheets(), "pdf")
