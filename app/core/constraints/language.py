"""``language:response_language`` and the language detection that ``change_case:*`` shares.

Detection uses ``langdetect`` (offline, profiles ship with the package) with
``DetectorFactory.seed = 0``, as IFEval does, so verdicts are deterministic. When detection
fails (no letters at all), IFEval counts the instruction as followed; so does this module.
langdetect reports Chinese as ``zh-cn`` or ``zh-tw``; a required ``zh`` accepts both.
"""

from __future__ import annotations

import threading

from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException
from pydantic import field_validator

from .base import N_, ConstraintSpec, Params, Verdict

DetectorFactory.seed = 0
_LOCK = threading.Lock()

# Codes langdetect can report (plus plain "zh"), with names in English and Chinese.
LANGUAGES: dict[str, tuple[str, str]] = {
    "af": ("Afrikaans", "南非荷兰语"),
    "ar": ("Arabic", "阿拉伯语"),
    "bg": ("Bulgarian", "保加利亚语"),
    "bn": ("Bengali", "孟加拉语"),
    "ca": ("Catalan", "加泰罗尼亚语"),
    "cs": ("Czech", "捷克语"),
    "cy": ("Welsh", "威尔士语"),
    "da": ("Danish", "丹麦语"),
    "de": ("German", "德语"),
    "el": ("Greek", "希腊语"),
    "en": ("English", "英语"),
    "es": ("Spanish", "西班牙语"),
    "et": ("Estonian", "爱沙尼亚语"),
    "fa": ("Persian", "波斯语"),
    "fi": ("Finnish", "芬兰语"),
    "fr": ("French", "法语"),
    "gu": ("Gujarati", "古吉拉特语"),
    "he": ("Hebrew", "希伯来语"),
    "hi": ("Hindi", "印地语"),
    "hr": ("Croatian", "克罗地亚语"),
    "hu": ("Hungarian", "匈牙利语"),
    "id": ("Indonesian", "印度尼西亚语"),
    "it": ("Italian", "意大利语"),
    "ja": ("Japanese", "日语"),
    "kn": ("Kannada", "卡纳达语"),
    "ko": ("Korean", "韩语"),
    "lt": ("Lithuanian", "立陶宛语"),
    "lv": ("Latvian", "拉脱维亚语"),
    "mk": ("Macedonian", "马其顿语"),
    "ml": ("Malayalam", "马拉雅拉姆语"),
    "mr": ("Marathi", "马拉地语"),
    "ne": ("Nepali", "尼泊尔语"),
    "nl": ("Dutch", "荷兰语"),
    "no": ("Norwegian", "挪威语"),
    "pa": ("Punjabi", "旁遮普语"),
    "pl": ("Polish", "波兰语"),
    "pt": ("Portuguese", "葡萄牙语"),
    "ro": ("Romanian", "罗马尼亚语"),
    "ru": ("Russian", "俄语"),
    "sk": ("Slovak", "斯洛伐克语"),
    "sl": ("Slovenian", "斯洛文尼亚语"),
    "so": ("Somali", "索马里语"),
    "sq": ("Albanian", "阿尔巴尼亚语"),
    "sv": ("Swedish", "瑞典语"),
    "sw": ("Swahili", "斯瓦希里语"),
    "ta": ("Tamil", "泰米尔语"),
    "te": ("Telugu", "泰卢固语"),
    "th": ("Thai", "泰语"),
    "tl": ("Tagalog", "他加禄语"),
    "tr": ("Turkish", "土耳其语"),
    "uk": ("Ukrainian", "乌克兰语"),
    "ur": ("Urdu", "乌尔都语"),
    "vi": ("Vietnamese", "越南语"),
    "zh": ("Chinese", "中文"),
    "zh-cn": ("Simplified Chinese", "简体中文"),
    "zh-tw": ("Traditional Chinese", "繁体中文"),
}


def detect_language(text: str) -> str | None:
    """langdetect's code for ``text`` (``en``, ``zh-cn``…), or None when it cannot tell."""
    with _LOCK:  # the detector factory is module-global state in langdetect
        DetectorFactory.seed = 0
        try:
            return detect(text)
        except LangDetectException:
            return None


def language_matches(detected: str, expected: str) -> bool:
    return detected == expected or (expected == "zh" and detected.startswith("zh"))


class ResponseLanguage(Params):
    language: str

    @field_validator("language", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        code = value.strip().lower().replace("_", "-")
        if code not in LANGUAGES:
            raise ValueError("Unknown language code; use an ISO 639-1 code such as en or zh.")
        return code


def check_response_language(response: str, *, language: str) -> Verdict:
    detected = detect_language(response)
    if detected is None:
        return Verdict(
            True,
            N_("The language could not be detected; counted as followed, as IFEval does."),
            {"expected": language},
        )
    return Verdict(
        language_matches(detected, language),
        N_('Detected language "{detected}"; needs "{expected}".'),
        {"detected": detected, "expected": language},
    )


def _render_language(params: dict, lang: str) -> str:
    english, chinese = LANGUAGES[params["language"]]
    if lang == "zh":
        return f"整个回答必须使用{chinese}，不允许使用其他语言。"
    return f"Your ENTIRE response should be in {english} language, no other language is allowed."


SPECS = [
    ConstraintSpec(
        "language:response_language",
        {"en": "Response language", "zh": "回答语言"},
        ResponseLanguage,
        check_response_language,
        _render_language,
    ),
]
