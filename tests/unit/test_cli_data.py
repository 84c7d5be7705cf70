"""`jdl data generate` and `jdl data sample-cohort`: outputs, help, and one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jdl_cli.main import app
from jdl_core import schema
from jdl_core.synth.cohort import read_cohort

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["data", *args])


def _one_error_line(result) -> str:
    assert result.exit_code != 0, result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def _looks_complete(root: Path) -> list[Path]:
    return [p for p in root.rglob(schema.MANIFEST_FILE)] + \
        [p for p in root.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("cmd", [[], ["generate"], ["sample-cohort"]])
def test_help_on_every_command(cmd):
    r = _run(*cmd, "--help")
    assert r.exit_code == 0 and "Usage" in r.stdout
    if cmd == ["sample-cohort"]:
        for word in ("higher-risk", "lower-risk", "employment", "custody", "community"):
            assert word in r.stdout


def test_generate_writes_a_dataset_and_prints_a_summary(tmp_path):
    r = _run("generate", "--people", "1500", "--seed", "4", "--out", str(tmp_path / "d"))
    assert r.exit_code == 0, r.stderr
    assert "people 1,500" in r.stdout and "index events" in r.stdout
    assert "overall" in r.stdout and "custody" in r.stdout and "generated in" in r.stdout
    m = json.loads((tmp_path / "d" / schema.MANIFEST_FILE).read_text())
    assert m["seed"] == 4 and m["row_counts"]["people"] == 1500
    # --force replaces it; without it an existing dataset is refused
    line = _one_error_line(_run("generate", "--people", "100", "--out", str(tmp_path / "d")))
    assert "not empty" in line
    r = _run("generate", "--people", "100", "--seed", "5", "--out", str(tmp_path / "d"), "--force")
    assert r.exit_code == 0
    assert json.loads((tmp_path / "d" / schema.MANIFEST_FILE).read_text())["seed"] == 5
    assert m["realism"] == "typical"                      # the default
    r = _run("generate", "--people", "100", "--realism", "hard", "--out", str(tmp_path / "h"))
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "h" / schema.MANIFEST_FILE).read_text())["realism"] == "hard"


@pytest.mark.parametrize("args,expect", [
    (["--people", "0"], "--people"),
    (["--people", "-5"], "--people"),
    (["--people", "lots"], "--people"),
    (["--seed", "-1"], "seed"),
    (["--realism", "messy"], "--realism"),
    (["--out", "{tmp}/missing/parent/out"], "does not exist"),
    (["--out", "{tmp}/afile"], "existing file"),
    (["--out", "/proc/jdl-cannot-write-here"], "/proc"),
    ([], "--out"),
])
def test_generate_nonsense_fails_with_one_line_and_leaves_nothing(tmp_path, args, expect):
    (tmp_path / "afile").write_text("not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args and args:
        args += ["--out", str(tmp_path / "out")]
    line = _one_error_line(_run("generate", *args))
    assert expect in line
    assert not (tmp_path / "out").exists()
    assert _looks_complete(tmp_path) == []


def test_sample_cohort_writes_csv_xlsx_and_truth(tmp_path, national_dir):
    r = _run("sample-cohort", "--data", str(national_dir), "--size", "150", "--setting", "custody",
             "--selection", "higher-risk", "--seed", "3", "--out", str(tmp_path / "c.csv"),
             "--truth", str(tmp_path / "t.csv"))
    assert r.exit_code == 0, r.stderr
    # 150 people, 3 exact and 2 near duplicates (typical realism: 2% and 1%)
    assert "wrote 155 rows" in r.stdout and "150 people" in r.stdout
    assert "realism typical" in r.stdout
    up, truth = read_cohort(tmp_path / "c.csv"), read_cohort(tmp_path / "t.csv")
    assert list(up.columns) == [*schema.UPLOAD_REQUIRED, *schema.UPLOAD_OPTIONAL]
    assert len(up) == len(truth) == 155 and (up["setting"] == "custody").all()
    assert truth["row_number"].astype(int).tolist() == list(range(1, 156))
    r = _run("sample-cohort", "--data", str(national_dir), "--size", "80", "--setting", "community",
             "--realism", "clean", "--out", str(tmp_path / "c.xlsx"))
    assert r.exit_code == 0, r.stderr
    x = read_cohort(tmp_path / "c.xlsx")
    assert len(x) == 80 and (x["setting"] == "community").all() and x["pnc_id"].notna().all()


@pytest.mark.parametrize("args,expect", [
    (["--size", "0"], "--size"),
    (["--size", "-3"], "--size"),
    (["--size", "many"], "--size"),
    (["--size", "99999999"], "size"),
    (["--setting", "prison"], "--setting"),
    (["--selection", "cherry-picked"], "--selection"),
    (["--realism", "messy"], "--realism"),
    (["--out", "{tmp}/exists.csv"], "already exists"),
    (["--out", "{tmp}/nope/c.csv"], "does not exist"),
    (["--out", "{tmp}/c.json"], ".csv or .xlsx"),
    (["--truth", "{tmp}/c.csv"], "different file"),
    (["--data", "{tmp}/no-data"], "does not exist"),
    (["--data", "{tmp}"], "manifest.json"),
])
def test_sample_cohort_nonsense_fails_with_one_line(tmp_path, national_dir, args, expect):
    (tmp_path / "exists.csv").write_text("keep")
    opts = {"--data": str(national_dir), "--size": "100", "--setting": "custody",
            "--out": str(tmp_path / "c.csv")}
    for k, v in zip(args[::2], args[1::2]):
        opts[k] = v.replace("{tmp}", str(tmp_path))
    flat = [x for kv in opts.items() for x in kv]
    line = _one_error_line(_run("sample-cohort", *flat))
    assert expect in line
    assert (tmp_path / "exists.csv").read_text() == "keep"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["exists.csv"]  # nothing written, no temporary files
