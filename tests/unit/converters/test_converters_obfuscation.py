"""De-obfuscation: the common tricks are undone, ordinary numbers and codes are not."""

from __future__ import annotations

from converters import normalize_text
from converters.obfuscation import decode_word


def _normalized(text: str) -> str:
    return normalize_text(text)[0]


def test_asterisk_masked_word_is_restored() -> None:
    assert _normalized("what the f*ck") == "what the fuck"


def test_several_asterisks_are_restored_from_the_lexicon() -> None:
    assert _normalized("you a**hole") == "you asshole"


def test_digit_for_letter_is_decoded() -> None:
    assert _normalized("this is sh1t") == "this is shit"


def test_word_made_mostly_of_digits_is_resolved_through_the_lexicon() -> None:
    assert _normalized("you 1d10t") == "you idiot"


def test_at_sign_for_a_is_decoded_not_masked_as_a_mention() -> None:
    assert _normalized("kiss my @ss") == "kiss my ass"


def test_exclamation_mark_for_i_is_decoded() -> None:
    assert _normalized("dumb b!tch") == "dumb bitch"


def test_dollar_for_s_is_decoded() -> None:
    assert _normalized("$hit happens") == "shit happens"


def test_leetspeak_outside_the_lexicon_is_decoded() -> None:
    assert _normalized("h3ll0 n00b") == "hello noob"


def test_shouted_leetspeak_keeps_its_capitals() -> None:
    assert _normalized("SH1T") == "SHIT"


def test_plain_numbers_are_untouched() -> None:
    assert _normalized("at 10:30 in 2026, 1,000 people") == "at 10:30 in 2026, 1,000 people"


def test_ordinary_alphanumeric_codes_are_untouched() -> None:
    text = "mp3 3rd covid19 h264 b2b 4k x86 user123"
    assert _normalized(text) == text


def test_sentence_punctuation_after_a_word_is_not_decoded() -> None:
    assert _normalized("wow!! really?!") == "wow!! really?!"


def test_censored_word_that_cannot_be_resolved_is_left_alone() -> None:
    assert _normalized("f*** this") == "f*** this"


def test_spaced_letters_are_joined() -> None:
    assert _normalized("k i l l yourself") == "kill yourself"


def test_dotted_letters_are_joined() -> None:
    assert _normalized("what an i.d.i.o.t") == "what an idiot"


def test_two_single_letters_are_not_joined() -> None:
    assert _normalized("a b test") == "a b test"


def test_repeated_letters_are_capped_at_two() -> None:
    assert _normalized("stuuuupid sooooo") == "stuupid soo"


def test_roman_numerals_keep_their_repeated_letters() -> None:
    assert _normalized("Chapter XXX and part III") == "Chapter XXX and part III"


def test_decoded_word_keeps_exact_offsets() -> None:
    source = "you 1d10t!"
    text, offsets = normalize_text(source)
    start = text.index("idiot")
    assert source[offsets.to_source(start) : offsets.to_source(start + 5)] == "1d10t"


def test_joined_letters_map_back_to_the_spaced_source() -> None:
    source = "k i l l now"
    text, offsets = normalize_text(source)
    assert text.startswith("kill")
    assert source[offsets.to_source(0) : offsets.to_source(4)] == "k i l l"
    assert offsets.to_source(text.index("now")) == source.index("now")


def test_a_word_whose_lower_case_is_longer_is_left_alone() -> None:
    assert decode_word("İ1d10t") is None  # "İ".lower() is "i" + a combining dot: two characters


def test_normalizing_a_word_whose_lower_case_is_longer_does_not_fail() -> None:
    assert normalize_text("İ1d10t")[0] == "İ1d10t"
