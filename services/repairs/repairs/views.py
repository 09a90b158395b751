"""What callers see of a work order."""
from __future__ import annotations

from zhidu import clocks as clk

SUMMARY = ("number", "round", "status", "kind", "urgency", "channel", "location", "trades",
           "trade", "engineer_id", "received_at", "completed_at", "closed_at", "payment",
           "breached", "escalation_level", "reopens", "complaint")


def summary(order: dict) -> dict:
    out = {key: order.get(key) for key in SUMMARY}
    out["deadlines"] = clk.deadlines(order["clocks"])
    return out


def full(order: dict) -> dict:
    out = {k: v for k, v in order.items() if k not in ("next_check_at",)}
    out["deadlines"] = clk.deadlines(order["clocks"])
    out["clocks"] = [{k: c[k] for k in (
        "name", "round", "owner", "state", "started_at", "due", "warned", "breached",
        "reminded_at", "escalation_level", "escalations", "met_at", "ended_at", "on_time")}
        for c in order["clocks"]]
    return out


# -- the month's paid-service register (《工程部有偿服务登记表》, 001 §11 3.8, 5.3) ------
REGISTER_TITLE = "工程部有偿服务登记表"
# The register's columns, in the order of the form; the headings are the form's.
REGISTER_COLUMNS = (
    ("seq", "序号"), ("completed_on", "完工日期"), ("number", "维修单号"), ("kind", "类别"),
    ("unit", "住户单元"), ("customer", "客户姓名"), ("location", "维修地点"),
    ("trade", "工种"), ("items", "维修内容"), ("engineer", "维修人"),
    ("amount_yuan", "收费金额（元）"), ("signed_off_by", "客户签认"),
    ("callback", "回访结果"), ("payment", "结算状态"),
)
TOTAL_LABEL = "合计"
KIND_ZH = {"routine": "零星维修", "paid": "特约服务", "warranty": "保修"}
TRADE_ZH = {"plumbing": "水", "electrical": "电", "carpentry": "木工", "masonry": "泥瓦",
            "hvac": "空调", "locksmith": "锁具", "general": "综合"}
PAYMENT_ZH = {"released": "已转财务", "awaiting_audit": "待审计", "rejected": "审计未通过"}


def is_paid_service(order: dict) -> bool:
    """Charged to the household: a service for a fee (有偿服务), not one the company pays."""
    charge = order.get("charge") or {}
    return charge.get("payer") == "customer" and (charge.get("amount_yuan") or 0) > 0


def paid_register(orders: list[dict], names: dict[str, str], tz, year: int,
                  month: int) -> dict:
    """The month's paid services, one row each in completion order, and their total.

    ``orders``: those first completed in the month; ``names``: employee id →
    name, for the engineer column (the id where the name is unknown).
    """
    rows = []
    chosen = sorted((o for o in orders if is_paid_service(o)),
                    key=lambda o: (o["charge"]["at"], o["number"]))
    for seq, order in enumerate(chosen, start=1):
        charge, household = order["charge"], order.get("household") or {}
        first_callback = next(iter(order.get("callbacks") or []), None)
        engineer = charge.get("engineer_id") or order.get("engineer_id")
        rows.append({
            "seq": seq,
            "completed_on": charge["at"].astimezone(tz).date().isoformat(),
            "number": order["number"],
            "kind": KIND_ZH.get(order["kind"], order["kind"]),
            "unit": household.get("unit") or "",
            "customer": household.get("name") or "",
            "location": order.get("location") or "",
            "trade": TRADE_ZH.get(order.get("trade"), order.get("trade") or ""),
            "items": "；".join(f"{line['title_zh']} ×{line['quantity']}{line['unit']}"
                              for line in charge.get("items") or []),
            "engineer": names.get(engineer) or engineer or "",
            "amount_yuan": charge["amount_yuan"],
            "signed_off_by": charge.get("signed_off_by") or "",
            "callback": "未回访" if first_callback is None
            else ("满意" if first_callback["satisfied"] else "不满意"),
            "payment": PAYMENT_ZH.get((order.get("payment") or {}).get("status"), ""),
        })
    return {"title": REGISTER_TITLE, "year": year, "month": month,
            "period": f"{year}年{month}月",
            "columns": [{"key": key, "heading": heading} for key, heading in REGISTER_COLUMNS],
            "rows": rows, "count": len(rows),
            "total_yuan": sum(row["amount_yuan"] for row in rows)}
