from zhidu.plugins import ServicePlugin

from .contributed import event_types

# The service's own handlers, kept in step with them by tests/test_domain.py;
# the rule loader refuses a route for anything not handled.
OWN_CONSUMES = (
    "directory.employee_upserted", "directory.employee_departed",
    "directory.employee_contact_changed",
    "penalties.penalty_issued", "penalties.penalty_reversed", "penalties.threshold_reached",
    "penalties.publication_issued", "penalties.notice_awaiting_approval",
    "penalties.notice_decided",
    "complaints.major_reported", "complaints.assigned", "complaints.reminder_issued",
    "complaints.escalated", "complaints.sla_warning", "complaints.sla_breached",
    "complaints.delay_investigation_opened", "complaints.report_produced",
    "attendance.violation_recorded", "attendance.absence_recorded",
    "attendance.dismissal_review_required", "attendance.leave_decided",
    "attendance.leave_converted",
    "dormitory.violation_recorded", "dormitory.accommodation_revoked",
    "attendance.leave_requested", "attendance.duty_rostered",
    "penalties.unit_threshold_reached",
    "attendance.outing_requested", "attendance.outing_decided", "attendance.outing_returned",
    "attendance.handover_completed", "attendance.duty_review_overdue",
    "attendance.report_step_overdue", "attendance.monthly_report_advanced",
    "attendance.holiday_roster_overdue", "attendance.roster_changed",
    "attendance.meeting_scheduled", "attendance.meeting_changed",
    "attendance.meeting_leave_requested", "attendance.meeting_leave_decided",
    "attendance.meeting_minutes_issued", "attendance.meeting_minutes_overdue",
    "attendance.meeting_decision_chased",
    "attendance.meeting_agenda_reminder", "attendance.meeting_agenda_closed",
    "attendance.meeting_agenda_decided",
)
# Events other services' distributions route (zhidu.notification_routes): a
# handler is attached for each when the service module is imported.
CONTRIBUTED = event_types(own=OWN_CONSUMES)
CONSUMES = OWN_CONSUMES + CONTRIBUTED

PLUGIN = ServicePlugin(
    name="notifications",
    service="notifications.service:NotificationsService",
    port=8105,
    summary="Inbox, e-mail, SMS/chat and signed webhooks for the events that concern people.",
    consumes=CONSUMES,
    event_schemas="notifications.schemas:EVENTS",
    timers=("sweep_timer",),
    data_groups=("zhidu.notification_routes",),
)
