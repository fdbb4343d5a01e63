# ruff: noqa: E501 -- hand-written phrases read better on one line each
"""Writes ``conversations.sharegpt.jsonl``: ShareGPT conversations in English and Chinese for the
import tests, from the hand-written exchanges below, and a few malformed rows.

Deterministic: the same file on every run (``python tests/data/make_conversations.py``), and
``tests/test_import_conversations_file.py`` checks that the committed file is what this writes.
Each conversation takes one to six exchanges of one topic in one language (2 to 12 turns), a
system prompt on most (as a top-level ``system`` field or a leading ``system`` turn), and speaks
as ``human``/``gpt`` or ``user``/``assistant``. A few end on the user's turn (imported with an
empty last reply) or carry ``tools`` definitions they never call (left out, with a warning).
``MALFORMED`` maps each malformed row's line to the problems the import reports for it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PATH = Path(__file__).with_name("conversations.sharegpt.jsonl")
CONVERSATIONS = 210  # well-formed rows; the malformed ones come in between

# topic -> language -> exchanges (user, assistant) that read well in any order.
EXCHANGES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "cooking": {
        "en": [
            (
                "How long should I boil an egg for a runny yolk?",
                "About six minutes from when the water is boiling, then cool it in cold water.",
            ),
            (
                "Can I use butter instead of oil in a cake?",
                "Yes. Use the same amount of melted butter; the cake will taste richer.",
            ),
            (
                "Why does my rice turn out sticky?",
                "Rinse it until the water runs clear and use a little less water next time.",
            ),
            (
                "What can I cook with leftover bread?",
                "Bread pudding, croutons, or French toast all use up day-old bread.",
            ),
            (
                "How do I keep herbs fresh longer?",
                "Stand soft herbs in a glass of water in the fridge, like flowers.",
            ),
            (
                "Is it safe to refreeze thawed chicken?",
                "Only if it thawed in the fridge and has not been left out.",
            ),
            (
                "What is a quick sauce for pasta?",
                "Garlic fried in olive oil with chilli flakes and a spoon of the pasta water.",
            ),
            (
                "How do I stop onions making me cry?",
                "Chill the onion first and use a sharp knife; it releases less of the irritant.",
            ),
        ],
        "zh": [
            ("煮鸡蛋要煮多久才能让蛋黄是溏心的？", "水开后煮六分钟左右，然后放进冷水里冷却。"),
            ("做蛋糕可以用黄油代替植物油吗？", "可以，用同样分量的融化黄油，味道会更香浓。"),
            ("米饭为什么总是煮得太黏？", "淘米时多洗几遍，下次少放一点水。"),
            ("剩下的馒头可以做什么？", "可以切片煎成馒头片，或者做成炒馒头丁。"),
            ("怎样让青菜炒出来更绿？", "大火快炒，出锅前再放盐，颜色会保持得更好。"),
            ("解冻后的鸡肉还能再冷冻吗？", "如果是在冰箱里解冻、没有放在室温下，可以再冷冻。"),
            ("红烧肉怎么做才不油腻？", "先焯水去掉浮沫，再把肥肉煸出油，最后把多余的油倒掉。"),
            ("包饺子的面怎么和？", "用温水慢慢加入面粉，揉成光滑的面团后盖上湿布醒半小时。"),
        ],
    },
    "travel": {
        "en": [
            (
                "What should I pack for a week in Iceland in spring?",
                "Layers, a waterproof jacket, good walking boots and a swimsuit for the hot pools.",
            ),
            (
                "Is it better to take the train or fly from Paris to Lyon?",
                "The train: about two hours city centre to city centre, with no airport security.",
            ),
            (
                "How early should I arrive for an international flight?",
                "Three hours before departure is a safe rule at most large airports.",
            ),
            (
                "Do I need cash in Sweden?",
                "Rarely. Cards and phone payments are accepted almost everywhere.",
            ),
            (
                "What is a good first day in Rome?",
                "The Colosseum in the morning, lunch in Monti, and the Pantheon at sunset.",
            ),
            (
                "How can I avoid jet lag?",
                "Shift your sleep an hour a day before the trip and get daylight when you land.",
            ),
            (
                "Which travel insurance covers hiking?",
                "Look for a policy that names hiking up to the altitude you plan to reach.",
            ),
            ("Can I drink tap water in Japan?", "Yes, tap water in Japan is safe to drink."),
        ],
        "zh": [
            (
                "春天去云南旅游要带什么衣服？",
                "早晚温差大，带一件外套和防晒衣，再准备一双好走的鞋。",
            ),
            (
                "从北京到上海坐高铁还是坐飞机好？",
                "高铁四个多小时，市中心到市中心，很多人觉得更方便。",
            ),
            (
                "去西藏之前要怎么预防高原反应？",
                "出发前休息好，到了以后先慢慢适应，多喝水，不要剧烈运动。",
            ),
            ("在日本坐地铁要买什么卡？", "可以买一张交通卡，地铁和便利店都能用。"),
            ("第一次去杭州应该去哪里？", "先去西湖边走走，再去灵隐寺，晚上可以逛河坊街。"),
            ("出国旅行需要换很多现金吗？", "现在大多数地方都能刷卡，换少量现金备用就够了。"),
            ("怎样才能买到便宜的机票？", "提前几周订票，避开节假日，多比较几个网站的价格。"),
            ("旅行时护照丢了怎么办？", "先去当地警察局报案，再联系中国驻当地的使领馆补办旅行证。"),
        ],
    },
    "maths": {
        "en": [
            ("What is 15% of 80?", "15% of 80 is 12, because 0.15 × 80 = 12."),
            ("How do I add 1/3 and 1/4?", "Use a common denominator of 12: 4/12 + 3/12 = 7/12."),
            (
                "Why is any number to the power of zero equal to one?",
                "Dividing a power by itself subtracts the exponents: a^n / a^n = a^0, and that is 1.",
            ),
            ("Solve 2x + 6 = 14.", "Subtract 6 to get 2x = 8, then divide by 2: x = 4."),
            (
                "What is the area of a circle with radius 3?",
                "Area = πr², so π × 9, about 28.27 square units.",
            ),
            ("Is 91 a prime number?", "No: 91 = 7 × 13."),
            (
                "How do I find the mean of 4, 8 and 9?",
                "Add them to get 21 and divide by 3: the mean is 7.",
            ),
            (
                "What does the slope of a line mean?",
                "How much y changes when x goes up by one: rise over run.",
            ),
        ],
        "zh": [
            ("八十的百分之十五是多少？", "是十二，因为 0.15 × 80 = 12。"),
            ("三分之一加四分之一等于多少？", "通分成十二分之四加十二分之三，等于十二分之七。"),
            ("解方程 2x + 6 = 14。", "两边减六得到 2x = 8，再除以二，x = 4。"),
            ("半径是三的圆面积是多少？", "面积等于 πr²，也就是 9π，大约 28.27。"),
            ("91 是质数吗？", "不是，91 等于 7 乘以 13。"),
            ("什么是直角三角形的勾股定理？", "两条直角边的平方和等于斜边的平方：a² + b² = c²。"),
            ("怎么求 4、8、9 的平均数？", "先相加得到 21，再除以 3，平均数是 7。"),
            ("负数乘负数为什么是正数？", "可以把乘以负数看成方向反转，反转两次就回到了正方向。"),
        ],
    },
    "programming": {
        "en": [
            (
                "How do I reverse a list in Python?",
                "Use `items.reverse()` to reverse it in place, or `items[::-1]` for a reversed copy.",
            ),
            (
                "What does `git rebase` do?",
                "It replays your commits on top of another branch, giving a straight history.",
            ),
            (
                "Why does my loop never end?",
                "Check that the loop variable changes on every pass and that the condition can fail.",
            ),
            (
                "How do I read a file line by line in Python?",
                "Open it with `with open(path) as f:` and loop `for line in f:`.",
            ),
            (
                "What is the difference between a list and a tuple?",
                "A list can be changed after it is made; a tuple cannot.",
            ),
            (
                "How do I undo my last commit but keep the changes?",
                "Run `git reset --soft HEAD~1`; the changes stay staged.",
            ),
            (
                "What does a 404 status code mean?",
                "The server could not find the page or resource that was asked for.",
            ),
            (
                "How can I format a date as YYYY-MM-DD in JavaScript?",
                "`date.toISOString().slice(0, 10)` gives it in UTC.",
            ),
        ],
        "zh": [
            (
                "Python 里怎么把列表倒过来？",
                "用 `items.reverse()` 原地反转，或者用 `items[::-1]` 得到一个新列表。",
            ),
            (
                "git 里怎么撤销最后一次提交但保留修改？",
                "运行 `git reset --soft HEAD~1`，修改会保留在暂存区。",
            ),
            (
                "为什么我的循环停不下来？",
                "检查循环变量每次是否都有变化，以及条件是否有可能变为假。",
            ),
            ("什么是递归？", "函数调用它自己，每次处理更小的问题，直到遇到终止条件。"),
            ("SQL 里怎么去掉重复的行？", "在 SELECT 后面加 DISTINCT，或者用 GROUP BY。"),
            ("HTTP 状态码 500 是什么意思？", "服务器内部出错了，问题通常在服务端的代码或配置。"),
            (
                "怎么在 Python 里读取 JSON 文件？",
                "用 `json.load(f)`，其中 f 是用 open 打开的文件。",
            ),
            ("变量名应该怎么取？", "用能说明用途的名字，比如 user_count，而不是 a 或 tmp。"),
        ],
    },
    "support": {
        "en": [
            (
                "My order hasn't arrived yet. What can I do?",
                "I'm sorry about the wait. Could you share your order number so I can check it?",
            ),
            (
                "The order number is 48213.",
                "Thank you. It left our warehouse yesterday and should arrive within two days.",
            ),
            (
                "How do I reset my password?",
                "Click “Forgot password” on the sign-in page and follow the link in the email.",
            ),
            (
                "Can I change the delivery address?",
                "Yes, as long as the parcel has not shipped. Tell me the new address.",
            ),
            (
                "I was charged twice for one purchase.",
                "I'm sorry. I have flagged the second charge; it will be refunded in 3–5 days.",
            ),
            (
                "How do I cancel my subscription?",
                "Go to Account → Subscription and choose “Cancel”; it runs to the end of the month.",
            ),
            ("Do you ship to Canada?", "Yes, we ship to Canada; delivery takes 5 to 8 days."),
            (
                "The item arrived broken.",
                "I'm sorry to hear that. Please send a photo and we will send a replacement.",
            ),
        ],
        "zh": [
            ("我的订单还没到，怎么办？", "很抱歉让您久等了，请提供一下订单号，我帮您查询。"),
            ("订单号是 48213。", "谢谢，包裹昨天已经从仓库发出，预计两天内送达。"),
            ("怎么修改密码？", "在登录页点击“忘记密码”，然后按照邮件里的链接操作。"),
            ("可以修改收货地址吗？", "只要包裹还没有发出就可以，请告诉我新的地址。"),
            ("我被重复扣款了。", "非常抱歉，我已经提交了退款申请，三到五个工作日内会退回。"),
            ("怎么取消会员自动续费？", "在“我的账户”里找到“会员”，关闭自动续费即可。"),
            ("收到的商品是坏的。", "很抱歉，请拍一张照片发给我们，我们会尽快给您补发。"),
            ("发票什么时候能开？", "订单完成后可以在订单详情页申请电子发票。"),
        ],
    },
    "gardening": {
        "en": [
            ("When should I plant tomatoes?", "After the last frost, when the soil has warmed up."),
            (
                "Why are my basil leaves turning yellow?",
                "Usually too much water; let the top of the soil dry between waterings.",
            ),
            (
                "How often should I water a cactus?",
                "Every two to three weeks in summer and hardly at all in winter.",
            ),
            ("What grows well in shade?", "Ferns, hostas and mint all cope well with shade."),
            (
                "How do I make compost?",
                "Mix green scraps with dry leaves or cardboard, keep it damp and turn it now and then.",
            ),
            (
                "Should I prune roses in autumn?",
                "Light pruning is fine; the main pruning is best in late winter.",
            ),
        ],
        "zh": [
            ("西红柿什么时候种比较好？", "等最后一次霜冻过去、土壤变暖以后再种。"),
            ("为什么罗勒的叶子发黄？", "多半是浇水太多，等表层土干了再浇。"),
            ("仙人掌多久浇一次水？", "夏天两三周浇一次，冬天几乎不用浇。"),
            ("阳台背阴能种什么？", "绿萝、吊兰和薄荷都比较耐阴。"),
            ("怎么自己做堆肥？", "把厨余和枯叶混在一起，保持湿润，隔一段时间翻一翻。"),
            ("多肉植物为什么会徒长？", "通常是光照不足，把它移到更亮的地方。"),
        ],
    },
}

SYSTEM_PROMPTS = {
    "en": [
        "You are a helpful assistant.",
        "You are a friendly expert. Keep answers short and practical.",
        "Answer clearly, in plain English, as a patient teacher would.",
    ],
    "zh": [
        "你是一个乐于助人的助手。",
        "你是一位耐心的老师，请用简洁的中文回答。",
        "请用友好、简短的语气回答用户的问题。",
    ],
}
SPELLINGS = [("human", "gpt"), ("user", "assistant")]
TOOLS = json.dumps([{"name": "get_weather", "description": "Weather for a city."}])

# Malformed rows, put at these lines, and what the import says about each.
MALFORMED_ROWS: dict[int, tuple[dict, list[str]]] = {
    7: (
        {
            "conversations": [
                {"from": "human", "value": "What's the weather in Oslo?"},
                {"from": "function_call", "value": '{"name": "get_weather", "city": "Oslo"}'},
                {"from": "observation", "value": '{"temp": 3}'},
                {"from": "gpt", "value": "It is 3 °C in Oslo."},
            ],
            "tools": TOOLS,
        },
        [
            "conversations[1] has the role 'function_call'; tool calls cannot be imported",
            "conversations[2] has the role 'observation'; tool calls cannot be imported",
        ],
    ),
    31: (
        {
            "conversations": [
                {"from": "human", "value": "<image>这张照片里是什么菜？"},
                {"from": "gpt", "value": "看起来是一盘宫保鸡丁。"},
            ],
            "images": ["dish.jpg"],
        },
        [
            "the row has 'images'; images, audio and video cannot be imported",
            "conversations[0] holds an image, audio or video tag; images, audio and video "
            "cannot be imported",
        ],
    ),
    58: (
        {
            "conversations": [
                {"from": "human", "value": "Tell me a story."},
                {"from": "narrator", "value": "Once upon a time..."},
            ]
        },
        ["conversations[1] has the unknown role 'narrator'"],
    ),
    99: (
        {
            "system": "你是一个乐于助人的助手。",
            "conversations": [
                {"from": "human", "value": "你好！"},
                {"from": "human", "value": "在吗？"},
                {"from": "gpt", "value": "在的，请问有什么可以帮您？"},
            ],
        },
        ["conversations[1] is a second user turn in a row; user and assistant alternate"],
    ),
    140: (
        {
            "conversations": [
                {"from": "user", "value": "How do I boil pasta?"},
                {"from": "assistant", "value": "   "},
                {"from": "user", "value": "Hello?"},
                {"from": "assistant", "value": "Sorry! Salt the water and boil for ten minutes."},
            ]
        },
        ["conversations[1] is an empty assistant turn"],
    ),
    177: (
        {
            "conversations": [
                {"from": "human", "value": "What is 6 times 7?"},
                {"from": "gpt", "value": 42},
            ]
        },
        ["'conversations[1].value' must be a string"],
    ),
    200: (
        {
            "conversations": [
                {"from": "gpt", "value": "Hello! How can I help?"},
                {"from": "human", "value": "Where is my parcel?"},
            ]
        },
        ["conversations[0]: a conversation starts with a user turn, not the assistant"],
    ),
}
MALFORMED = {line: reasons for line, (_row, reasons) in MALFORMED_ROWS.items()}


def conversation(rng: random.Random, number: int) -> dict:
    """One well-formed conversation; ``number`` varies its shape so every kind appears."""
    topic = rng.choice(sorted(EXCHANGES))
    language = "zh" if number % 2 else "en"
    pool = EXCHANGES[topic][language]
    exchanges = rng.sample(pool, min(1 + number % 6, len(pool)))
    user, reply = SPELLINGS[number % 3 == 0]
    turns = []
    for question, answer in exchanges:
        turns += [{"from": user, "value": question}, {"from": reply, "value": answer}]
    if number % 17 == 5:
        turns.pop()  # ends on the user's turn: the reply is still to be written
    row: dict = {"id": f"conv-{number:03d}"}
    system = rng.choice(SYSTEM_PROMPTS[language]) if number % 4 else None
    if system and number % 3 == 1:
        turns.insert(0, {"from": "system", "value": system})  # a system turn in the list
    elif system:
        row["system"] = system  # LLaMA-Factory's top-level field
    row["conversations"] = turns
    if number % 23 == 11:
        row["tools"] = TOOLS  # defined but never called
    return row


def key(row: dict) -> str:
    """What the imported item holds: the system prompt and the turns' text (the spelling of
    the roles and where the system prompt stood do not count)."""
    turns = row["conversations"]
    system = row.get("system") or next((t["value"] for t in turns if t["from"] == "system"), "")
    texts = [t["value"] for t in turns if t["from"] != "system"]
    return json.dumps([system, texts], ensure_ascii=False)


def rows() -> list[dict]:
    rng = random.Random(17)
    made: list[dict] = []
    seen: set[str] = set()
    number = 0
    while len(made) < CONVERSATIONS:
        row = conversation(rng, number)
        number += 1
        if key(row) not in seen:  # a repeated conversation would be skipped as a duplicate
            seen.add(key(row))
            made.append(row)
    for line in sorted(MALFORMED_ROWS):
        made.insert(line - 1, {"id": f"bad-{line}", **MALFORMED_ROWS[line][0]})
    return made


def text() -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows())


if __name__ == "__main__":
    PATH.write_text(text(), encoding="utf-8")
    print(f"wrote {PATH} ({len(rows())} rows)")
