"""MQTT ingestion: devices and gateways publish readings, acknowledged once they are stored.

The consumer (`manage.py ingest_mqtt`, telemetry.mqtt.consumer) takes messages from a shared
subscription, validates each on its own with the HTTP API's rules (telemetry.mqtt.messages),
stores the good ones of a batch with one services.store call, and only then acknowledges them.
"""
