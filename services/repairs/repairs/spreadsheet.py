"""The paid-service register as the files people download (XLSX and CSV).

The register :func:`repairs.views.paid_register` returns becomes one sheet
of :mod:`zhidu.spreadsheets`, which writes both files and keeps every text
cell text (what the desk typed never becomes a formula).
"""
from __future__ import annotations

from zhidu import spreadsheets

XLSX_TYPE, CSV_TYPE = spreadsheets.XLSX_TYPE, spreadsheets.CSV_TYPE
# Wide enough for the usual content of each column, in characters.
_WIDTHS = {"seq": 6, "completed_on": 12, "number": 14, "kind": 10, "unit": 10,
           "customer": 10, "location": 14, "trade": 8, "items": 36, "engineer": 10,
           "amount_yuan": 14, "signed_off_by": 10, "callback": 10, "payment": 12}


def sheet(register: dict) -> dict:
    """Title, period, headings, a row per service, the total."""
    columns = [{**c, "width": _WIDTHS.get(c["key"], spreadsheets.DEFAULT_WIDTH)}
               for c in register["columns"]]
    first = columns[0]["key"]
    return {"name": f"{register['year']}-{register['month']:02d}",
            "title": register["title"], "subtitle": register["period"],
            "columns": columns, "rows": register["rows"],
            "total": {first: "合计", "amount_yuan": register["total_yuan"]}}


def files(register: dict, stem: str) -> dict:
    """``{"xlsx": {...}, "csv": {...}}``: each a file name, a media type and base64 content."""
    return spreadsheets.files([sheet(register)], stem)


def xlsx(register: dict) -> bytes:
    return spreadsheets.xlsx([sheet(register)])


def csv_bytes(register: dict) -> bytes:
    """The headings, a row per service and the total (no title lines: one table)."""
    return spreadsheets.csv_bytes([sheet(register)])
