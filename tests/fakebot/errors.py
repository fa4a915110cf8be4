"""Bot API error answers."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body", "gateway_page"]


class ApiError(Exception):
    """A refusal the server answers with ``{"ok": false, ...}`` and an HTTP status."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.description, self.parameters)


def error_body(
    status: int, description: str, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def gateway_page(status: int, reason: str) -> str:
    """The HTML page Telegram's nginx front answers with when the backend is unreachable."""
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
