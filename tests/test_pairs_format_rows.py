"""Reading one row as a preference pair, without a database: which format a row is, and why a
row that is no pair is refused, in a sentence naming its field."""

from __future__ import annotations

import pytest

from app.core.formats import schemas


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def test_detection_and_an_explicit_format():
    plain = {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}
    dialogue = {"chosen": [user("Hi"), assistant("Hello")],
                "rejected": [user("Hi"), assistant("Go away")]}  # fmt: skip
    assert schemas.detect_schema([plain, plain, {"prompt": "x", "rejected": "y"}]) == (
        "trl_preference"
    )
    assert schemas.detect_schema([dialogue]) == "hh_rlhf"
    # A ShareGPT-like row with pair columns is a pair; chosen/rejected outrank "messages".
    assert schemas.schema_of({**dialogue, "messages": []}) == "hh_rlhf"
    # The HH form read as TRL's has no prompt, which TRL's form needs.
    assert schemas.convert(dialogue, "trl_preference").errors == ["missing field 'prompt'"]
    text = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello",
        "rejected": "\n\nHuman: Hi\n\nAssistant: No",
    }
    converted = schemas.convert(text, "hh_rlhf")
    assert converted.content is not None and converted.content.instruction == "Hi"
    assert (converted.content.output, converted.content.rejected) == ("Hello", "No")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"prompt": [user("Hi")], "chosen": "Hello", "rejected": [assistant("No")]},
         "'prompt' is a list of messages but 'chosen' is text; a row is plain text or "
         "conversational throughout"),
        ({"prompt": [user("Hi")], "chosen": [assistant("Hello")], "rejected": [user("No")]},
         "'rejected' ends with a user turn, not the assistant's response"),
        ({"prompt": [user("Hi")], "chosen": [assistant("Hello")], "rejected": []},
         "'rejected' must hold one assistant message (it holds 0)"),
        ({"prompt": [{"role": "system", "content": "A"}, user("Hi")], "system": "B",
          "chosen": [assistant("Hello")], "rejected": [assistant("No")]},
         "prompt[0] is a second system prompt, unlike the 'system' column"),
        ({"prompt": [user("Hi"), {"role": "system", "content": "A"}, user("Again")],
          "chosen": [assistant("Hello")], "rejected": [assistant("No")]},
         "prompt[1] is a system message after the conversation began"),
        ({"prompt": [user("Hi"), user("Again")], "chosen": [assistant("Hello")],
          "rejected": [assistant("No")]},
         "prompt[1] is a second user turn in a row; user and assistant alternate"),
        ({"prompt": [user("Hi"), assistant(" "), user("Again")], "chosen": [assistant("Hello")],
          "rejected": [assistant("No")]}, "prompt[1] is an empty assistant turn"),
        ({"prompt": [user("Hi")], "chosen": [assistant("Hello")], "rejected": [assistant("No")],
          "images": ["cat.png"]},
         "the row has 'images'; images, audio and video cannot be imported"),
        ({"prompt": [user("Hi")], "chosen": [user("Bye"), assistant("Hello")],
          "rejected": [assistant("No")]},
         "'chosen' holds a dialogue that does not begin with the row's 'prompt'; give the one "
         "assistant message, or the prompt's messages and then it"),
        ({"prompt": 3, "chosen": "a", "rejected": "b"},
         "'prompt' must be text or a list of messages"),
    ],
)  # fmt: skip
def test_rows_that_are_not_pairs_say_why(row, reason):
    converted = schemas.convert(row, "trl_preference")
    assert converted.content is None and converted.errors == [reason]
