"""Telegram's 4096-character limit is counted on the text a reader sees, after entity parsing:
a long message is cut in its text, never inside an HTML entity or tag, and stays valid HTML."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest

from adapters.notify.telegram import TEXT_LIMIT, telegram_text
from application.ports.notify import Event
from tests.unit.notify.samples import sample_event

TAG = re.compile(r"<(/?)(\w+)[^>]*>")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|\w+);")


def visible(text: str) -> str:
    """What Telegram shows: tags removed, entities decoded."""
    return html.unescape(TAG.sub("", text))


def assert_well_formed(text: str) -> None:
    """Every `&` starts a whole entity and every tag is whole and closed in order."""
    for match in re.finditer("&", text):
        assert ENTITY.match(text, match.start()), text[match.start() : match.start() + 12]
    assert text.count("<") == text.count(">")
    open_tags: list[str] = []
    for closing, name in TAG.findall(text):
        if closing:
            assert open_tags, text[-200:]
            assert open_tags.pop() == name, text[-200:]
        else:
            open_tags.append(name)
    assert open_tags == []


def event_with(**changes: object) -> Event:
    return replace(sample_event(), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(event_with(body="a & b < c " * 900), id="body full of entities"),
        pytest.param(event_with(body="&" * 3000), id="body of ampersands only"),
        pytest.param(
            event_with(fields={f"k{i}": "x & <y>" * 20 for i in range(60)}),
            id="fields past the limit",
        ),
        pytest.param(event_with(title="<T&T> " * 1000), id="a huge title"),
    ],
)
def test_a_long_telegram_message_is_cut_in_its_text_never_inside_an_entity_or_tag(
    event: Event,
) -> None:
    text = telegram_text(event)
    assert_well_formed(text)
    assert len(visible(text)) <= TEXT_LIMIT
    assert "…" in visible(text)  # it says it was shortened


def test_a_message_that_fits_is_sent_whole() -> None:
    event = sample_event()
    text = telegram_text(event)
    assert_well_formed(text)
    assert "&lt;limit&gt; &amp; more" in text
    assert not visible(text).endswith("…")


def test_an_ampersand_heavy_body_keeps_as_much_text_as_the_limit_allows() -> None:
    text = telegram_text(event_with(body="&" * 3000, fields={}, links=()))
    # The limit is on what the reader sees: more than the old raw-HTML cut left (about 800).
    assert len(visible(text)) > 2_000
