"""SocialPost -> TextDocument."""

from __future__ import annotations

from datetime import UTC, datetime

from converters import source_text, to_document
from schemas.events import SocialPost

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _post(
    text: str = "", html: str | None = None, alt_texts: tuple[str, ...] = (), **extra: object
) -> SocialPost:
    return SocialPost.model_validate(
        {
            "schema_version": 1,
            "id": "post-1",
            "created_at": CREATED,
            "kind": "post",
            "platform": "example",
            "author_id": "author-1",
            "text": text,
            "html": html,
            "media_alt_texts": list(alt_texts),
            **extra,
        }
    )


def _source_span(post: SocialPost, word: str) -> str:
    doc = to_document(post)
    start = doc.text.index(word)
    source = source_text(post)
    return source[doc.offsets.to_source(start) : doc.offsets.to_source(start + len(word))]


def test_post_text_becomes_the_normalized_document_text() -> None:
    assert to_document(_post("Hello   world 😂")).text == "Hello world face with tears of joy"


def test_post_document_carries_event_id_time_kind_and_language() -> None:
    doc = to_document(_post("hi", language="en"))
    assert (doc.event_id, doc.created_at, doc.kind, doc.language, doc.segments) == (
        "post-1",
        CREATED,
        "post",
        "en",
        (),
    )


def test_plain_post_maps_by_identity() -> None:
    doc = to_document(_post("just a normal post"))
    assert (doc.offsets.norm, doc.offsets.source) == ((0,), (0,))


def test_html_is_used_when_text_is_empty() -> None:
    assert to_document(_post(html="<p>Hello <b>there</b></p>")).text == "Hello there"


def test_html_is_ignored_when_text_is_given() -> None:
    assert to_document(_post("from text", html="<p>from html</p>")).text == "from text"


def test_script_and_style_are_dropped_from_html() -> None:
    html = "<style>p{color:red}</style><p>visible</p><script>alert(1)</script>"
    assert to_document(_post(html=html)).text == "visible"


def test_html_comments_are_dropped() -> None:
    assert to_document(_post(html="<p>a<!-- hidden -->b</p>")).text == "ab"


def test_html_entities_are_decoded() -> None:
    assert to_document(_post(html="<p>salt &amp; pepper</p>")).text == "salt & pepper"


def test_html_block_elements_become_line_breaks() -> None:
    assert to_document(_post(html="<p>one</p><p>two</p><ul><li>three</li></ul>")).text == "one\ntwo\nthree"


def test_html_without_tags_that_looks_like_a_url_is_converted_without_warning() -> None:
    assert to_document(_post(html="https://example.com/page")).text == "[URL]"


def test_html_offsets_point_into_the_markup() -> None:
    post = _post(html="<div><p>first <i>second</i></p><p>third</p></div>")
    assert _source_span(post, "second") == "second"
    assert _source_span(post, "third") == "third"


def test_alt_texts_follow_the_text_as_separate_sentences() -> None:
    doc = to_document(_post("look at this", alt_texts=("A dog on a beach", "Sunset!")))
    assert doc.text == "look at this.\nA dog on a beach.\nSunset!"


def test_post_with_only_alt_texts_is_converted() -> None:
    assert to_document(_post(alt_texts=("a cat",))).text == "a cat"


def test_blank_alt_texts_are_skipped() -> None:
    assert to_document(_post("text", alt_texts=("  ", ""))).text == "text"


def test_alt_text_offsets_point_into_the_source_text() -> None:
    post = _post("look at this", alt_texts=("A dog on a beach",))
    assert source_text(post) == "look at this\nA dog on a beach"
    assert _source_span(post, "beach") == "beach"
