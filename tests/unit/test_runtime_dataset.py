"""The embedded runtime regenerates its own national dataset when it is of an older format (so
`jdl demo` keeps working after a dataset version change) and never touches one given with --data."""
from __future__ import annotations

import json

import pytest

from jdl_cli.runtime import EmbeddedRuntime, default_data_name
from jdl_core import schema
from jdl_core.errors import DataError
from jdl_core.synth.generator import generate_national


def _age(directory, version: str) -> None:
    path = directory / schema.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["dataset_version"] = version
    path.write_text(json.dumps(manifest))


def test_own_dataset_of_an_older_version_is_regenerated(tmp_path):
    own = tmp_path / "var" / "data" / default_data_name(1500)   # where the runtime keeps its own
    own.parent.mkdir(parents=True)
    generate_national(people=1500, seed=3, out_dir=own, realism="clean")
    _age(own, "1.1")
    rt = EmbeddedRuntime(var_dir=tmp_path / "var", people=1500, seed=3, quiet=True)
    rt.prepare()
    manifest = json.loads((own / schema.MANIFEST_FILE).read_text())
    assert manifest["dataset_version"] == schema.DATASET_VERSION
    assert manifest["realism"] == "typical"


def test_a_dataset_given_with_data_is_only_read(tmp_path):
    given = tmp_path / "mine"
    generate_national(people=1500, seed=3, out_dir=given, realism="clean")
    _age(given, "1.1")
    before = (given / schema.MANIFEST_FILE).read_bytes()
    rt = EmbeddedRuntime(var_dir=tmp_path / "var", people=1500, seed=3, data_dir=given, quiet=True)
    with pytest.raises(DataError, match="regenerate it"):
        rt.prepare()
    assert (given / schema.MANIFEST_FILE).read_bytes() == before
