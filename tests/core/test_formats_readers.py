"""Reading import files: containers, numbered errors for malformed input, streaming memory."""

from __future__ import annotations

import io
import json
import tracemalloc

import ijson  # noqa: F401 - imported here so its import is not counted in the memory test
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.core.formats.readers import MAX_FIELD_BYTES, Record, detect_container, iter_records


def _jsonl(*rows) -> bytes:
    return b"".join(
        (row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n" for row in rows
    )


def _read(data: bytes, container: str, **options) -> list[Record]:
    return list(iter_records(io.BytesIO(data), container, **options))


def _errors(records: list[Record]) -> list[tuple[int, str]]:
    return [(r.number, r.error) for r in records if r.error]


def _row(n: int) -> dict:
    return {"instruction": f"Task {n}", "input": "", "output": f"Answer {n}"}


class TestDetectContainer:
    @pytest.mark.parametrize(
        ("name", "head", "expected"),
        [
            ("data.jsonl", b'{"a": 1}\n', "jsonl"),
            ("data.json", b'  [{"a": 1}]', "json"),
            ("data.json", b'{"a": 1}\n{"a": 2}\n', "jsonl"),  # JSON Lines named .json
            ("data.csv", b"instruction,output\n", "csv"),
            ("data.parquet", b"PAR1\x15\x04", "parquet"),
            ("upload", b"PAR1\x15\x04", "parquet"),
            ("upload", b"\xef\xbb\xbf[", "json"),
            ("export.txt", b"instruction,output\n", "csv"),
        ],
    )
    def test_name_and_first_bytes(self, name, head, expected):
        assert detect_container(name, head) == expected


class TestJsonl:
    def test_records_are_numbered_by_line_and_blank_lines_count(self):
        data = _jsonl(_row(1)) + b"\n" + _jsonl(_row(3))
        records = _read(data, "jsonl")
        assert [(r.number, r.data["instruction"]) for r in records] == [
            (1, "Task 1"),
            (3, "Task 3"),
        ]

    def test_bad_json_on_line_57_is_reported_and_other_lines_parse(self):
        lines = [json.dumps(_row(n)).encode() for n in range(1, 101)]
        lines[56] = b'{"instruction": "Task 57", "output": }'
        records = _read(b"\n".join(lines), "jsonl")
        assert len(records) == 100
        [(number, error)] = _errors(records)
        assert number == 57
        assert error.startswith("Line 57: not valid JSON")
        assert [r.data["instruction"] for r in records if r.data][-1] == "Task 100"

    def test_a_row_that_is_not_an_object(self):
        records = _read(_jsonl(_row(1), [1, 2], "text"), "jsonl")
        assert _errors(records) == [
            (2, "Line 2: expected an object, found an array."),
            (3, "Line 3: expected an object, found a string."),
        ]

    def test_invalid_utf8_names_the_line(self):
        data = _jsonl(_row(1), b'{"instruction": "caf\xe9"}', _row(3))
        records = _read(data, "jsonl")
        assert _errors(records) == [(2, "Line 2: not valid UTF-8 (byte 21).")]
        assert records[2].data == _row(3)

    def test_a_field_over_10_mb_fails_its_row_only(self, tmp_path):
        path = tmp_path / "big.jsonl"
        big = {"instruction": "Summarise.", "output": "x" * (MAX_FIELD_BYTES + 1)}
        path.write_bytes(_jsonl(_row(1), big, _row(3)))
        with path.open("rb") as stream:
            records = list(iter_records(stream, "jsonl"))
        [(number, error)] = _errors(records)
        assert number == 2
        assert error == (
            "Line 2: field 'output' has 10,485,761 bytes, over the 10,485,760-byte limit."
        )
        assert records[2].data == _row(3)

    def test_a_nested_field_is_measured_in_utf8_bytes(self):
        row = {"instruction": "x", "instances": [{"input": "", "output": "中" * 40}]}
        [record] = _read(_jsonl(row), "jsonl", max_field_bytes=100)
        assert record.error == (
            "Line 1: field 'instances[0].output' has 120 bytes, over the 100-byte limit."
        )

    def test_an_overlong_line_is_skipped_without_reading_it_whole(self):
        data = _jsonl(_row(1), {"output": "y" * 500}, _row(3))
        records = _read(data, "jsonl", max_field_bytes=100)
        assert _errors(records) == [(2, "Line 2: longer than the 400-byte limit; skipped.")]
        assert records[2] == Record(3, _row(3))

    def test_text_is_kept_exactly(self):
        text = "  line\u2028sep\r\n\tend  \u00e9e\u0301 "
        [record] = _read(b"\xef\xbb\xbf" + _jsonl({"instruction": text}), "jsonl")
        assert record.data == {"instruction": text}

    @pytest.mark.parametrize(
        "line",
        [
            b'{"id": 123456789012345678901234567890}',
            b'{"n": -9223372036854775809, "m": 18446744073709551616}',
            b'{"score": NaN, "top": Infinity, "big": 1e400}',
            b'{"instruction": "half a pair \\ud800 here"}',
            b'{"a": 1, "a": 2, "z": -0.0, "f": 0.30000000000000004}',
            b'{"nested": ' + b"[" * 200 + b"]" * 200 + b"}",
        ],
    )
    def test_every_line_reads_as_the_standard_library_reads_it(self, line):
        """The fast reader must not change a value: big integers, NaN, lone surrogates and
        repeated keys come out exactly as json.loads gives them."""
        [record] = _read(line + b"\n", "jsonl")
        expected = json.loads(line)
        assert record.error is None
        assert json.dumps(record.data, sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert repr(record.data) == repr(expected)


class TestJsonArray:
    def test_elements_are_numbered_from_one(self):
        data = json.dumps([_row(1), _row(2)]).encode()
        assert [(r.number, r.data) for r in _read(data, "json")] == [(1, _row(1)), (2, _row(2))]

    def test_bad_json_stops_at_the_element_it_is_in(self):
        data = b'[{"instruction": "a"}, {"instruction" "b"}, {"instruction": "c"}]'
        records = _read(data, "json")
        assert records[0].data == {"instruction": "a"}
        [(number, error)] = _errors(records)
        assert number == 2
        assert error.startswith("Element 2: parse error")
        assert error.endswith("the rest of the file was not read.")

    def test_invalid_utf8(self):
        records = _read(b'[{"a": "ok"}, {"a": "\xff"}]', "json")
        assert _errors(records) == [
            (2, "Element 2: not valid UTF-8; the rest of the file was not read.")
        ]

    def test_not_an_array(self):
        assert _errors(_read(b'"text"', "json")) == [
            (0, "The file is not a JSON array; for one object per line use JSONL.")
        ]

    def test_non_object_element_and_floats(self):
        records = _read(b'[3, {"score": 2.5}]', "json")
        assert _errors(records) == [(1, "Element 1: expected an object, found a number.")]
        assert records[1].data == {"score": 2.5}


class TestCsv:
    def test_header_is_line_1_and_rows_number_by_their_first_line(self):
        data = b'instruction,output\nSay hi,"Hi\nthere"\nCount,"1, 2"\n'
        records = _read(data, "csv")
        assert [(r.number, r.data) for r in records] == [
            (2, {"instruction": "Say hi", "output": "Hi\nthere"}),
            (4, {"instruction": "Count", "output": "1, 2"}),
        ]

    def test_ragged_row(self):
        data = b"instruction,input,output\na,b,c\nd,e\nf,g,h,i\nj,k,l\n"
        records = _read(data, "csv")
        assert _errors(records) == [
            (3, "Line 3: 2 columns, but the header has 3."),
            (4, "Line 4: 4 columns, but the header has 3."),
        ]
        assert records[-1].data == {"instruction": "j", "input": "k", "output": "l"}

    def test_invalid_utf8_names_the_line(self):
        data = "instruction,output\nCafé,ok\n".encode() + b"caf\xe9,bad\nTea,ok\n"
        records = _read(data, "csv")
        assert _errors(records) == [(3, "Line 3: line 3 is not valid UTF-8 (byte 4).")]
        assert records[-1] == Record(4, {"instruction": "Tea", "output": "ok"})

    def test_a_field_over_the_limit(self):
        data = b"instruction,output\na," + b"x" * 150 + b"\nb,y\n"
        records = _read(data, "csv", max_field_bytes=100)
        assert _errors(records) == [
            (2, "Line 2: field 'output' has 150 bytes, over the 100-byte limit.")
        ]
        assert records[-1] == Record(3, {"instruction": "b", "output": "y"})

    def test_text_is_kept_exactly_with_crlf(self):
        data = b'\xef\xbb\xbfinstruction,output\r\n"  a\r\nb ",c\r\n'
        [record] = _read(data, "csv")
        assert record.data == {"instruction": "  a\r\nb ", "output": "c"}

    def test_repeated_header_names(self):
        assert _errors(_read(b"a,a\n1,2\n", "csv")) == [(1, "Line 1: the header repeats ['a'].")]


class TestParquet:
    def _parquet(self, table: pa.Table) -> bytes:
        out = io.BytesIO()
        pq.write_table(table, out, row_group_size=2)
        return out.getvalue()

    def test_rows_are_numbered_across_row_groups(self):
        rows = [_row(n) for n in range(1, 6)]
        records = _read(self._parquet(pa.Table.from_pylist(rows)), "parquet")
        assert [(r.number, r.data) for r in records] == list(enumerate(rows, 1))

    def test_binary_columns_are_decoded_and_bad_utf8_reported(self):
        table = pa.table({"instruction": pa.array([b"ok", b"\xff"], pa.binary())})
        records = _read(self._parquet(table), "parquet")
        assert records[0].data == {"instruction": "ok"}
        assert _errors(records) == [(2, "Row 2: not valid UTF-8.")]

    def test_not_parquet(self):
        [(number, error)] = _errors(_read(b"PAR1 but not really", "parquet"))
        assert number == 0
        assert error.startswith("The file is not readable as Parquet")


@pytest.mark.parametrize(
    ("content", "container"),
    [(b"", "jsonl"), (b"", "json"), (b"", "csv"), (b"", "parquet"), (b"\n  \n", "jsonl"),
     (b"\n  \n", "json"), (b"\n  \n", "csv")],
)  # fmt: skip
def test_an_empty_file_is_one_error_numbered_0(content, container):
    assert _errors(_read(content, container)) == [(0, "The file is empty: it holds no records.")]


@pytest.mark.parametrize(("content", "container"), [(b"[]", "json"), (b"a,b\n", "csv")])
def test_a_file_without_records_counts_as_empty(content, container):
    assert _errors(_read(content, container)) == [(0, "The file is empty: it holds no records.")]


def test_unknown_container():
    with pytest.raises(ValueError, match="Unknown container"):
        list(iter_records(io.BytesIO(b""), "xml"))


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_a_100000_row_file_streams_in_small_memory(tmp_path, container):
    path = tmp_path / f"large.{container}"
    with path.open("wb") as out:
        out.write(b"[\n" if container == "json" else b"")
        for n in range(100_000):
            row = {"instruction": f"Task {n}: " + "describe " * 10, "output": "answer " * 20}
            separator = b",\n" if container == "json" and n < 99_999 else b"\n"
            out.write(json.dumps(row).encode() + separator)
        out.write(b"]\n" if container == "json" else b"")
    size = path.stat().st_size
    count = 0
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            for record in iter_records(stream, container):
                count += record.data is not None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert size > 20_000_000
    assert peak < size / 50  # a fixed few hundred KB of buffers: one record at a time
