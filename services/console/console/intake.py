"""The 客户抱怨处理表 as a form: every intake field of rules §2, checked as it is typed.

``read(form)`` turns the flat form into the ``complaints.file`` payload and
the problems found, field by field, as message keys of the locale files. The
checks mirror the complaints service's schema and policy so the clerk hears
about a wrong phone number while still on the phone with the customer; the
service checks everything again when the form is filed, and its answer is
what counts.
"""
from __future__ import annotations

import re
from datetime import date

from zhidu.times import parse_time

from .duties import load_duties

PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,24}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UNDETERMINED = "客户加工中未确定"   # 001 §1 第九條(一): the customer is still processing

# form field → (payload path, limit)
TEXTS = {
    "complainant_name": (("complainant", "name"), 200),
    "complainant_customer_id": (("complainant", "customer_id"), 64),
    "subject": (("subject",), 200),
    "description": (("description",), 5000),
    "occurred_place": (("occurred_place",), 200),
    "demand": (("demand",), 5000),
    "target_department": (("target_department",), 64),
    "target_employee_id": (("target_employee_id",), 64),
    "order_no": (("order", "order_no"), 64),
    "part_no": (("order", "part_no"), 64),
}
REQUIRED = ("channel", "kind", "category", "complainant_name", "subject", "description",
            "received_at")
FIELDS = ("channel", "kind", "category", "complainant_name", "complainant_phone",
          "complainant_email", "complainant_customer_id", "complainant_region", "subject",
          "description", "occurred_at", "occurred_place", "demand", "received_at",
          "target_department", "target_employee_id", "order_no", "part_no", "quantity",
          "delivery_date", "defect_quantity", "quantity_undetermined", "order_note", "major",
          "major_reason", "households_affected")


def options() -> dict:
    return load_duties()["intake"]


def read(form) -> tuple[dict, dict[str, list[str]]]:
    """``(payload, errors)``: errors map form field names to message keys."""
    opts = options()
    def get(name):
        return (form.get(name) or "").strip()

    errors: dict[str, list[str]] = {}

    def problem(name, key):
        errors.setdefault(name, []).append(key)

    payload: dict = {"complainant": {}}
    for name in REQUIRED:
        if not get(name):
            problem(name, "invalid.required")
    for name, allowed in (("channel", opts["channels"]), ("kind", opts["kinds"]),
                          ("category", opts["categories"])):
        value = get(name)
        if value:
            if value not in allowed:
                problem(name, "invalid.choice")
            payload[name] = value
    region = get("complainant_region")
    if region:
        if region not in opts["regions"]:
            problem("complainant_region", "invalid.choice")
        payload["complainant"]["region"] = region

    for name, (path, limit) in TEXTS.items():
        value = get(name)
        if not value:
            continue
        if len(value) > limit:
            problem(name, "invalid.too_long")
        target = payload
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value

    phone = get("complainant_phone")
    if phone:
        if not PHONE.match(phone):
            problem("complainant_phone", "invalid.phone")
        payload["complainant"]["phone"] = phone
    email = get("complainant_email")
    if email:
        if not EMAIL.match(email):
            problem("complainant_email", "invalid.email")
        payload["complainant"]["email"] = email

    for name in ("received_at", "occurred_at"):
        value = get(name)
        if value:
            try:
                payload[name] = parse_time(value).isoformat()
            except (TypeError, ValueError):
                problem(name, "invalid.datetime")
    if "received_at" in payload and "occurred_at" in payload and \
            parse_time(payload["occurred_at"]) > parse_time(payload["received_at"]):
        problem("occurred_at", "invalid.after_received")

    _order(get, payload, problem)
    _major(get, payload, problem, opts)
    if not payload["complainant"]:
        payload.pop("complainant")
    request_id = get("request_id")
    if request_id:
        payload["request_id"] = request_id[:64]
    return payload, errors


def _order(get, payload, problem) -> None:
    order = payload.setdefault("order", {})
    for name in ("quantity", "defect_quantity"):
        value = get(name)
        if value:
            if not value.isdigit():
                problem(name, "invalid.whole_number")
            else:
                order[name] = int(value)
    delivered = get("delivery_date")
    if delivered:
        try:
            order["delivery_date"] = date.fromisoformat(delivered).isoformat()
        except ValueError:
            problem("delivery_date", "invalid.date")
    if "quantity" in order and "defect_quantity" in order and \
            order["defect_quantity"] > order["quantity"]:
        problem("defect_quantity", "invalid.defects_over_quantity")
    notes = [get("order_note")] if get("order_note") else []
    if get("quantity_undetermined"):
        notes.insert(0, UNDETERMINED)
    if notes:
        order["note"] = "；".join(notes)
    if payload.get("category") == "quality":
        if not order.get("order_no"):
            problem("order_no", "invalid.order_for_quality")
    if not order:
        payload.pop("order")
    elif "order_no" not in order and payload.get("category") != "quality":
        # Order details without a number mean nothing to the service.
        problem("order_no", "invalid.order_no_missing")


def _major(get, payload, problem, opts) -> None:
    if get("major"):
        payload["major"] = True
    reason = get("major_reason")
    if reason:
        if reason not in opts["major_reasons"]:
            problem("major_reason", "invalid.choice")
        payload["major_reason"] = reason
    households = get("households_affected")
    if households:
        if not households.isdigit():
            problem("households_affected", "invalid.whole_number")
        else:
            payload["households_affected"] = int(households)
    if payload.get("major") and not reason and \
            payload.get("households_affected", 0) < opts["households_threshold"]:
        problem("major_reason", "invalid.major_reason")


def major_by_households(payload: dict) -> bool:
    return payload.get("households_affected", 0) >= options()["households_threshold"]


NESTED = {"complainant": "complainant_", "order": ""}


def form_errors(service_fields: dict) -> dict[str, list]:
    """A service's ValidationError fields, keyed by the form's field names."""
    out: dict[str, list] = {}
    for name, messages in (service_fields or {}).items():
        if isinstance(messages, dict) and name in NESTED:
            for inner, inner_messages in messages.items():
                out[NESTED[name] + inner] = list(inner_messages)
        else:
            out[name] = list(messages) if isinstance(messages, list) else [messages]
    return out
