from zhidu.plugins import ServicePlugin

# Kept in step with the service's handlers by tests/test_domain.py; the rule
# loader refuses a route for anything not listed here.
CONSUMES = (
    "directory.employee_upserted", "directory.employee_departed",
    "penalties.penalty_issued", "penalties.penalty_reversed", "penalties.threshold_reached",
    "penalties.publication_issued", "penalties.notice_awaiting_approval",
    "penalties.notice_decided",
    "complaints.major_reported", "complaints.assigned", "complaints.reminder_issued",
    "complaints.escalated", "complaints.sla_warning", "complaints.sla_breached",
    "complaints.delay_investigation_opened",
    "attendance.violation_recorded", "attendance.absence_recorded",
    "attendance.dismissal_review_required", "attendance.leave_decided",
    "attendance.leave_converted",
    "dormitory.violation_recorded", "dormitory.accommodation_revoked",
    "attendance.leave_requested", "attendance.duty_rostered",
)

PLUGIN = ServicePlugin(
    name="notifications",
    service="notifications.service:NotificationsService",
    port=8105,
    summary="Inbox, e-mail, SMS/chat and signed webhooks for the events that concern people.",
    consumes=CONSUMES,
    event_schemas="notifications.schemas:EVENTS",
    timers=("sweep_timer",),
)
