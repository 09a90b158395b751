from pathlib import Path

from zhidu.plugins import EventSource, ServicePlugin

from .schemas import EVENTS

PLUGIN = ServicePlugin(
    name="repairs",
    service="repairs.service:RepairsService",
    port=8106,
    summary="Repair and paid-service work orders: intake, dispatch by trade, on-site and "
            "completion clocks with escalation, charges with the customer's consent, "
            "audit of large repairs, callbacks and monthly rates.",
    emits=tuple(EVENTS),
    event_schemas="repairs.schemas:EVENTS",
    timers=("sweep_timer",),
)

# The penalty catalogue of engineers' breaches, found by the penalties service
# through the zhidu.penalty_catalogs entry point.
PENALTY_CATALOG = Path(__file__).with_name("catalogs") / "repairs.yaml"

# Each breach an engineer is charged with (violation_recorded) is booked
# against that catalogue (zhidu.penalty_sources).
PENALTY_SOURCE = EventSource(
    "repairs", "violation_recorded",
    fields={"violation_id": "violation_id", "employee_id": "employee_id", "code": "code",
            "at": "at", "note": "number"},
    fixed={"domain": "repairs"})

# A repair escalated into a complaint opens one case linked to its order
# (zhidu.complaint_sources); the event carries the intake ready-made.
COMPLAINT_SOURCE = EventSource(
    "repairs", "escalated_to_complaint", key="number",
    fields={**{name: f"complaint.{name}" for name in (
        "channel", "kind", "category", "complainant", "subject", "description",
        "received_at", "target_department", "target_employee_id")},
        "links.repairs_order": "number"})

# Who hears of these events, and in what words (routes.yaml and templates/ in
# this directory), read by the notifications service through the
# zhidu.notification_routes entry point.
NOTIFICATION_ROUTES = Path(__file__).with_name("routes")
