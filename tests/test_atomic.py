"""Outputs are written atomically and readable as the user's umask says."""

import os
import stat

import pytest

from e3dnas.atomic import atomic_write_csv, atomic_write_text


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "out" / "summary.json", "{}")
        table = atomic_write_csv(tmp_path / "table.csv", ["a"], [[1]])
    finally:
        os.umask(previous)
    assert stat.S_IMODE(text.stat().st_mode) == mode and stat.S_IMODE(table.stat().st_mode) == mode
    assert text.read_text() == "{}" and table.read_text() == "a\n1\n"
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temp file left behind
