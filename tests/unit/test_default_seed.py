"""One default seed (and size) for the demo dataset: `jdl data generate`, `jdl up`/`jdl demo` and
every deploy/ recipe generate the same dataset unless told otherwise."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from jdl_cli import data_cmd
from jdl_cli.runtime import EmbeddedRuntime
from jdl_core.schema import DEFAULT_PEOPLE, DEFAULT_SEED
from jdl_core.synth import generator

ROOT = Path(__file__).resolve().parents[2]
# where each deploy/ recipe states its default seed
DEPLOY_SEEDS = {
    "deploy/compose/compose.yaml": r"DATASET_SEED: \$\{DATASET_SEED:-(\d+)\}",
    "deploy/compose/.env.example": r"(?m)^DATASET_SEED=(\d+)$",
    "deploy/docker/prepare-national-data.sh": r"\$\{DATASET_SEED:-(\d+)\}",
    "deploy/k8s/jobs/national-dataset/job.yaml": r"name: DATASET_SEED\s+value: \"(\d+)\"",
}


def test_the_python_entry_points_share_the_default():
    params = inspect.signature(data_cmd.generate).parameters
    assert params["seed"].default.default == DEFAULT_SEED
    assert params["people"].default.default == DEFAULT_PEOPLE
    assert (generator.DEFAULT_SEED, generator.DEFAULT_PEOPLE) == (DEFAULT_SEED, DEFAULT_PEOPLE)
    fields = EmbeddedRuntime.__dataclass_fields__
    assert (fields["seed"].default, fields["people"].default) == (DEFAULT_SEED, DEFAULT_PEOPLE)


def test_every_deploy_recipe_states_the_same_default_seed():
    for path, pattern in DEPLOY_SEEDS.items():
        found = re.findall(pattern, (ROOT / path).read_text())
        assert found and {int(s) for s in found} == {DEFAULT_SEED}, f"{path}: {found}"
