"""A question typed without capitals is read with the library's spelling of its words."""

from qa.retrieve.answerability import has_type
from qa.retrieve.evidence import asked_kind
from qa.text.casing import restore_case, spellings, uncased

TEXTS = [
    "Jodie Comer took home her first Tony on Sunday night.",
    "The play moved from London to Broadway, where Comer won the Tony for best actress.",
    "A tony suburb was mentioned once.",
    "Protesters from Just Stop Oil glued their hands to a Constable painting.",
    "Police in the US said the gunman acted alone.",
]


def test_only_a_question_without_capitals_is_recased() -> None:
    assert uncased("who took home her first tony")
    assert uncased("Who took home her first tony for best actress?")
    assert uncased("WHO TOOK HOME HER FIRST TONY?")
    assert not uncased("Who took home her first Tony?")
    assert not uncased("1999?")
    assert restore_case("Who won the Tony?", TEXTS) == "Who won the Tony?"


def test_words_take_the_capitals_the_library_gives_them_inside_sentences() -> None:
    known = spellings(TEXTS)
    # Written "Tony" twice inside sentences, "tony" once: a name.
    assert known["tony"] == "Tony"
    assert known["us"] == "US"
    # Capitalized only where a sentence opens: not evidence of a name.
    assert "protesters" not in known and "police" not in known and "the" not in known
    assert restore_case("who took home her first tony", TEXTS) == "Who took home her first Tony"
    assert restore_case("WHO TOOK HOME HER FIRST TONY ?", TEXTS) == "Who took home her first Tony ?"


def test_a_casual_question_names_what_the_cased_one_names() -> None:
    sentence = "Jodie Comer won the Tony, beating Audra McDonald."
    cased = "Who won the Tony for best lead actress in a play?"
    typed = restore_case("who won the tony for best lead actress in a play", TEXTS)
    # "Tony" is the question's own word, not an answer; the person is.
    for question in (cased, typed):
        assert has_type("He won the Tony again.", "person", question) is False
        assert has_type(sentence, "person", question) is True


def test_the_asking_sentence_of_a_casual_quiz_question_is_found() -> None:
    cased = "Charles became king in the US. Who is next in line to the throne?"
    typed = restore_case(cased.lower().rstrip("?"), TEXTS)
    assert typed == "Charles became king in the US. Who is next in line to the throne"
    assert asked_kind(typed) == asked_kind(cased) == "person"
    # Read as typed, the lower-case rest is not seen as a sentence of its own.
    assert asked_kind(cased.lower()) != "place"
