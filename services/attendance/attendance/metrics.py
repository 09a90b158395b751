"""The attendance service's own Prometheus metrics (beside the library's
per-entrypoint counters and latencies)."""
from __future__ import annotations

from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram
from zhidu.metrics import Metrics

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
        "reminders": Counter("zhidu_attendance_reminders_total",
                             "Reminders of overdue duties sent, by kind (duty_review, "
                             "report_step).", ["kind"], registry=registry),
        "pending": Gauge("zhidu_attendance_pending_approvals",
                         "Leave requests waiting, by the role whose approval is next.",
                         ["approver_role"], registry=registry),
        "pending_age": Gauge("zhidu_attendance_pending_approval_oldest_age_seconds",
                             "Age of the oldest waiting leave request, by next approver role.",
                             ["approver_role"], registry=registry),
    }


class Counts:
    """The metric updates one worker decided, made only once their unit committed.

    A unit of work may run more than once (a write conflict re-runs it), so a
    counter bumped inside it would count the re-runs: updates wait here, are
    dropped with the run that made them, and are made after the worker.
    """

    def __init__(self):
        self.pending: list[tuple] = []
        self.kept: list[tuple] = []

    def inc(self, name: str, *labels: str, amount: float = 1) -> None:
        self.pending.append((name, labels, "inc", amount))

    def observe(self, name: str, value: float, *labels: str) -> None:
        self.pending.append((name, labels, "observe", value))

    def begin(self) -> Counts:
        """A call's unit starts (again): what an earlier run left is not its own."""
        self.pending.clear()
        return self

    def mark(self) -> int:
        return len(self.pending)

    def rollback(self, mark: int) -> None:
        del self.pending[mark:]

    def keep(self) -> None:
        """The unit committed: its updates stand whatever the call does next."""
        self.kept += self.pending
        self.pending = []

    def settle(self, metrics, succeeded: bool) -> None:
        for name, labels, method, amount in self.kept + (self.pending if succeeded else []):
            metric = metrics[name].labels(*labels) if labels else metrics[name]
            getattr(metric, method)(amount)
        self.kept, self.pending = [], []


class Tally(DependencyProvider):
    """Injects a worker's :class:`Counts`; makes its updates after the worker."""

    def __init__(self):
        self.workers = WeakKeyDictionary()

    def get_dependency(self, worker_ctx):
        counts = Counts()
        self.workers[worker_ctx] = counts
        return counts

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        counts = self.workers.pop(worker_ctx, None)
        metrics = next((d for d in self.container.dependencies if isinstance(d, Metrics)),
                       None)
        if counts is not None and metrics is not None:
            counts.settle(metrics, succeeded=exc_info is None)
