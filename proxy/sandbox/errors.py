"""v4 error bodies: ``{"message", "details", "code"}`` and the data-unavailable shape."""

from __future__ import annotations

from starlette.responses import JSONResponse

MESSAGES = {
    401: "Not Authorized",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """A v4 error answer: HTTP status and JSON body."""

    def __init__(self, status: int, details: str, **extra: object) -> None:
        super().__init__(details)
        self.status = status
        self.body = {"message": MESSAGES[status], "details": details, "code": status, **extra}

    def response(self) -> JSONResponse:
        """The error as a JSON response."""
        return JSONResponse(self.body, status_code=self.status)


def ruby_hash(**fields: object) -> str:
    """Fields as a Ruby hash literal, e.g. ``{:id=>"1"}`` or ``{:start_at=>15}``."""
    parts = (f":{k}=>{v}" if isinstance(v, int) else f':{k}=>"{v}"' for k, v in fields.items())
    return "{" + ", ".join(parts) + "}"


def not_found(thing: str, **key: object) -> ApiError:
    """404 for an unknown or invisible system or device."""
    return ApiError(404, f"{thing} not found for {ruby_hash(**key)}")


def unprocessable(details: str) -> ApiError:
    """422 with ``details``."""
    return ApiError(422, details)


def invalid_range(start: int, end: int, first: int, last: int) -> ApiError:
    """422 for a telemetry date range outside the rules, with the Ruby hash of the numbers."""
    numbers = ruby_hash(start_at=start, end_at=end, first_interval=first, last_interval=last)
    return ApiError(
        422,
        f"Invalid request because of 'Requested date range is invalid for this system'. {numbers}",
    )


def unavailable() -> JSONResponse:
    """503 with the data-temporarily-unavailable body."""
    return JSONResponse(
        {"errorCode": 7, "errorMessages": ["Data is temporarily unavailable"]}, status_code=503
    )
