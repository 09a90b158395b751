"""Every event a service emits, checked against the JSON Schema it publishes.

The schemas in ``docs/events/`` are generated from the marshmallow schemas a
service declares for its events (``zhidu docs``, kept current by a test); this
checks an emitted payload against the same JSON Schema with a standard
validator, so what other systems code against and what we send cannot differ.
"""
from __future__ import annotations

from dataclasses import dataclass

from jsonschema import Draft202012Validator

from .jsonschema import to_json_schema
from .plugins import load


class EventContractBroken(AssertionError):
    """A service emitted an event its own published schema refuses (a bug)."""


@dataclass
class EventContracts:
    service: str
    validators: dict

    @classmethod
    def for_service(cls, service: str) -> EventContracts | None:
        try:
            plugin = load(service)
        except LookupError:
            return None  # a service with no plugin publishes no catalogue
        validators = {name: Draft202012Validator(to_json_schema(schema))
                      for name, schema in plugin.load_event_schemas().items()}
        for name in plugin.emits:
            if name not in validators:
                raise EventContractBroken(f"{service}.{name} is emitted but has no schema")
        return cls(service, validators)

    def check(self, envelope: dict) -> None:
        name = envelope["type"].split(".", 1)[1]
        validator = self.validators.get(name)
        if validator is None:
            raise EventContractBroken(f"{envelope['type']} is not in the service's catalogue")
        errors = sorted(validator.iter_errors(envelope["data"]), key=lambda e: e.path)
        if errors:
            where = "; ".join(f"{'/'.join(map(str, e.path)) or '(data)'}: {e.message}"
                              for e in errors[:5])
            raise EventContractBroken(f"{envelope['type']} breaks its published schema: "
                                      f"{where}")
