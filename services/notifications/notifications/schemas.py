from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema
from zhidu.schemas import Payload, Time, actor_field

from .routing import CHANNELS

ID = validate.Length(min=1, max=64)
LIMIT = validate.Range(min=1, max=1000)


class InboxQuery(Payload):
    recipient_id = fields.String(required=True, validate=ID)
    unread_only = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=100, validate=LIMIT)


class RecipientRef(Payload):
    recipient_id = fields.String(required=True, validate=ID)


class MarkRead(Payload):
    id = fields.String(required=True, validate=ID)
    actor = actor_field()


class Preferences(Payload):
    recipient_id = fields.String(required=True, validate=ID)
    # The inbox is always on; listing it is allowed and changes nothing.
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)),
                           load_default=None)
    locale = fields.String(load_default=None, validate=validate.Length(min=2, max=16))
    actor = actor_field()

    @validates_schema
    def _something_to_set(self, data, **kwargs):
        if data.get("channels") is None and data.get("locale") is None:
            raise ValidationError("give channels, locale or both", "_schema")


SECRET = validate.Length(min=16, max=256)


class Subscribe(Payload):
    # Where it may point is checked beyond its form (notifications.targets).
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                              required=True, validate=validate.Length(min=1, max=100))
    secret = fields.String(required=True, validate=SECRET)
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)
    actor = actor_field()


class RotateSecret(Payload):
    subscription_id = fields.String(required=True, validate=ID)
    secret = fields.String(required=True, validate=SECRET)
    # How long the replaced secret keeps signing beside the new one; at most a week.
    overlap_seconds = fields.Integer(load_default=86400,
                                     validate=validate.Range(min=0, max=7 * 86400))
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)
    actor = actor_field()


class SubscriptionRef(Payload):
    subscription_id = fields.String(required=True, validate=ID)
    actor = actor_field()


class Subscriptions(Payload):
    pass


class DeliveriesQuery(Payload):
    event_id = fields.String(load_default=None, validate=ID)
    recipient_id = fields.String(load_default=None, validate=ID)
    subscription_id = fields.String(load_default=None, validate=ID)
    limit = fields.Integer(load_default=100, validate=LIMIT)


class Sweep(Payload):
    # Omitted → the real time; tests and replays pass the time they mean.
    # An operator may replay deliveries' back-off a long way ahead.
    now = Time(load_default=None, max_ahead_days=3660)


class WebhookAlert(Payload):
    class Meta:
        # Alertmanager adds fields over versions; what is not read is not checked.
        unknown = EXCLUDE

    status = fields.String(required=True, validate=validate.OneOf(["firing", "resolved"]))
    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    annotations = fields.Dict(keys=fields.String(), values=fields.String(),
                              load_default=dict)
    startsAt = fields.String(load_default=None, allow_none=True)  # noqa: N815
    endsAt = fields.String(load_default=None, allow_none=True)  # noqa: N815
    generatorURL = fields.String(load_default=None, allow_none=True)  # noqa: N815
    fingerprint = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=128))


class AlertWebhook(Payload):
    """Alertmanager's webhook payload (version 4)."""

    class Meta:
        unknown = EXCLUDE

    version = fields.String(load_default="4")
    receiver = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(max=200))
    status = fields.String(load_default=None, allow_none=True)
    groupKey = fields.String(load_default=None, allow_none=True)  # noqa: N815
    alerts = fields.List(fields.Nested(WebhookAlert), required=True,
                         validate=validate.Length(max=1000))


# notifications emits no events of its own.
EVENTS: dict = {}
