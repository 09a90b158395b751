"""Tables as the files people download: XLSX (openpyxl) and CSV.

A *sheet* is a plain dict, so a service builds it from its own data and this
module only writes it::

    {"name": "2026-02",                       # the XLSX tab (at most 31 characters)
     "title": "客诉案件统计表", "subtitle": "2026年2月",   # optional lines above
     "columns": [{"key": "department", "heading": "部门", "width": 14}, ...],
     "rows": [{"department": "客服部", ...}, ...],
     "total": {"department": "合计", ...}}     # optional, written bold

Cells may hold what people typed (a customer's name, a department), so
nothing in them may become a formula: the XLSX stores every text as text,
and a CSV cell starting with ``= + - @`` (or a tab or carriage return) is
prefixed with ``'``, which spreadsheet programs show as the text it guards.
A CSV holds one table; several sheets are written one after the other, each
under a line naming it and separated by an empty line.
"""
from __future__ import annotations

import base64
import csv
import io
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
MEDIA_TYPES = {"xlsx": XLSX_TYPE, "csv": CSV_TYPE}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_WIDTH = 12
# Excel refuses longer tab names and these characters in them.
_MAX_SHEET_NAME = 31
_SHEET_NAME_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def xlsx(sheets: Sequence[Mapping]) -> bytes:
    """One tab per sheet: title and subtitle lines, headings, rows, the total."""
    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet in sheets:
        _write_sheet(book.create_sheet(_sheet_name(sheet.get("name") or "Sheet", used)),
                     sheet)
    if not book.worksheets:
        book.create_sheet("Sheet")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    base = str(name).translate(_SHEET_NAME_FORBIDDEN)[:_MAX_SHEET_NAME] or "Sheet"
    candidate, n = base, 1
    while candidate.lower() in used:
        n += 1
        suffix = f" ({n})"
        candidate = base[:_MAX_SHEET_NAME - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate


def _write_sheet(ws, sheet: Mapping) -> None:
    columns = sheet["columns"]
    width = max(1, len(columns))
    header_row = 1
    for line in ("title", "subtitle"):
        if sheet.get(line):
            ws.append([sheet[line]])
            ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row,
                           end_column=width)
            cell = ws.cell(ws.max_row, 1)
            cell.data_type = TYPE_STRING
            cell.alignment = Alignment(horizontal="center")
            if line == "title":
                cell.font = Font(bold=True, size=14)
            header_row += 1
    ws.append([c["heading"] for c in columns])
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for row in sheet.get("rows") or ():
        _append(ws, [row.get(c["key"]) for c in columns])
    if sheet.get("total"):
        _append(ws, [sheet["total"].get(c["key"]) for c in columns])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = \
            column.get("width") or DEFAULT_WIDTH
    ws.freeze_panes = ws.cell(header_row + 1, 1).coordinate


def _append(ws, values: list) -> None:
    ws.append([_cell_value(v) for v in values])
    for cell in ws[ws.max_row]:
        # openpyxl reads a text starting with "=" as a formula: keep it text.
        if isinstance(cell.value, str):
            cell.data_type = TYPE_STRING


def _cell_value(value):
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def csv_bytes(sheets: Sequence[Mapping]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    several = len(sheets) > 1
    for position, sheet in enumerate(sheets):
        if position:
            writer.writerow([])
        if several:
            writer.writerow([guard(sheet.get("name") or "")])
        columns = sheet["columns"]
        writer.writerow([guard(c["heading"]) for c in columns])
        for row in [*(sheet.get("rows") or ()), *([sheet["total"]] if sheet.get("total")
                                                   else [])]:
            writer.writerow([guard(_cell_value(row.get(c["key"]))) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def guard(value):
    """A text a spreadsheet program would run as a formula, prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def render(sheets: Sequence[Mapping], fmt: str) -> bytes:
    if fmt == "xlsx":
        return xlsx(sheets)
    if fmt == "csv":
        return csv_bytes(sheets)
    raise ValueError(f"no such format {fmt!r}; expected one of {sorted(MEDIA_TYPES)}")


def file(sheets: Sequence[Mapping], stem: str, fmt: str) -> dict:
    """One file as an RPC reply carries it: name, media type and base64 content."""
    return {"format": fmt, "filename": f"{stem}.{fmt}", "media_type": MEDIA_TYPES[fmt],
            "base64": base64.b64encode(render(sheets, fmt)).decode("ascii")}


def files(sheets: Sequence[Mapping], stem: str) -> dict:
    """``{"xlsx": file, "csv": file}`` of :func:`file`."""
    return {fmt: file(sheets, stem, fmt) for fmt in MEDIA_TYPES}


def download(file: Mapping, ascii_name: str):
    """A :func:`file` as the HTTP reply that saves it: the bytes themselves, named.

    ``ascii_name`` is for clients that read only ``filename``; the real name
    (Chinese, say) goes in ``filename*``.
    """
    from werkzeug.wrappers import Response

    return Response(base64.b64decode(file["base64"]), content_type=file["media_type"],
                    headers={"Content-Disposition": f'attachment; filename="{ascii_name}"; '
                             f"filename*=UTF-8''{quote(file['filename'])}"})
