from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="attendance",
    service="attendance.service:AttendanceService",
    port=8102,
    summary="Shifts and rosters, clocking, leave and its approvals, meetings, "
            "the clerk's monthly report.",
    emits=("violation_recorded", "violation_withdrawn", "absence_recorded",
           "dismissal_review_required", "leave_requested", "leave_decided",
           "leave_converted", "holiday_roster_overdue", "duty_rostered"),
    consumes=("directory.employee_upserted", "directory.employee_departed"),
    event_schemas="attendance.schemas:EVENTS",
    timers=("ZHIDU_SWEEP_INTERVAL",),
)
