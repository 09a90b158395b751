from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="penalties",
    service="penalties.service:PenaltiesService",
    port=8104,
    summary="The yearly penalty and reward ledger per employee, thresholds and appeals.",
    emits=("penalty_issued", "penalty_reversed", "threshold_reached", "publication_issued",
           "notice_awaiting_approval", "notice_decided", "unit_threshold_reached"),
    consumes=("dormitory.violation_recorded", "dormitory.accommodation_revoked",
              "attendance.violation_recorded",
              "attendance.violation_withdrawn",
              "complaints.liability_determined", "directory.employee_upserted",
              "directory.employee_wage_changed"),
    event_schemas="penalties.schemas:EVENTS",
    source_groups=("zhidu.penalty_sources",),
    data_groups=("zhidu.penalty_catalogs",),
)
