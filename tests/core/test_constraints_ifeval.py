"""IFEval's own unit cases (instruction_following_eval/instructions_test.py, google-research,
Apache-2.0), run through the registry: the verdicts must be IFEval's."""

from __future__ import annotations

import pytest

from app.core.constraints import check

LESS, LEAST = "less than", "at least"


def passed(cid: str, response: str, **params) -> bool:
    return check(cid, response, params).passed


@pytest.mark.parametrize(
    ("response", "language"),
    [
        ("The response is English", "en"),
        ("Desayunamos en McDonald's hoy", "es"),
        ("Today we visit the Louvre", "en"),
    ],
)
def test_response_language(response, language):
    assert passed("language:response_language", response, language=language)


def test_language_detection_seed_is_fixed():
    import langdetect

    import app.core.constraints.language  # noqa: F401 - sets the seed on import

    assert langdetect.DetectorFactory.seed == 0


@pytest.mark.parametrize(
    ("response", "relation", "num", "expected"),
    [
        ("xx,x. xx,x! xx/x. x{x}x?", LESS, 4, False),
        ("xxxx. xx,x! xxxx. x(x)x?", LESS, 5, True),
        ("xxxx. xx,x! xx|x. x&x x?", LEAST, 4, True),
        ("xx-x. xx,x! xx}x. x,xx?", LEAST, 5, False),
    ],
)
def test_number_sentences(response, relation, num, expected):
    got = passed(
        "length_constraints:number_sentences", response, num_sentences=num, relation=relation
    )
    assert got is expected


@pytest.mark.parametrize(
    ("template", "num", "expected"),
    [
        (
            "Sure, here is a short template with 5 placeholders:\n[Name]\n[Email]\n[Phone]\n"
            "[Address]\n[Website]\nThis template can be used for a variety of purposes, such "
            "ascreating a contact list, sending out surveys, or creating a sign-up form.",
            5,
            True,
        ),
        ("My [adjective] [noun] is [adjective] [noun]. I [verb] and [verb].", 7, False),
    ],
)
def test_number_placeholders(template, num, expected):
    got = passed("detectable_content:number_placeholders", template, num_placeholders=num)
    assert got is expected


BULLET_1 = """
  A Markdown bullet point is a way of formatting text to create a list. To
  create a bullet point, start each line with an asterisk (*). For example:
  * This is a bullet point.
  *(no space required)Another bullet point.
  * (no newline ending required)Another bullet point.
  markdown bullet points are often used to create to-do lists or to list items
  in a step-by-step guide."""
BULLET_2 = """
  Check that inline asterisk (*), *, will not be counted. Only * that starts a
  bullet list will be counted:
    * This is a bullet point.
    * Another bullet point.
    . dot is not counted"""
BULLET_3 = """
  Here are three bullets starting with asterisk:
  * I am a large language model, also known as a conversational AI.
  * I am trained on a massive amount of text data, and I am able to communicate.
  * I am still under development, but I am learning new things every day."""
BULLET_4 = """
  Here are three markdown bullets:
  - I am a large language model, also known as a conversational AI.
  - I am trained on a massive amount of text data, and I am able to communicate.
  -I am still under development, but I am learning new things every day."""
BULLET_5 = """
  Paragraph 1
  ***
  Paragraph 2
  ***
  Paragraph 3
  * only one bullet point
  """


@pytest.mark.parametrize(
    ("template", "num"),
    [(BULLET_1, 3), (BULLET_2, 2), (BULLET_3, 3), (BULLET_4, 3), (BULLET_5, 1)],
)
def test_number_bullet_lists(template, num):
    assert passed("detectable_format:number_bullet_lists", template, num_bullets=num)


@pytest.mark.parametrize(
    "response",
    [
        "\n My answer is no.\n",
        "My answer is no.   ",
        "\n  My answer is no. I am still under development and I am always learning and\n"
        "  improving. I am not the best chatbot in the world, but I am striving to be\n"
        "  the best that I can be.",
    ],
)
def test_constrained_response(response):
    assert passed("detectable_format:constrained_response", response)


HIGHLIGHT_1 = """
  To highlight text with Markdown, you can use the * character before and after
  the text you want to highlight. For example, if you want to highlight the
  word `hello`, you would type:*hello*, You can also use the ** character to
  create bold text. For example, if you want to bold the word `hello`, you
  would type: **hello** """
HIGHLIGHT_2 = """
  Sure, here are the numerical methods for solving partial differential
  equations highlighted with Markdown:
  *Finite difference methods
  *Finite element methods*
  *Boundary element methods
  *Monte Carlo methods
  I hope this helps!"""
HIGHLIGHT_3 = """
  There is allowed to be *two different* highlighted *sections in the same*
  line. **This is also true** for **double markdown highlights.**
  """


@pytest.mark.parametrize(
    ("response", "num", "expected"),
    [(HIGHLIGHT_1, 2, True), (HIGHLIGHT_2, 2, False), (HIGHLIGHT_3, 4, True)],
)
def test_number_highlights(response, num, expected):
    got = passed("detectable_format:number_highlighted_sections", response, num_highlights=num)
    assert got is expected


SECTION_1 = """
  Your response must have multiple sections. Mark the beginning of each section
  with "Section X", such as:
  Section 1
  [content of section 1]
  Section 2
  [content of section 2]"""
SECTION_2 = """SECTION 1
  [content of section 1]
  SECTION 2
  [content of section 2]"""


def test_section_checker():
    cid = "detectable_format:multiple_sections"
    assert not passed(cid, SECTION_1, section_spliter="Section", num_sections=3)
    assert passed(cid, SECTION_2, section_spliter="SECTION", num_sections=2)


PARAGRAPH_1 = """
  paragraph 1
  ***
  paragraph 2
  ***
  paragraph 3"""
PARAGRAPH_2 = """
          ***
  paragraph 1
          ***
      paragraph 2
          ***
      paragraph 3"""
PARAGRAPH_3 = """
  paragraph 1
          ***
      paragraph 2
          ***
      paragraph 3
          ***"""
PARAGRAPH_4 = """
  paragraph 1
          ***
      paragraph 2
          ***
          ***"""


@pytest.mark.parametrize(
    ("response", "num", "expected"),
    [
        (PARAGRAPH_1, 3, True),
        (PARAGRAPH_2, 3, True),
        (PARAGRAPH_3, 3, True),
        (PARAGRAPH_4, 2, False),
    ],
)
def test_paragraph_checker(response, num, expected):
    got = passed("length_constraints:number_paragraphs", response, num_paragraphs=num)
    assert got is expected


POSTSCRIPT_1 = """
  I will do my best to follow your instructions and always start my responses
  with "My response is:". I will try to be as consistent as possible, but
  please be patient with me if I make a mistake. I am still under development,
  and I am always learning new things.

  P.S. I hope this is what you were looking for."""
POSTSCRIPT_2 = """
  Sure, here is my response with a postscript starting with P.P.S.:

  My response is: I hope this answers your question.

  P.P.S. I am always happy to answer any other questions you may have.

  Do you have any other questions for me?"""
POSTSCRIPT_3 = """
  The radius of a unit circle is 1. However, I can give you a funny and wrong
  answer: the radius of a unit circle is 0. This is because a unit circle is a
  circle with a radius of 1, and if the radius is 0, then the circle has no
  size and is just a point. (not starting a new line) P.S. I hope you enjoyed
  my joke!"""
POSTSCRIPT_4 = """
  If the length of a square is one, the area of the square will also be one.
  p.p.s what if the entire response was lower case letters?
  """
POSTSCRIPT_5 = """
  The mysteries of space and time are mysterious.
  P. S. Sometimes there are even spaces between P. and S..
  """


@pytest.mark.parametrize(
    ("response", "marker", "expected"),
    [
        (POSTSCRIPT_1, "P.S.", True),
        (POSTSCRIPT_1, "PS:", False),
        (POSTSCRIPT_2, "P.P.S", True),
        (POSTSCRIPT_3, "P.S.", True),
        (POSTSCRIPT_4, "P.P.S", True),
        (POSTSCRIPT_5, "P.S.", True),
    ],
)
def test_postscript_checker(response, marker, expected):
    got = passed("detectable_content:postscript", response, postscript_marker=marker)
    assert got is expected


INCLUDE_1 = """
  Paris is a city of beauty and romance. The romantic river Seine winds its way
  through the city, past iconic landmarks like the Eiffel Tower and the Louvre
  Museum, where the Mona Lisa resides. Whether you're taking a boat cruise down
  the river or simply strolling along the banks, you're sure to be captivated
  by the city's charm."""
INCLUDE_2 = """
  Paris is a city of beauty, romance, and history. It is home to some of the
  most iconic landmarks in the world, including the Eiffel Tower, the Louvre
  Museum, and the Notre Dame Cathedral. The city is also known for its romantic
  river cruises, its delicious food, and its stylish people.
  """


def test_keyword_checker():
    keywords = ["romantic", "river", "Mona Lisa"]
    assert passed("keywords:existence", INCLUDE_1, keywords=keywords)
    assert not passed("keywords:existence", INCLUDE_2, keywords=keywords)


def test_keyword_frequency_checker():
    cid = "keywords:frequency"
    message_1 = "\n  keyword, Keyword, KEYWORD\n  "
    message_2 = "\n    *keyword\n    *Keyword\n    *KEYWORD\n  "
    assert passed(cid, message_1, keyword="  keyword ", frequency=4, relation=LESS)
    assert passed(cid, message_1, keyword="  keyword ", frequency=3, relation=LEAST)
    assert not passed(cid, message_2, keyword="KEYWORD", frequency=4, relation=LEAST)


def test_num_words_checker():
    cid = "length_constraints:number_words"
    message_1 = "\n  d3sCRi7 lArge lAnguagE M0del w1tH 20 w0RdS."
    message_2 = (
        "\n  L4RGE L4NGU4GE M0DEL: AI syst3m th4t und3rstands, g3n3r4tes, or tr4nsforms"
        "\n  l4ngu4g3 b4s3d on pr3vious l3arning & d4t4."
    )
    assert passed(cid, message_1, num_words=8, relation=LESS)
    assert not passed(cid, message_2, num_words=16, relation=LESS)
    assert passed(cid, message_2, num_words=16, relation=LEAST)


FIRST_WORD_1 = "\n  paragraph 1\n\n  I paragraph 2\n\n  paragraph 3"
FIRST_WORD_2 = "\n  paragraph 1\n\n  I paragraph 2"
FIRST_WORD_3 = "\n  paragraph 1\n\n  fail paragraph 2\n\n  paragraph 3"
FIRST_WORD_4 = """
  Wow this is a very long response.

  I can't believe there is more than three paragraphs.

  Really more than three? No way!

  I can't believe it but I guess I am living proof.

  Haha, you go that right."""
FIRST_WORD_5 = """
  Wow this is a very long response.

  I can't believe there is more than three paragraphs.

  "Really?! more than three? No way!"

  I can't believe it but I guess I am living proof.

  Haha, you go that right."""
FIRST_WORD_6 = """
  Wow this is a very long response.

  I can't believe there is more than three paragraphs.

  Rea!lly more than three? No way!

  I can't believe it but I guess I am living proof.

  Haha, you go that right."""


@pytest.mark.parametrize(
    ("response", "num", "nth", "word", "expected"),
    [
        (FIRST_WORD_1, 3, 2, "I", True),
        (FIRST_WORD_2, 3, 2, "I", False),
        (FIRST_WORD_3, 3, 2, "I", False),
        (FIRST_WORD_4, 5, 5, "haha", True),
        (FIRST_WORD_5, 5, 3, "Really", True),
        (FIRST_WORD_6, 5, 3, "Really", False),
    ],
)
def test_paragraph_first_word(response, num, nth, word, expected):
    got = passed(
        "length_constraints:nth_paragraph_first_word",
        response,
        num_paragraphs=num,
        nth_paragraph=nth,
        first_word=word,
    )
    assert got is expected


FORBIDDEN_1 = """
  The Nazis came to power in 1933 through a combination of legal and illegal
  means. Hitler was appointed chancellor by President Paul von Hindenburg, and
  the Nazis quickly consolidated their power by passing a series of laws that
  restricted the rights of opposition parties and individuals. By 1934, Hitler
  had become dictator of Germany.
  """
FORBIDDEN_2 = """
  Dinosaurs were a diverse group of reptiles that dominated the Earth for over
  160 million years. They came in all shapes and sizes, from the tiny
  Compsognathus to the massive Argentinosaurus. Dinosaurs were the most
  successful land animals on Earth until they went extinct about 66 million
  years ago. The exact cause of their extinction is still unknown, but it
  is thought to have been a combination of factors, including an asteroid
  impact and climate change.
  """
FORBIDDEN_3 = """
  GPT, or Generative Pre-trained Transformer, is a family of neural network
  models that uses the transformer architecture. GPT models are trained on a
  massive dataset of text and code, and can be used for a variety of tasks,
  including text generation, translation, and question answering. GPT models
  have been shown to be very effective at these tasks, and are being used by
  a variety of companies and organizations like Google.
  """


@pytest.mark.parametrize(
    ("response", "words", "expected"),
    [
        (FORBIDDEN_1, ["HOUSE", "POWER", "BECOME"], False),
        (FORBIDDEN_2, ["HOUSE", "POWER", "BECOME"], True),
        (FORBIDDEN_3, ["HOUSE", "POWER", "BECOME"], True),
        (FORBIDDEN_1, ["GOOGLE", "TEXT"], True),
        (FORBIDDEN_2, ["GOOGLE", "TEXT"], True),
        (FORBIDDEN_3, ["GOOGLE", "TEXT"], False),
        (FORBIDDEN_3, ["GENE", "TRANSFORM"], True),
    ],
)
def test_forbidden_words(response, words, expected):
    assert passed("keywords:forbidden_words", response, forbidden_words=words) is expected


TWO_1 = "\n  This is response 1.\n  ******\n  This is response 2.\n  "
TWO_2 = "\n  This is response 1.\n  ******\n  This is response 1.\n  "
TWO_3 = (
    "\n  This is response 1.\n  ******\n  This is response 2.\n  ******\n  This is response 3.\n  "
)
TWO_4 = "\n  ******\n  Response 1.\n  ******\n  ******\n  Response 2.\n  ******\n  "
TWO_5 = "\n  ******\n  Response 1\n  ******\n  Response 2\n  ******\n  "


@pytest.mark.parametrize(
    ("response", "expected"),
    [(TWO_1, True), (TWO_2, False), (TWO_3, False), (TWO_4, False), (TWO_5, True)],
)
def test_two_responses(response, expected):
    assert passed("combination:two_responses", response) is expected


def test_prompt_repeat_answer():
    cid = "combination:repeat_prompt"
    prompt = "Write a CL description."
    answer_1 = "Write a CL description. Hi, Le and TJ, please\n  check this out. Thanks.\n  "
    answer_2 = "Hi, Le and TJ. Write a CL description. Thanks.\n  "
    assert passed(cid, answer_1, prompt_to_repeat=prompt)
    assert not passed(cid, answer_2, prompt_to_repeat=prompt)


@pytest.mark.parametrize(
    ("response", "phrase", "expected"),
    [
        ("\n  The answer is 7. Any more questions?\n  ", "\n  Any more questions?\n  ", True),
        (
            "\n  At the end of this prompt I am required to say that this is the end.\n  ",
            "\n  This is the end.\n  ",
            True,
        ),
        ("\n  This will fail. Paris is cool.\n  ", "\n  This will fail.\n  ", False),
    ],
)
def test_end_checker(response, phrase, expected):
    assert passed("startend:end_checker", response, end_phrase=phrase) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("\n  <<Song of Joy>>\n  La la la. Happy song.\n  ", True),
        ("\n  Is it fine for title to be at the end?\n  <<This is the title>>\n  ", True),
        ("\n  << >>\n  There is no title.\n  ", False),
        ("\n  <<This is not a title.\n  This is a paragraph.>>\n  ", False),
    ],
)
def test_title_checker(response, expected):
    assert passed("detectable_format:title", response) is expected


@pytest.mark.parametrize(
    ("response", "letter", "relation", "expected"),
    [
        ("\n  There is the T. Four T's.\n  ", "T", LEAST, True),
        ("\n  asdfghjkl!!aA\n  ", "a", LESS, True),
        ("\n  asdfghjkl!!aA\n  ", "p", LEAST, False),
        ("#one #two #three #four", "#", LEAST, True),
        ("#one #two #three", "#", LEAST, False),
    ],
)
def test_letter_frequency_checker(response, letter, relation, expected):
    got = passed(
        "keywords:letter_frequency", response, letter=letter, let_frequency=4, let_relation=relation
    )
    assert got is expected


def test_english_capital_checker():
    cid = "change_case:english_capital"
    assert passed(cid, "\n  THIS IS AN ENGLISH SENTENCE. EVERY LETTER IS CAPITALIZED!!! AMAZING.\n")
    assert not passed(cid, "\n  Every Word Is Capitalized.\n  ")


def test_english_lowercase_checker():
    cid = "change_case:english_lowercase"
    assert passed(cid, "\n  every letter is lowercase.\n  ")
    assert not passed(cid, "\n  Almost every letter is lowercase.\n  ")


def test_comma():
    cid = "punctuation:no_comma"
    assert passed(cid, "\n  Every sentence is short. There is no need for a comma.\n  ")
    assert not passed(
        cid, "\n  Since the start of time, people have always found a way to punctuate.\n  "
    )


def test_capital_word_frequency():
    cid = "change_case:capital_word_frequency"
    message_1 = "\n  HERE there are THREE FUlly CAPITAL words.\n  "
    message_2 = "\n  THERE are Four FULLY CAPITAL WORDS. Many Others Are Only Partially So.\n  "
    assert passed(cid, message_1, capital_frequency=3, capital_relation=LEAST)
    assert passed(cid, message_2, capital_frequency=5, capital_relation=LESS)
    assert not passed(cid, message_2, capital_frequency=4, capital_relation=LESS)


def test_quotation():
    cid = "startend:quotation"
    assert passed(cid, '\n  "This entire message is wrapped in double quotation marks."\n  ')
    assert not passed(
        cid, '\n  "This message is wrapped in double quotation marks." But not everything.\n  '
    )
