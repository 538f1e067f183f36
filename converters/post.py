"""SocialPost -> TextDocument: the text (or the HTML made text), then each media alt text as a sentence."""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, NavigableString, Tag

from converters.normalize import normalize_tracked, unescape_entities
from converters.offsets import Tracked, apply_edits, offset_map_from_positions
from schemas.document import OffsetMap, TextDocument
from schemas.events import SocialPost

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul",
})  # fmt: skip
_SENTENCE_END = ".!?…。！？"
_ALIGN_SEARCH_CHARS = 64


def post_source_text(post: SocialPost) -> str:
    """The string a post document's OffsetMap points into: text (or HTML), then one line per alt text."""
    body = post.text if post.text else (post.html or "")
    return "\n".join([body, *post.media_alt_texts])


def _align(piece: str, markup: str, cursor: int) -> tuple[list[int], int]:
    """Positions in ``markup`` of each character of a parsed string, skipping entities; best effort."""
    found = markup.find(piece, cursor)
    if found != -1:
        return list(range(found, found + len(piece))), found + len(piece)
    positions: list[int] = []
    for ch in piece:
        if cursor < len(markup) and markup[cursor] == ch:
            positions.append(cursor)
            cursor += 1
            continue
        if cursor < len(markup) and markup[cursor] == "&":
            semicolon = markup.find(";", cursor, cursor + 12)
            if semicolon != -1:
                positions.append(cursor)
                cursor = semicolon + 1
                continue
        ahead = markup.find(ch, cursor, cursor + _ALIGN_SEARCH_CHARS)
        if ahead == -1:
            positions.append(cursor)
        else:
            positions.append(ahead)
            cursor = ahead + 1
    return positions, cursor


def html_to_tracked(markup: str) -> Tracked:
    """Visible text of an HTML fragment (script/style dropped, a line break per block), mapped into it."""
    if "<" not in markup:
        return apply_edits(Tracked.untouched(markup), unescape_entities(markup))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(markup, "html.parser")
    line_starts = [0, *(m.end() for m in re.finditer("\n", markup))]
    pieces: list[str] = []
    positions: list[int] = []
    cursor = 0
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in _BLOCK_TAGS:  # the line break belongs to the end of the text before the block
                pieces.append("\n")
                positions.append(cursor)
            if node.sourceline is not None and node.sourcepos is not None:
                line = min(max(node.sourceline - 1, 0), len(line_starts) - 1)
                cursor = max(cursor, min(line_starts[line] + node.sourcepos, len(markup)))
        elif type(node) is NavigableString:  # not Comment, Script, Stylesheet, Doctype, ...
            piece = str(node)
            piece_positions, cursor = _align(piece, markup, cursor)
            pieces.append(piece)
            positions.extend(piece_positions)
    return Tracked("".join(pieces), [*positions, cursor])


def _as_sentence(tracked: Tracked) -> Tracked:
    """The piece ending with sentence punctuation (a "." mapped to its end is added when missing)."""
    if not tracked.text or tracked.text[-1] in _SENTENCE_END:
        return tracked
    return Tracked(tracked.text + ".", [*tracked.positions, tracked.positions[-1]])


def _normalized_pieces(post: SocialPost) -> list[Tracked]:
    """Body and alt texts, each normalized, with positions in `post_source_text`."""
    body = html_to_tracked(post.html) if post.html and not post.text else Tracked.untouched(post.text)
    raw: list[Tracked] = [body]
    offset = len(post.text if post.text else (post.html or "")) + 1
    for alt in post.media_alt_texts:
        raw.append(Tracked.untouched(alt).shifted(offset))
        offset += len(alt) + 1
    return [piece for piece in (normalize_tracked(t) for t in raw) if piece.text]


def post_text(post: SocialPost) -> tuple[str, OffsetMap]:
    """Normalized text of a post and its map back into `post_source_text`."""
    pieces = _normalized_pieces(post)
    source_length = len(post_source_text(post))
    if len(pieces) == 1:  # the usual post: its piece's positions are the map
        return pieces[0].text, offset_map_from_positions(pieces[0].positions, source_length)
    if len(pieces) > 1:
        pieces = [_as_sentence(piece) for piece in pieces]
    text_parts: list[str] = []
    positions: list[int] = []
    last = 0
    for piece in pieces:
        if text_parts:
            text_parts.append("\n")
            positions.append(last)
        text_parts.append(piece.text)
        positions.extend(piece.positions[:-1])
        last = piece.positions[-1]
    positions.append(last)
    return "".join(text_parts), offset_map_from_positions(positions, source_length)


def post_to_document(post: SocialPost) -> TextDocument:
    """Convert a SocialPost into a TextDocument (kind "post", no segments)."""
    text, offsets = post_text(post)
    return TextDocument(
        event_id=post.id,
        kind="post",
        text=text,
        offsets=offsets,
        created_at=post.created_at,
        language=post.language,
    )
