"""The attendance service's own Prometheus metrics (beside the library's
per-entrypoint counters and latencies)."""
from prometheus_client import Counter, Gauge, Histogram

LATENESS_BUCKETS = (1, 5, 10, 15, 30, 60, 120, 240)


def declare(registry) -> dict:
    return {
        "clocks": Counter("zhidu_attendance_clock_events_total",
                          "Clock events recorded (repeats of the same event not counted).",
                          ["kind"], registry=registry),
        "late": Counter("zhidu_attendance_late_arrivals_total",
                        "Clock-ins after the rostered shift start.", registry=registry),
        "lateness": Histogram("zhidu_attendance_lateness_minutes",
                              "Minutes late of late clock-ins.", buckets=LATENESS_BUCKETS,
                              registry=registry),
        "violations": Counter("zhidu_attendance_violations_total",
                              "Violations booked, by domain and rule code.",
                              ["domain", "code"], registry=registry),
        "absences": Counter("zhidu_attendance_absences_total",
                            "Absence days (旷工) recorded.", registry=registry),
        "days_closed": Counter("zhidu_attendance_days_closed_total",
                               "close_day runs, by the sweep or by hand.", registry=registry),
        "over_length": Counter("zhidu_attendance_meetings_over_length_total",
                               "Meetings that ran past their kind's limit.", ["kind"],
                               registry=registry),
        "pending": Gauge("zhidu_attendance_pending_approvals",
                         "Leave requests waiting, by the role whose approval is next.",
                         ["approver_role"], registry=registry),
        "pending_age": Gauge("zhidu_attendance_pending_approval_oldest_age_seconds",
                             "Age of the oldest waiting leave request, by next approver role.",
                             ["approver_role"], registry=registry),
    }
