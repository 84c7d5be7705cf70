"""deploy/docker/prepare-national-data.sh, the job that fills the national-data volume the
services mount read-only: dataset and linkage model land together, a second run is a no-op, a
volume left without its manifest (an interrupted copy) is filled again, and a dataset copied in
without a model keeps its files and gets a model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "docker" / "prepare-national-data.sh"


def prepare(out: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JDL_DATA_DIR=str(out), DATASET_PEOPLE="2000", DATASET_SEED="11",
               TMPDIR=str(tmp), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)


def prepared(tmp_path: Path) -> tuple[Path, Path]:
    out, scratch = tmp_path / "national", tmp_path / "tmp"
    out.mkdir()
    scratch.mkdir()
    first = prepare(out, scratch)
    assert first.returncode == 0, first.stderr
    return out, scratch


def test_fills_the_volume_once(tmp_path):
    from jdl_core.linkage import load_linkage_model
    from jdl_core.national import load_national

    out, scratch = prepared(tmp_path)
    assert (out / "manifest.json").is_file() and (out / "linkage_model.json").is_file()
    # the model was trained on exactly these files: a read-only worker never has to retrain
    load_linkage_model(load_national(out), train_if_missing=False)
    assert list(scratch.iterdir()) == [], "scratch space left behind"

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = prepare(out, scratch)
    assert again.returncode == 0 and "kept" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.slow   # a second dataset generation and model training
def test_an_interrupted_fill_is_done_again(tmp_path):
    from jdl_core.linkage import load_linkage_model
    from jdl_core.national import load_national

    out, scratch = prepared(tmp_path)
    (out / "manifest.json").unlink()          # as if the copy had been interrupted
    refill = prepare(out, scratch)
    assert refill.returncode == 0, refill.stderr
    assert "ready in" in refill.stdout
    load_linkage_model(load_national(out), train_if_missing=False)


@pytest.mark.slow   # trains the linkage model a second time
def test_a_dataset_without_a_model_is_kept_and_gets_one(tmp_path):
    from jdl_core.linkage import load_linkage_model
    from jdl_core.national import load_national

    out, scratch = prepared(tmp_path)
    (out / "linkage_model.json").unlink()     # e.g. a national extract copied in by hand
    data = {p.name: p.read_bytes() for p in out.iterdir()}
    result = prepare(out, scratch)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "linkage_model.json"} == data
    load_linkage_model(load_national(out), train_if_missing=False)
