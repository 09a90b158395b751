from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="directory",
    service="directory.service:DirectoryService",
    port=8100,
    summary="Employees and reporting lines; the source every other service copies from.",
    emits=("employee_upserted", "employee_departed", "employee_contact_changed",
           "employee_wage_changed"),
    event_schemas="directory.schemas:EVENTS",
)
