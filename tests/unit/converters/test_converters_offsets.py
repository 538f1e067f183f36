"""`diff_edits`: the edits difflib's SequenceMatcher finds between the parts that differ, found faster."""

from __future__ import annotations

from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from converters.offsets import Edit, diff_edits

FUZZ = settings(max_examples=500, deadline=None)
CHARS = st.sampled_from(["a", "b", " ", "'", '"', "’", "“", "”", "x"])


def _reference(old: str, new: str) -> list[Edit]:
    """The definition: trim the common prefix and suffix, then SequenceMatcher's non-equal opcodes."""
    if old == new:
        return []
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    old_mid, new_mid = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    matcher = SequenceMatcher(None, old_mid, new_mid, autojunk=False)
    return [
        Edit(prefix + i1, prefix + i2, new_mid[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def test_uncurled_quotes_become_one_edit_per_quote() -> None:
    assert diff_edits("it’s “ok”", 'it\'s "ok"') == [
        Edit(2, 3, "'"),
        Edit(5, 6, '"'),
        Edit(8, 9, '"'),
    ]


def test_an_unchanged_run_that_also_occurs_earlier_is_aligned_as_difflib_aligns_it() -> None:
    old, new = "’a’'a’", "'a''a'"  # difflib matches old's "'a" with the first "'a" of new, not in place
    assert diff_edits(old, new) == _reference(old, new) == [Edit(0, 3, ""), Edit(5, 6, "''a'")]


@FUZZ
@given(st.lists(CHARS, max_size=16).map("".join), st.data())
def test_one_for_one_replacements_give_the_reference_edits(old: str, data: st.DataObject) -> None:
    replacements = data.draw(
        st.lists(st.sampled_from(["'", '"', "a", "x"]), min_size=len(old), max_size=len(old))
    )
    keep = data.draw(st.lists(st.booleans(), min_size=len(old), max_size=len(old)))
    new = "".join(c if k else r for c, r, k in zip(old, replacements, keep, strict=True))
    assert diff_edits(old, new) == _reference(old, new)


@FUZZ
@given(st.lists(CHARS, max_size=16).map("".join), st.lists(CHARS, max_size=16).map("".join))
def test_any_two_strings_give_the_reference_edits(old: str, new: str) -> None:
    assert diff_edits(old, new) == _reference(old, new)
