"""Atomic writes: a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from screening.atomic import atomic_path, write_text_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_write_creates_parent_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    write_text_atomic(target, "v1")
    write_text_atomic(target, "v2 – ünïcode", fsync=True)
    assert target.read_text(encoding="utf-8") == "v2 – ünïcode"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_written_files_get_umask_permissions_not_private(tmp_path: Path) -> None:
    """Results on shared HPC storage stay readable by the group (mkstemp would give 0600)."""
    import os

    old = os.umask(0o022)
    try:
        target = write_text_atomic(tmp_path / "ranking.json", "{}")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
