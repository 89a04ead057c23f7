"""Reading an HTML form body (``application/x-www-form-urlencoded``), bounded.

Our forms are small and never upload files, so the standard library's parser is enough and
no multipart package is needed. A field given twice keeps its first value.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 50
FORM_TYPE = "application/x-www-form-urlencoded"


class FormError(ValueError):
    """The body is not a readable form; the message says why."""


def is_form(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == FORM_TYPE


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FormError("the form is not valid UTF-8") from err
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as err:
        raise FormError(f"the form has more than {MAX_FIELDS} fields") from err
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields
