"""Alert delivery: one outbox dispatcher per channel (webhook, MQTT) and the MQTT zone-state publisher."""

from service.alerts.dispatcher import DispatchStats, OutboxDispatcher, dead_letters, dispatchers_from_settings
from service.alerts.mqtt import MqttPublisher, ZoneStatePublisher, zone_state_topic
from service.alerts.webhook import DeliveryResult, WebhookSender, verify_signature

__all__ = [
    "DeliveryResult",
    "DispatchStats",
    "MqttPublisher",
    "OutboxDispatcher",
    "WebhookSender",
    "ZoneStatePublisher",
    "dead_letters",
    "dispatchers_from_settings",
    "verify_signature",
    "zone_state_topic",
]
