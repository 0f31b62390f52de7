"""ListJobs page tokens: opaque to clients, versioned, checked when read back."""

from __future__ import annotations

import base64

from mtl_service.errors import FieldViolation, InvalidArgument


def encode_page_token(position: int) -> str:
    """The ListJobs token of the page that starts before store `position` ("" for none)."""
    if position <= 0:
        return ""
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode()


def decode_page_token(token: str) -> int:
    """The store position a page token stands for (0: from the newest job);
    InvalidArgument naming `page_token` when the service did not issue it."""
    if not token:
        return 0
    try:
        version, position = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version != "v1" or int(position) <= 0:
            raise ValueError(token)
        return int(position)
    except ValueError:
        raise InvalidArgument.from_violations(
            [FieldViolation("page_token", "is not a token this service returned")]
        ) from None
