"""models.stability.files: the one atomic text write of reports, lab results and caches."""

from __future__ import annotations

import os

import pytest

from models.stability.files import read_text, write_text


def test_write_text_creates_directories_and_round_trips(tmp_path):
    path = str(tmp_path / "a" / "b" / "report.json")
    write_text(path, "héllo")
    assert read_text(path) == "héllo"


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "report.json")
    write_text(path, "old")

    class Unwritable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text(path, Unwritable())  # type: ignore[arg-type]
    assert read_text(path) == "old"
    assert os.listdir(tmp_path) == ["report.json"]
