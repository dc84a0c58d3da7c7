"""Strict request bodies at the API edge: UTF-8 JSON only, no duplicate keys, no floats.

Litestar's own decoder answers 500 on invalid UTF-8, parses `text/plain` as JSON and keeps the
last of two equal keys. `StrictJsonRequest` replaces it for every route with a body: the
content type must be `application/json` (415 otherwise), the bytes must be UTF-8 and the JSON
well-formed with each key once (400 otherwise, with a one-line reason). Numbers with a point or
an exponent become `Decimal`, never float; NaN and Infinity are refused. The request models in
`dto.py` then validate strictly (JSON booleans, JSON numbers, printable text).
"""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, HTTPException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import Empty

JSON_MEDIA_TYPE = "application/json"

# Characters that reorder how text is displayed (Trojan Source, CVE-2021-42574): refused in
# free text, with the C0/C1 controls and lone surrogates.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


class _DuplicateKey(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json_body(body: bytes) -> Any:
    """The JSON value of a request body, decoded strictly.

    Raises:
        ClientException: the bytes are not UTF-8, not JSON, or repeat a key (400).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientException(
            f"the body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8"
        ) from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=Decimal,
            parse_constant=_no_constant,
        )
    except _DuplicateKey as exc:
        raise ClientException(f"the body names the key {str(exc)!r} more than once") from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClientException(f"the body is not valid JSON: {reason}") from None


def refuse_unprintable(value: str) -> str:
    """The text unchanged when every character is printable (a line break is allowed).

    Raises:
        ValueError: a control character, a lone surrogate or a bidi override is present.
    """
    for index, char in enumerate(value):
        if char == "\n":
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) in REFUSED_CATEGORIES:
            raise ValueError(
                f"must be printable text: character U+{ord(char):04X} at position {index} "
                "is a control or bidirectional-override character"
            )
    return value


class StrictJsonRequest(Request[Any, Any, Any]):
    """Litestar's request with the strict JSON decoding above."""

    async def json(self) -> Any:
        """The request's JSON body, decoded strictly (cached like Litestar's own).

        Raises:
            HTTPException: 415 when the content type is not application/json.
            ClientException: 400 when the body is not UTF-8 JSON with unique keys.
        """
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                media_type, _ = self.content_type
                if media_type != JSON_MEDIA_TYPE:
                    raise HTTPException(
                        status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                        detail=f"the body must be JSON: send Content-Type: {JSON_MEDIA_TYPE}",
                    )
                body = await self.body()
                self._json = self._connection_state.json = decode_json_body(body or b"null")
        return self._json
