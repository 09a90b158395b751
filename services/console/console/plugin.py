from zhidu.plugins import ServicePlugin

PLUGIN = ServicePlugin(
    name="console",
    service="console.service:ConsoleService",
    port=8110,
    summary="The web console: staff sign in and file, approve and follow the regulations' "
            "forms; it calls the other services as the signed-in person.",
)
