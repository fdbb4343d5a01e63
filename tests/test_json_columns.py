"""JSON columns are read with orjson, and with the standard library for what orjson refuses
but ``json.dumps`` writes: NaN and integers beyond 64 bits."""

from __future__ import annotations

import math

from app.db import _from_json
from app.models import BackgroundTask


def test_what_orjson_refuses_is_still_read():
    assert math.isnan(_from_json('{"loss": NaN}')["loss"])
    assert _from_json(str(2**70)) == 2**70
    assert _from_json(b'{"a": [1, "\\u4e2d"]}') == {"a": [1, "中"]}


def test_a_json_column_round_trips(db_session):
    value = {"big": 2**70, "text": "中文 ✓", "nested": [{"x": None, "y": 1.5}]}
    task = BackgroundTask(kind="freeze", result=value)
    db_session.add(task)
    db_session.flush()
    db_session.expire_all()
    assert db_session.get(BackgroundTask, task.id).result == value
