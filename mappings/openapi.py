"""The OpenAPI 3.0 description of the v2 surface the proxy serves (at ``/api/v2/openapi.json``).

Transcribed from Enphase's published v2 documentation, adjusted to what the proxy answers:
every ``*_at`` is an epoch, or ISO 8601 text with ``datetime_format=iso8601``; v2's status 500
is never answered (upstream failures are 503); retired endpoints answer 410.
"""

from __future__ import annotations

from typing import Any

V2 = "/api/v2"
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


def _array(items: JSON, description: str | None = None) -> JSON:
    schema: JSON = {"type": "array", "items": items}
    return schema | ({"description": description} if description else {})


def _object(properties: JSON, required: tuple[str, ...] = (), *, exact: bool = False) -> JSON:
    """An object schema; ``exact`` closes it where v2's shape is exact."""
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema | ({"additionalProperties": False} if exact else {})


def _nullable(schema: JSON) -> JSON:
    return schema | {"nullable": True}


def _query(name: str, schema: JSON, description: str, *, required: bool = False) -> JSON:
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


def _interval_series(fields: tuple[str, ...], minutes: int) -> JSON:
    """A v2 interval body, exactly ``{system_id, total_devices, meta, intervals}``."""
    interval = _object(
        {"end_at": EPOCH} | dict.fromkeys(fields, INTEGER), ("end_at", *fields), exact=True
    )
    description = f"{minutes}-minute intervals, listed by end time, within the requested window."
    return _object(
        {
            "system_id": INTEGER,
            "total_devices": INTEGER,
            "meta": META,
            "intervals": _array(interval, description),
        },
        ("system_id", "total_devices", "meta", "intervals"),
        exact=True,
    )


_EPOCH_FORMS = [
    {"type": "integer", "format": "int64"},
    {"type": "string", "format": "date-time", "pattern": ISO8601},
]

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
    "Meta": _object(
        {
            "status": ref("Status"),
            "last_report_at": NULLABLE_EPOCH,
            "last_energy_at": NULLABLE_EPOCH,
            "operational_at": NULLABLE_EPOCH,
        },
        ("status", "last_report_at", "last_energy_at", "operational_at"),
    ),
    "StatsResponse": _interval_series(("powr", "enwh", "devices_reporting"), 5),
    "ConsumptionStatsResponse": _interval_series(("enwh", "devices_reporting"), 15),
    "RgmStatsResponse": _object(
        {
            "system_id": INTEGER,
            "total_devices": INTEGER,
            "meta": META,
            "intervals": _array(
                _object(
                    {"end_at": EPOCH, "wh_del": INTEGER, "devices_reporting": INTEGER},
                    ("end_at", "wh_del", "devices_reporting"),
                )
            ),
            "meter_intervals": _array(
                _object(
                    {
                        "meter_serial_number": STRING,
                        "envoy_serial_number": STRING,
                        "intervals": _array(
                            _object(
                                {
                                    "channel": INTEGER,
                                    "end_at": EPOCH,
                                    "wh_del": _nullable({"type": "number"}),
                                    "curr_w": _nullable(INTEGER),
                                },
                                ("channel", "end_at", "wh_del", "curr_w"),
                            )
                        ),
                    },
                    ("meter_serial_number", "envoy_serial_number", "intervals"),
                )
            ),
        },
        ("system_id", "total_devices", "meta", "intervals", "meter_intervals"),
    ),
    "Device": _object(
        {"sn": STRING, "model": _nullable(STRING), "sku": _nullable(STRING)},
        ("sn", "model", "sku"),
    ),
    "InventoryResponse": _object(
        {
            "system_id": INTEGER,
            "envoys": _array(ref("Device"), "Active Envoys (IQ Gateways)."),
            "inverters": _array(ref("Device"), "Active microinverters."),
            "meters": _array(
                _object(
                    {
                        "sn": STRING,
                        "manufacturer": STRING,
                        "model": _nullable(STRING),
                        "status": _nullable(STRING),
                        "state": _nullable(STRING),
                    },
                    ("sn", "manufacturer", "model"),
                ),
                "Active meters.",
            ),
            "meta": META,
        },
        ("system_id", "inverters", "meters", "meta"),
    ),
    "SummaryResponse": _object(
        {
            "current_power": INTEGER,
            "energy_lifetime": INTEGER,
            "energy_today": INTEGER,
            "last_interval_end_at": NULLABLE_EPOCH,
            "last_report_at": NULLABLE_EPOCH,
            "modules": INTEGER,
            "operational_at": NULLABLE_EPOCH,
            "size_w": INTEGER,
            "source": {"type": "string", "enum": ["microinverters", "meter"]},
            "status": ref("Status"),
            "summary_date": DATE,
            "system_id": INTEGER,
        },
        (
            "current_power",
            "energy_lifetime",
            "energy_today",
            "last_interval_end_at",
            "last_report_at",
            "modules",
            "operational_at",
            "size_w",
            "source",
            "status",
            "summary_date",
            "system_id",
        ),
        exact=True,
    ),
    "SearchSystemIdResponse": _object({"system_id": INTEGER}, ("system_id",), exact=True),
    "EnergyLifetimeResponse": _object(
        {
            "start_date": _nullable(DATE),
            "system_id": INTEGER,
            "production": _array(INTEGER, "Daily Wh from start_date, without gaps."),
            "micro_production": _array(INTEGER),
            "meter_production": _array(INTEGER),
            "meter_start_date": DATE,
            "meta": META,
        },
        ("start_date", "system_id", "production", "meta"),
    ),
    "ConsumptionLifetimeResponse": _object(
        {
            "start_date": _nullable(DATE),
            "system_id": INTEGER,
            "consumption": _array(INTEGER, "Daily consumed Wh from start_date, without gaps."),
            "meta": META,
        },
        ("start_date", "consumption", "meta"),
    ),
    "ProductionMeterReadingsResponse": _object(
        {
            "system_id": INTEGER,
            "meter_readings": _array(
                _object(
                    {"serial_number": STRING, "value": INTEGER, "read_at": EPOCH},
                    ("serial_number", "value", "read_at"),
                )
            ),
            "meta": META,
        },
        ("system_id", "meter_readings", "meta"),
    ),
    "Quantity": _object(
        {"value": INTEGER, "units": STRING, "precision": INTEGER},
        ("value", "units", "precision"),
    ),
    "InvertersSummaryByEnvoyOrSiteResponse": _object(
        {
            "signal_strength": INTEGER,
            "micro_inverters": _array(
                _object(
                    {
                        "id": INTEGER,
                        "model": STRING,
                        "part_number": STRING,
                        "serial_number": STRING,
                        "sku": STRING,
                        "status": {
                            "type": "string",
                            "enum": ["normal", "power", "micro", "retired"],
                        },
                        "power_produced": ref("Quantity"),
                        "proc_load": STRING,
                        "param_table": STRING,
                        "envoy_serial_number": STRING,
                        "energy": ref("Quantity"),
                        "grid_profile": STRING,
                        "last_report_date": NULLABLE_EPOCH,
                    },
                    (
                        "id",
                        "model",
                        "part_number",
                        "serial_number",
                        "sku",
                        "status",
                        "power_produced",
                        "proc_load",
                        "param_table",
                        "envoy_serial_number",
                        "energy",
                        "grid_profile",
                        "last_report_date",
                    ),
                )
            ),
        },
        ("signal_strength", "micro_inverters"),
    ),
    "SystemsResponse": _object(
        {
            "systems": _array(
                _object(
                    {
                        "system_id": INTEGER,
                        "system_name": STRING,
                        "system_public_name": STRING,
                        "reference": STRING,
                        "other_references": _array(STRING),
                        "country": _nullable(STRING),
                        "state": _nullable(STRING),
                        "city": _nullable(STRING),
                        "postal_code": _nullable(STRING),
                        "timezone": STRING,
                        "connection_type": ref("ConnectionType"),
                        "status": ref("Status"),
                        "meta": META,
                    },
                    (
                        "system_id",
                        "system_name",
                        "system_public_name",
                        "status",
                        "timezone",
                        "country",
                        "state",
                        "city",
                        "postal_code",
                        "connection_type",
                        "meta",
                    ),
                )
            ),
            "next": {"type": "string", "description": "Opaque token for the next page."},
        },
        ("systems",),
    ),
    "ClientError": _object(
        {"reason": STRING, "message": _array(STRING)},
        ("reason", "message"),
    ),
    "NotFoundError": _object(
        {"reason": STRING, "message": _array(STRING), "errorMessages": _array(STRING)},
        ("reason",),
    ),
    "ConflictError": _object(
        {
            "reason": STRING,
            "message": _array(STRING),
            "period": STRING,
            "period_start": INTEGER,
            "period_end": INTEGER,
            "limit": INTEGER,
        },
        ("reason", "message", "period", "period_start", "period_end", "limit"),
    ),
    "GoneError": _object(
        {"reason": {"type": "string", "enum": ["410"]}, "message": _array(STRING)},
        ("reason", "message"),
    ),
    "UnprocessableEntityError": _object(
        {
            "reason": STRING,
            "message": STRING,
            "errorMessages": _array(STRING),
            "start": DATE,
            "end": DATE,
            "start_at": INTEGER,
            "end_at": INTEGER,
            "first_interval": INTEGER,
            "last_interval": INTEGER,
        },
        ("reason", "message"),
    ),
    "ServerError": _object(
        {"errorCode": INTEGER, "errorMessages": _array(STRING)},
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
    "Key": _query("key", STRING, "The legacy v2 API key the proxy issued.", required=True),
    "UserId": _query("user_id", STRING, "The legacy v2 user id.", required=True),
    "DatetimeFormat": _query(
        "datetime_format",
        {"type": "string", "enum": ["iso8601"]},
        "iso8601 renders every *_at as ISO 8601 in the system's time zone.",
    ),
    "SystemId": {"name": "system_id", "in": "path", "required": True, "schema": INTEGER},
    "StartAt": _query(
        "start_at",
        {"type": "integer", "format": "int64"},
        "Start in Unix epoch time, rounded down to the interval length; defaults to midnight "
        "today in the system's zone. Earlier than two years ago answers no intervals.",
    ),
    "EndAt": _query(
        "end_at",
        {"type": "integer", "format": "int64"},
        "End in Unix epoch time; defaults to now.",
    ),
    "StartDate": _query("start_date", DATE, "First day of the series (YYYY-MM-DD)."),
    "EndDate": _query("end_date", DATE, "Last day of the series (YYYY-MM-DD)."),
}

COMMON = ("Key", "UserId", "DatetimeFormat")


def _operation(
    operation_id: str,
    description: str,
    schema: JSON | None,
    parameters: tuple[str | JSON, ...] = (),
    *,
    no_content: bool = False,
) -> JSON:
    """A GET; ``schema`` None marks an endpoint retired in v4 (answered 410)."""
    params = [ref(p, "parameters") if isinstance(p, str) else p for p in (*COMMON, *parameters)]
    if schema is None:
        responses: JSON = {"410": ref("GoneError", "responses")}
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        responses = {"200": ok}
    if no_content:
        responses["204"] = {"description": "No Content: the system has no such data."}
    responses |= {status: ref(name, "responses") for status, name in ERRORS.items()}
    get: JSON = {
        "operationId": operation_id,
        "description": description,
        "parameters": params,
        "responses": responses,
    }
    return {"get": get | ({"deprecated": True} if schema is None else {})}


PATHS: dict[str, JSON] = {
    f"{V2}/systems": _operation(
        "Systems",
        "Systems the user can access, paged with the opaque next token.",
        ref("SystemsResponse"),
        (
            _query("next", STRING, "The next token of the previous page."),
            _query("limit", {"type": "integer", "default": 100, "maximum": 1000}, "Page size."),
            _query("system_id", INTEGER, "Only this system (system_id[] for several)."),
            _query("system_name", STRING, "Only systems of this name (system_name[] too)."),
            _query("status", ref("Status"), "Only systems in this status (status[] too)."),
            _query("reference", STRING, "Only systems with this reference (reference[] too)."),
            _query("installer", STRING, "Only systems of this installer (installer[] too)."),
            _query(
                "connection_type",
                ref("ConnectionType"),
                "Only systems connected this way (connection_type[] too).",
            ),
        ),
    ),
    f"{V2}/systems/{{system_id}}/stats": _operation(
        "Stats",
        "5-minute microinverter production intervals, at most one day from start_at.",
        ref("StatsResponse"),
        ("SystemId", "StartAt", "EndAt"),
    ),
    f"{V2}/systems/{{system_id}}/consumption_stats": _operation(
        "ConsumptionStats",
        "15-minute consumption meter intervals, at most one month from start_at.",
        ref("ConsumptionStatsResponse"),
        ("SystemId", "StartAt", "EndAt"),
    ),
    f"{V2}/systems/{{system_id}}/rgm_stats": _operation(
        "RgmStats",
        "15-minute revenue-grade meter intervals, at most one month from start_at.",
        ref("RgmStatsResponse"),
        ("SystemId", "StartAt", "EndAt"),
    ),
    f"{V2}/systems/{{system_id}}/inventory": _operation(
        "Inventory",
        "Active Envoys, microinverters and meters of the system.",
        ref("InventoryResponse"),
        ("SystemId",),
    ),
    f"{V2}/systems/{{system_id}}/summary": _operation(
        "Summary",
        "Summary of the system, today or for a past summary_date.",
        ref("SummaryResponse"),
        (
            "SystemId",
            _query(
                "summary_date",
                DATE,
                "A past day (YYYY-MM-DD); a future or unparseable date answers 422.",
            ),
        ),
    ),
    f"{V2}/systems/search_system_id": _operation(
        "SearchSystemId",
        "The system id of an Envoy serial number.",
        ref("SearchSystemIdResponse"),
        (_query("serial_num", STRING, "Serial number of the Envoy.", required=True),),
    ),
    f"{V2}/systems/{{system_id}}/energy_lifetime": _operation(
        "EnergyLifetime",
        "Daily production over the system's lifetime, in Wh.",
        ref("EnergyLifetimeResponse"),
        (
            "SystemId",
            "StartDate",
            "EndDate",
            _query(
                "production",
                {"type": "string", "enum": ["all"]},
                "all adds the microinverter and meter series.",
            ),
        ),
        no_content=True,
    ),
    f"{V2}/systems/{{system_id}}/consumption_lifetime": _operation(
        "ConsumptionLifetime",
        "Daily consumption over the system's lifetime, in Wh.",
        ref("ConsumptionLifetimeResponse"),
        ("SystemId", "StartDate", "EndDate"),
        no_content=True,
    ),
    f"{V2}/systems/{{system_id}}/production_meter_readings": _operation(
        "ProductionMeterReadings",
        "The last odometer reading of each production meter as of end_at.",
        ref("ProductionMeterReadingsResponse"),
        ("SystemId", "EndAt"),
    ),
    f"{V2}/systems/inverters_summary_by_envoy_or_site": _operation(
        "InvertersSummaryByEnvoyOrSite",
        "Microinverters of a site or Envoy with their power and lifetime energy.",
        _array(ref("InvertersSummaryByEnvoyOrSiteResponse")),
        (
            _query("site_id", INTEGER, "The system id (or give envoy_serial_number)."),
            _query("envoy_serial_number", STRING, "An Envoy serial number (or give site_id)."),
        ),
    ),
    f"{V2}/systems/{{system_id}}/envoys": _operation(
        "Envoys",
        "Retired in API v4: use /api/v4/systems/{system_id}/devices.",
        None,
        ("SystemId",),
    ),
    f"{V2}/systems/{{system_id}}/monthly_production": _operation(
        "MonthlyProduction",
        "Retired in API v4: use /api/v4/systems/{system_id}/energy_lifetime or "
        "/api/v4/systems/{system_id}/production_meter_readings.",
        None,
        ("SystemId", _query("start_date", DATE, "First day of the month.", required=True)),
    ),
}

OPENAPI: JSON = {
    "openapi": "3.0.3",
    "info": {
        "title": "Enphase Enlighten Systems API v2 (served by enphase-proxy from API v4)",
        "version": "2.0",
        "description": (
            "The retired Enphase Enlighten Systems API v2, answered from API v4 by the proxy. "
            "Every *_at is Unix epoch seconds, or ISO 8601 in the system's time zone with "
            "datetime_format=iso8601. Upstream failures answer 503, never 500; endpoints "
            "Enphase retired in v4 answer 410 naming their replacement."
        ),
    },
    "servers": [{"url": "/"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "parameters": PARAMETERS,
        "securitySchemes": {"ApiKey": {"type": "apiKey", "name": "key", "in": "query"}},
    },
    "security": [{"ApiKey": []}],
}
