"""Function words that synonym replacement and insertion leave alone, as EDA does.

WordNet and the Cilin list senses of function words that make nonsense in place ("a" →
"angstrom", "in" → "indium", 的 → 不容置疑); they may still be swapped or deleted.
"""

from __future__ import annotations


def word_list(text: str) -> frozenset[str]:
    """The words of a whitespace-separated list (long lists read better as text)."""
    return frozenset(text.split())


ENGLISH = word_list(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also may might must
    shall upon whether yet per via let lets get gets got
    """
)

# Chinese function words of two or more characters: single characters are never replaced.
CHINESE = word_list(
    """
    我们 你们 他们 她们 它们 咱们 自己 这个 那个 这些 那些 这里 那里 这样 那样 这么 那么 什么 怎么
    怎样 如何 为什么 因为 所以 但是 可是 而且 并且 或者 还是 如果 虽然 然后 然而 因此 于是 以及 以便
    以后 以前 之后 之前 之一 其中 其他 其它 已经 就是 不是 只是 还有 没有 可以 能够 应该 需要 一些
    一下 一样 一直 一起 非常 比较 关于 对于 由于 通过 根据 按照 为了
    """
)
