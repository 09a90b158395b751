from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="dormitory",
    service="dormitory.service:DormitoryService",
    port=8103,
    summary="Rooms and beds, inspections, accommodation revocation and move-out deadlines.",
    emits=("violation_recorded", "bed_assigned", "bed_released", "accommodation_revoked"),
    consumes=("directory.employee_upserted", "directory.employee_departed"),
    event_schemas="dormitory.schemas:EVENTS",
    timers=("ZHIDU_SWEEP_INTERVAL",),
)
