"""Building blocks of the v2 OpenAPI document: schema helpers and the shared components.

The response schema and parameters of each endpoint live with its mapping (``Endpoint``);
``mappings.openapi`` assembles the document from them and from these shared parts.
"""

from __future__ import annotations

from typing import Any

ISO8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}(:\d{2})?)$"
STATUSES = ("comm", "power", "meter", "meter_issue", "micro", "battery", "storage_idle", "normal")
ERRORS = {
    "401": "ClientError",
    "404": "NotFoundError",
    "409": "ConflictError",
    "422": "UnprocessableEntityError",
    "503": "ServerError",
}

JSON = dict[str, Any]
INTEGER: JSON = {"type": "integer"}
STRING: JSON = {"type": "string"}
DATE: JSON = {"type": "string", "format": "date"}


def ref(name: str, kind: str = "schemas") -> JSON:
    """A reference to the component ``name``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def array(items: JSON, description: str | None = None) -> JSON:
    schema: JSON = {"type": "array", "items": items}
    return schema | ({"description": description} if description else {})


def obj(properties: JSON, required: tuple[str, ...] = (), *, exact: bool = False) -> JSON:
    """An object schema; ``exact`` closes it where v2's shape is exact."""
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema | ({"additionalProperties": False} if exact else {})


def nullable(schema: JSON) -> JSON:
    return schema | {"nullable": True}


def param(name: str, schema: JSON, description: str, *, required: bool = False) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


EPOCH = ref("Epoch")
NULLABLE_EPOCH = ref("NullableEpoch")
META = ref("Meta")


def interval_series(fields: tuple[str, ...], minutes: int) -> JSON:
    """A v2 interval body, exactly ``{system_id, total_devices, meta, intervals}``."""
    interval = obj(
        {"end_at": EPOCH} | dict.fromkeys(fields, INTEGER), ("end_at", *fields), exact=True
    )
    description = f"{minutes}-minute intervals, listed by end time, within the requested window."
    return obj(
        {
            "system_id": INTEGER,
            "total_devices": INTEGER,
            "meta": META,
            "intervals": array(interval, description),
        },
        ("system_id", "total_devices", "meta", "intervals"),
        exact=True,
    )


_EPOCH_FORMS = [
    {"type": "integer", "format": "int64"},
    {"type": "string", "format": "date-time", "pattern": ISO8601},
]

#: Components every endpoint shares (errors, epochs, status, meta).
SCHEMAS: dict[str, JSON] = {
    "Epoch": {
        "description": "Unix epoch seconds; ISO 8601 in the system's zone with datetime_format.",
        "anyOf": _EPOCH_FORMS,
    },
    "NullableEpoch": {
        "description": "An Epoch, or null when Enlighten has no such time.",
        "anyOf": _EPOCH_FORMS,
        "nullable": True,
    },
    "Status": {
        "description": "The system status (v4's larger enum is mapped onto these values).",
        "type": "string",
        "enum": list(STATUSES),
    },
    "ConnectionType": {"type": "string", "enum": ["ethernet", "cellular", "wifi"]},
    "Meta": obj(
        {
            "status": ref("Status"),
            "last_report_at": NULLABLE_EPOCH,
            "last_energy_at": NULLABLE_EPOCH,
            "operational_at": NULLABLE_EPOCH,
        },
        ("status", "last_report_at", "last_energy_at", "operational_at"),
    ),
    "ClientError": obj(
        {"reason": STRING, "message": array(STRING)},
        ("reason", "message"),
    ),
    "NotFoundError": obj(
        {"reason": STRING, "message": array(STRING), "errorMessages": array(STRING)},
        ("reason",),
    ),
    "ConflictError": obj(
        {
            "reason": STRING,
            "message": array(STRING),
            "period": STRING,
            "period_start": INTEGER,
            "period_end": INTEGER,
            "limit": INTEGER,
        },
        ("reason", "message", "period", "period_start", "period_end", "limit"),
    ),
    "GoneError": obj(
        {"reason": {"type": "string", "enum": ["410"]}, "message": array(STRING)},
        ("reason", "message"),
    ),
    "UnprocessableEntityError": obj(
        {
            "reason": STRING,
            "message": STRING,
            "errorMessages": array(STRING),
            "start": DATE,
            "end": DATE,
            "start_at": INTEGER,
            "end_at": INTEGER,
            "first_interval": INTEGER,
            "last_interval": INTEGER,
        },
        ("reason", "message"),
    ),
    "ServerError": obj(
        {"errorCode": INTEGER, "errorMessages": array(STRING)},
        ("errorCode", "errorMessages"),
    ),
}

RESPONSES: dict[str, JSON] = {
    name: {"description": description, "content": {"application/json": {"schema": ref(name)}}}
    for name, description in (
        ("ClientError", "Not authorized to access requested resource."),
        ("NotFoundError", "Not found (unknown system or serial number)."),
        ("ConflictError", "Usage limit exceeded for the plan."),
        ("GoneError", "Retired by Enphase in API v4; the message names the replacement."),
        ("UnprocessableEntityError", "The request cannot be processed (invalid parameters)."),
        ("ServerError", "Data temporarily unavailable upstream."),
    )
}

PARAMETERS: dict[str, JSON] = {
    "Key": param("key", STRING, "The legacy v2 API key the proxy issued.", required=True),
    "UserId": param("user_id", STRING, "The legacy v2 user id.", required=True),
    "DatetimeFormat": param(
        "datetime_format",
        {"type": "string", "enum": ["iso8601"]},
        "iso8601 renders every *_at as ISO 8601 in the system's time zone.",
    ),
    "SystemId": {"name": "system_id", "in": "path", "required": True, "schema": INTEGER},
    "StartAt": param(
        "start_at",
        {"type": "integer", "format": "int64"},
        "Start in Unix epoch time, rounded down to the interval length; defaults to midnight "
        "today in the system's zone. Earlier than two years ago answers no intervals.",
    ),
    "EndAt": param(
        "end_at",
        {"type": "integer", "format": "int64"},
        "End in Unix epoch time; defaults to now.",
    ),
    "StartDate": param("start_date", DATE, "First day of the series (YYYY-MM-DD)."),
    "EndDate": param("end_date", DATE, "Last day of the series (YYYY-MM-DD)."),
}

COMMON = ("Key", "UserId", "DatetimeFormat")
