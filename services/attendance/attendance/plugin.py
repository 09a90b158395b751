from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="attendance",
    service="attendance.service:AttendanceService",
    port=8102,
    summary="Shifts and rosters, clocking, leave and its approvals, going out, "
            "handovers and the duty log, meetings, the monthly attendance sheet.",
    emits=("violation_recorded", "violation_withdrawn", "absence_recorded",
           "dismissal_review_required", "leave_requested", "leave_decided",
           "leave_converted", "holiday_roster_overdue", "duty_rostered",
           "handover_completed", "duty_review_overdue", "monthly_report_advanced",
           "report_step_overdue", "outing_requested", "outing_decided", "outing_returned",
           "roster_changed", "meeting_scheduled", "meeting_changed",
           "meeting_leave_requested", "meeting_leave_decided", "meeting_minutes_issued",
           "meeting_minutes_overdue", "meeting_decision_chased", "meeting_agenda_reminder",
           "meeting_agenda_closed", "meeting_agenda_decided"),
    consumes=("directory.employee_upserted", "directory.employee_departed"),
    event_schemas="attendance.schemas:EVENTS",
    timers=("ZHIDU_SWEEP_INTERVAL",),
)
