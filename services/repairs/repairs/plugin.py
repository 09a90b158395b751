from pathlib import Path

from zhidu.plugins import ServicePlugin

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
