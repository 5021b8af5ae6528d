"""Names and limits of the line sinks that `--help` shows, in a module light enough for the CLI to import
at start (the sinks themselves pull in OpenCV, paho, asyncua, pymodbus)."""

MQTT_USERNAME_ENV = "PADIM_EDGE_MQTT_USERNAME"
MQTT_PASSWORD_ENV = "PADIM_EDGE_MQTT_PASSWORD"
WEBHOOK_TOKEN_ENV = "PADIM_EDGE_WEBHOOK_TOKEN"  # sent as "Authorization: Bearer <token>"
WEBHOOK_MAX_BATCH = 100
