"""Output folders are whole or absent (experiments/outputs.py)."""

from __future__ import annotations

import pytest

from experiments.outputs import OutputError, check_out_dir, staged_output


def test_check_refuses_a_file_and_a_path_under_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_out_dir(f)
    with pytest.raises(OutputError, match="is a file"):
        check_out_dir(f / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_check_refuses_an_unwritable_place(tmp_path):
    with pytest.raises(OutputError, match="cannot write"):
        check_out_dir("/proc/fargate-lab-out")


def test_failure_leaves_no_folder_and_no_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), staged_output(target) as tmp:
        (tmp / "metrics.parquet").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_keeps_the_previous_contents(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "summary.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), staged_output(target) as tmp:
        (tmp / "summary.json").write_text("new")
        raise KeyboardInterrupt
    assert (target / "summary.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_success_replaces_same_names_and_keeps_others(tmp_path):
    target = tmp_path / "out"
    (target / "run").mkdir(parents=True)
    (target / "run" / "stale.parquet").write_text("old")
    (target / "notes.txt").write_text("mine")
    with staged_output(target) as tmp:
        (tmp / "run").mkdir()
        (tmp / "run" / "metrics.parquet").write_text("new")
    assert sorted(p.name for p in (target / "run").iterdir()) == ["metrics.parquet"]
    assert (target / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file_keeps_the_previous_file_when_the_writer_fails(tmp_path):
    from experiments.outputs import atomic_file, write_text_atomic

    target = tmp_path / "report.md"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".md" and tmp.name.startswith(".")
        tmp.write_text("half of the n")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
