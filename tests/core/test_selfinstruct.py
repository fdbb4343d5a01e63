"""Self-Instruct bootstrapping: the prompt, parsing the continuation, the paper's heuristic
filter, and the ROUGE-L novelty filter against hand-computed scores and brute force."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.generation_prompts import UnsupportedLanguage
from app.core.metrics import rouge_l
from app.core.selfinstruct import (
    REASON_LABELS,
    ROUGE_L_THRESHOLD,
    KeptInstruction,
    SimilarityIndex,
    bootstrap_prompt,
    filter_candidates,
    most_similar,
    parse_candidates,
    reject_reason,
)
from tests.conftest import TEST_DATA
from tests.dbs import IN_CI


def seed_instructions() -> list[str]:
    path = TEST_DATA / "seed_tasks.jsonl"
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing")
        pytest.skip(f"no shared test data at {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["instruction"] for line in lines]


class TestBootstrapPrompt:
    def test_english(self):
        prompt = bootstrap_prompt(
            ["Give three tips for staying healthy.", "Translate the sentence\n  into French:"],
            language="en",
        )
        assert prompt == (
            "Come up with a series of tasks:\n\n"
            "Task 1: Give three tips for staying healthy.\n"
            "Task 2: Translate the sentence into French\n"
            "Task 3:"
        )

    def test_chinese(self):
        prompt = bootstrap_prompt(
            ["给出三个保持健康的建议。", "把句子\n翻译成英文："], language="zh-CN"
        )
        assert prompt == (
            "想出一系列任务：\n\n"
            "任务 1：给出三个保持健康的建议。\n"
            "任务 2：把句子 翻译成英文\n"
            "任务 3："
        )

    def test_other_languages_are_refused(self):
        with pytest.raises(UnsupportedLanguage, match="fr is neither"):
            bootstrap_prompt(["Dites bonjour."], language="fr")


class TestParseCandidates:
    def test_continuation_with_a_wrapped_line_and_a_repeated_number(self):
        text = (
            " Suggest three names for a new coffee shop that sells\n"
            "   only  organic beans.\n"
            "Task 10: Explain why the sky is blue to a five-year-old.\n"
            "Task 11: Sort the following numbers in ascending order.\n"
            "Task 11: A repeated number ends the list.\n"
            "Task 12: Never reached."
        )
        assert parse_candidates(text, first_number=9, language="en") == [
            "Suggest three names for a new coffee shop that sells only organic beans.",
            "Explain why the sky is blue to a five-year-old.",
            "Sort the following numbers in ascending order.",
        ]

    def test_a_skipped_number_ends_the_list(self):
        text = " First task here.\nTask 10: Second task.\nTask 12: Out of order."
        assert parse_candidates(text, first_number=9, language="en") == [
            "First task here.",
            "Second task.",
        ]

    def test_blank_lines_between_tasks_but_chatter_after_them(self):
        text = (
            "\n\nWrite a haiku about autumn leaves.\n\n"
            "**Task 10:** List four uses of baking soda.\n\n"
            "task 11 - not a marker, but the list goes on? No: after a blank line it is chatter.\n"
        )
        assert parse_candidates(text, first_number=9, language="en") == [
            "Write a haiku about autumn leaves.",
            "List four uses of baking soda.",
        ]

    def test_closing_remarks_are_not_an_instruction(self):
        text = " Name a famous painter.\nTask 4: Describe a rainy day.\n\nI hope these help!"
        assert parse_candidates(text, first_number=3, language="en") == [
            "Name a famous painter.",
            "Describe a rainy day.",
        ]

    def test_chinese(self):
        text = (
            " 列出三种常见的水果。\n"
            "任务 10：解释为什么天空是蓝色的。\n"
            "任务11: 把下面的句子\n翻译成英文。\n"
            "任务 11：重复的编号到此为止。"
        )
        assert parse_candidates(text, first_number=9, language="zh") == [
            "列出三种常见的水果。",
            "解释为什么天空是蓝色的。",
            "把下面的句子 翻译成英文。",
        ]

    def test_a_marker_alone_on_its_line(self):
        text = " Name a river.\nTask 3:\n\nDescribe its source.\n\nThat is all."
        assert parse_candidates(text, first_number=2, language="en") == [
            "Name a river.",
            "Describe its source.",
        ]

    def test_nothing(self):
        assert parse_candidates("  \n\n", first_number=1, language="en") == []


class TestRejectReason:
    @pytest.mark.parametrize(
        ("instruction", "reason"),
        [
            ("   \n ", "empty"),
            ("Write a poem.", "too_short"),  # 3 words
            ("Name three red fruits.", None),  # 4 words
            (" ".join(["word"] * 150), None),
            (" ".join(["word"] * 151), "too_long"),
            ("Describe the image below in a few sentences.", "unsuitable"),
            ("Draw a cat sitting on a windowsill.", "unsuitable"),
            ("Plot the monthly sales figures for 2020.", "unsuitable"),
            ("Go to the website and list its products.", "unsuitable"),
            ("Summarize this VIDEO transcript in two lines.", "unsuitable"),
            ("Turn these steps into a flowchart for new staff.", "unsuitable"),
            ("Update the settings on the user profile page.", None),  # "profile", not "file"
            ("Explain how mapping works in Python dictionaries.", None),  # not "map"
            ("Write a program that sorts a list of numbers.", "write_a_program"),
            ("write a program to reverse a string in place.", "write_a_program"),
            ("Write a function that reverses a string.", None),
            ('"Hello" is a greeting; translate it into French.', "starts_with_punctuation"),
            ("- List three colours of the rainbow.", "starts_with_punctuation"),
            ("Écris une phrase sur le chat noir.", "not_english"),
            ("给出三个保持健康的建议，越具体越好。", "not_english"),
            ("Give three tips for staying healthy.", None),
            ("Draw.", "too_short"),  # the checks run in the paper's order
        ],
    )
    def test_english(self, instruction, reason):
        assert reject_reason(instruction, language="en") == reason

    @pytest.mark.parametrize(
        ("instruction", "reason"),
        [
            ("", "empty"),
            ("写首诗", "too_short"),  # 3 characters, 3 words
            ("写一首诗", None),  # 4 words under the CJK rule
            ("字" * 151, "too_long"),
            ("描述这张图片中的内容。", "unsuitable"),
            ("画一只在窗台上睡觉的猫。", "unsuitable"),
            ("把这段视频的内容总结一下。", "unsuitable"),
            ("根据下面的数据绘制一张柱状图。", "unsuitable"),
            ("用 Python 读取一个 CSV 文件并统计行数。", "unsuitable"),
            ("编写一个程序来计算斐波那契数列。", "write_a_program"),
            ("写一个程序，判断一个数是否为质数。", "write_a_program"),
            ("写一个函数，判断一个数是否为质数。", None),
            ("“你好”用英语怎么说？请翻译。", "starts_with_punctuation"),
            ("（可选）列出三种水果的名称。", "starts_with_punctuation"),
            ("给出三个保持健康的建议。", None),  # Chinese is not refused as "not English"
            ("List four uses of baking soda.", None),
        ],
    )
    def test_chinese(self, instruction, reason):
        assert reject_reason(instruction, language="zh") == reason

    def test_every_reason_has_a_label(self):
        reasons = {"empty", "too_short", "too_long", "unsuitable", "write_a_program"}
        reasons |= {"starts_with_punctuation", "not_english", "similar"}
        assert set(REASON_LABELS) == reasons


# Tokens (metrics' normalisation drops "a" and "the"):
# write short story for children about brave little dog who finds his way home after long storm
EXISTING = (
    "Write a short story for children about a brave little dog who finds his way home after a "
    "long storm."
)
# 17 tokens; story, children, little, dog, his substituted: LCS 12, F = 24/34 = 0.7059.
JUST_ABOVE = (
    "Write a short poem for adults about a brave old cat who finds her way home after a long storm."
)
# 15 tokens (little and long gone); story, children, dog, his substituted: LCS 11, F = 22/32.
JUST_BELOW = "Write a short poem for adults about a brave cat who finds her way home after a storm."
# 10 tokens each, 3 substituted: LCS 7, F = 14/20 = 0.7 exactly.
TEN = "List five healthy snacks that children can eat after school."
AT_THRESHOLD = "List five healthy meals that students can cook after school."


class TestRougeLThreshold:
    def test_hand_computed_scores_agree_with_the_metric(self):
        assert most_similar(JUST_ABOVE, [EXISTING]) == (24 / 34, 0)
        assert most_similar(JUST_BELOW, [EXISTING]) == (22 / 32, 0)
        assert most_similar(AT_THRESHOLD, [TEN]) == (0.7, 0)
        assert rouge_l(JUST_ABOVE, EXISTING) == pytest.approx(24 / 34)
        assert rouge_l(JUST_BELOW, EXISTING) == pytest.approx(22 / 32)
        assert rouge_l(AT_THRESHOLD, TEN) == pytest.approx(0.7)

    def test_just_above_is_dropped_and_just_below_kept(self):
        index = SimilarityIndex([EXISTING])
        result = filter_candidates([JUST_ABOVE, JUST_BELOW], index, language="en")
        assert result.kept == [KeptInstruction(JUST_BELOW, 22 / 32, 0)]
        assert result.rejected == {"similar": 1}

    def test_exactly_the_threshold_is_dropped(self):
        assert ROUGE_L_THRESHOLD == 0.7
        result = filter_candidates([AT_THRESHOLD], SimilarityIndex([TEN]), language="en")
        assert result.kept == [] and result.rejected == {"similar": 1}

    def test_chinese_scores_by_character(self):
        # 列出三种常见的水果 (9 characters) vs 列出三种常见的蔬菜 (9): LCS 7, F = 14/18.
        assert most_similar("列出三种常见的蔬菜。", ["列出三种常见的水果。"]) == (14 / 18, 0)
        result = filter_candidates(
            ["列出三种常见的蔬菜。", "解释为什么天空是蓝色的。"],
            SimilarityIndex(["列出三种常见的水果。"]),
            language="zh",
        )
        assert [kept.instruction for kept in result.kept] == ["解释为什么天空是蓝色的。"]
        assert result.rejected == {"similar": 1}


class TestSimilarityIndex:
    def test_nothing_in_common(self):
        index = SimilarityIndex(["Give three tips for staying healthy."])
        assert index.max_rouge_l("Translate into French") == (0.0, None)
        assert SimilarityIndex().max_rouge_l("Anything at all") == (0.0, None)

    def test_ties_go_to_the_first_member(self):
        index = SimilarityIndex(["name five rivers", "list five rivers", "name five rivers"])
        assert index.max_rouge_l("name five rivers") == (1.0, 0)
        assert index.max_rouge_l("list five rivers") == (1.0, 1)

    def test_add_counts_against_later_candidates(self):
        index = SimilarityIndex(["Give three tips for staying healthy."])
        assert index.add("Describe a rainy day in a small town.") == 1
        assert len(index) == 2 and index[1] == "Describe a rainy day in a small town."
        assert index.max_rouge_l("Describe a rainy day in a big town.")[1] == 1

    def test_equals_brute_force_on_the_seed_tasks(self):
        seeds = seed_instructions()
        rng = random.Random(0)
        vocabulary = sorted({word for seed in seeds for word in seed.split()})
        index = SimilarityIndex(seeds)
        candidates = []
        for seed in seeds:  # each seed changed a little: near its source and near others
            words = seed.split()
            for _ in range(rng.randint(1, 4)):
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            candidates.append(" ".join(words))
        candidates += [" ".join(rng.sample(vocabulary, rng.randint(3, 25))) for _ in range(50)]
        for candidate in candidates:
            assert index.max_rouge_l(candidate) == most_similar(candidate, seeds), candidate
        for left_out in range(0, len(seeds), 5):  # a seed against all the others
            others = seeds[:left_out] + seeds[left_out + 1 :]
            expected = most_similar(seeds[left_out], others)
            assert SimilarityIndex(others).max_rouge_l(seeds[left_out]) == expected

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.lists(st.sampled_from("abcdef"), max_size=8), max_size=12),
        st.lists(st.sampled_from("abcdef"), max_size=8),
    )
    def test_equals_brute_force_on_small_alphabets(self, members, candidate):
        # Few distinct tokens make many ties and many bounds equal to the score.
        texts = [" ".join(member) for member in members]
        text = " ".join(candidate)
        assert SimilarityIndex(texts).max_rouge_l(text) == most_similar(text, texts)


class TestFilterCandidates:
    def test_counts_every_reason_and_adds_what_it_keeps(self):
        index = SimilarityIndex(["Give three tips for staying healthy."])
        candidates = [
            "Describe a rainy  day in a small town.",
            "Describe a rainy day in a small town.",  # the one above, now in the pool
            "Give three tips for staying healthy!",
            "Write a poem.",
            "Draw a map of your neighbourhood.",
            "Write a program that prints the first ten primes.",
            "(Optional) list three colours of the rainbow.",
            "Écris une phrase sur le chat noir.",
            "",
            "Suggest a name for a pet goldfish.",
        ]
        result = filter_candidates(candidates, index, language="en")
        assert [kept.instruction for kept in result.kept] == [
            "Describe a rainy day in a small town.",
            "Suggest a name for a pet goldfish.",
        ]
        assert result.rejected == {
            "similar": 2,
            "too_short": 1,
            "unsuitable": 1,
            "write_a_program": 1,
            "starts_with_punctuation": 1,
            "not_english": 1,
            "empty": 1,
        }
        assert len(index) == 3 and index[2] == "Suggest a name for a pet goldfish."
        goldfish = result.kept[1]
        assert (goldfish.similarity, goldfish.most_similar) == most_similar(
            goldfish.instruction, [index[0], index[1]]
        )
