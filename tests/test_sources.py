"""Citations a user can follow: no file of the project cites the development team's private
notes (a path under the shared reference folder) or a path of the development machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = ("shared/" + "reference", "/work/" + "shared", "/work/" + "main")


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / line for line in out.splitlines() if line]


def test_no_file_cites_private_notes_or_machine_paths() -> None:
    offenders = []
    for path in tracked_files():
        if path.suffix in {".png", ".parquet", ".npz"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {p}" for p in PRIVATE if p in text]
    assert not offenders, offenders
