from zhidu.plugins import ServicePlugin

from .schemas import EVENTS

PLUGIN = ServicePlugin(
    name="complaints",
    service="complaints.service:ComplaintsService",
    port=8101,
    summary="Complaint intake, lifecycle, SLA clocks with escalation, follow-up, "
            "liability and monthly statistics.",
    emits=tuple(EVENTS),
    event_schemas="complaints.schemas:EVENTS",
    timers=("sweep_timer",),
    source_groups=("zhidu.complaint_sources",),
)
