"""Alert delivery: the outbox dispatcher and its webhook and MQTT channels."""

from service.alerts.dispatcher import DispatchStats, OutboxDispatcher, dead_letters, dispatcher_from_settings
from service.alerts.mqtt import MqttPublisher, zone_state_topic
from service.alerts.webhook import DeliveryResult, WebhookSender, verify_signature

__all__ = [
    "DeliveryResult",
    "DispatchStats",
    "MqttPublisher",
    "OutboxDispatcher",
    "WebhookSender",
    "dead_letters",
    "dispatcher_from_settings",
    "verify_signature",
    "zone_state_topic",
]
