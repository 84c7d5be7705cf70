"""The national data's realism (synth/noise.py): the same index events at every level, nationality,
double-barrelled surnames, surname changes and nicknames as aliases, and unknown levels refused."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jdl_core import schema
from jdl_core.errors import InvalidArgument
from jdl_core.synth import generator as gen
from jdl_core.synth import names, noise

PEOPLE = 30_000


@pytest.fixture(scope="module")
def levels() -> dict[str, gen.GeneratedData]:
    return {level: gen.build_tables(PEOPLE, 11, level) for level in noise.REALISMS}


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def test_every_level_has_the_same_events_and_people(levels):
    clean, typical, hard = (levels[k] for k in noise.REALISMS)
    assert clean.events.equals(typical.events) and clean.events.equals(hard.events)
    for data in (typical, hard):
        assert data.people.schema == gen.arrow_schema(schema.PEOPLE_COLUMNS)
        for col in schema.PEOPLE_COLUMNS:
            if col != "surname":   # double-barrelled surnames are the only change to people
                assert data.people.column(col).equals(clean.people.column(col)), col
    # the generator's own aliases stay, the realism's come on top, ordered by person
    base = _frame(clean.aliases)
    for data in (typical, hard):
        a = _frame(data.aliases)
        assert a["person_key"].is_monotonic_increasing
        assert len(a.merge(base, how="inner")) >= len(base.drop_duplicates())
    assert len(clean.aliases) < len(typical.aliases) < len(hard.aliases)


def test_nationality_is_recorded_as_the_moj_does(levels):
    p = _frame(levels["clean"].people)
    assert set(p["nationality"]) == set(schema.NATIONALITIES)
    share = p["nationality"].value_counts(normalize=True)
    assert 0.07 < share["Foreign national"] < 0.11
    assert 0.01 < share["Not recorded"] < 0.03
    by = p.groupby("ethnicity")["nationality"].apply(lambda s: (s == "Foreign national").mean())
    assert by["Other"] > by["Black"] > by["White"]      # drawn by ethnicity (noise.py)


def test_double_barrelled_surnames_and_their_aliases(levels):
    clean, typical = _frame(levels["clean"].people), _frame(levels["typical"].people)
    r = noise.realism("typical")
    changed = clean["surname"] != typical["surname"]
    assert abs(changed.mean() - r.hyphenated) < 0.003
    halves = typical.loc[changed, "surname"].str.split("-")
    assert (halves.str.len() == 2).all()
    assert all(old in h for old, h in zip(clean.loc[changed, "surname"], halves))
    # about half of them are known by the original one-part name too
    a = _frame(levels["typical"].aliases)
    mine = a[a["person_key"].isin(typical.loc[changed, "person_key"])]
    one_part = mine.merge(clean[["person_key", "surname"]], on=["person_key", "surname"])
    assert abs(one_part["person_key"].nunique() / changed.sum() - r.hyphen_alias) < 0.1


def test_surname_changes_and_nicknames_become_aliases(levels):
    people = _frame(levels["typical"].people).set_index("person_key")
    base = _frame(levels["clean"].aliases)
    a = _frame(levels["typical"].aliases)
    extra = a.merge(base, how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    main = people.loc[extra["person_key"]]
    same_dob = (extra["date_of_birth"].to_numpy() == main["date_of_birth"].to_numpy()).all()
    assert same_dob                                   # a new name, not a new date of birth
    nick = extra["forename"].to_numpy() != main["forename"].to_numpy()
    assert nick.sum() > 0
    assert all(f in names.nicknames(m) for f, m in zip(extra["forename"][nick], main["forename"][nick]))
    new_surname = ~nick & (extra["surname"].to_numpy() != main["surname"].to_numpy())
    women = main["sex"].to_numpy() == "F"
    # surname changes: mostly women (8% of women, 0.5% of men in typical)
    changed_women = new_surname[women].sum() / (people["sex"] == "F").sum()
    changed_men = new_surname[~women].sum() / (people["sex"] == "M").sum()
    assert changed_women > 0.05 and changed_men < 0.03


def test_unknown_realism_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="realism must be one of clean, typical, hard"):
        gen.build_tables(100, 1, "messy")
    with pytest.raises(InvalidArgument, match="realism"):
        gen.generate_national(100, 1, tmp_path / "d", realism="messy")
    assert not (tmp_path / "d").exists()


def test_same_seed_same_mess(levels):
    again = gen.build_tables(PEOPLE, 11, "typical")
    assert again.people.equals(levels["typical"].people)
    assert again.aliases.equals(levels["typical"].aliases)
    other = gen.build_tables(PEOPLE, 12, "typical")
    assert not np.array_equal(other.people.column("surname").to_numpy(),
                              levels["typical"].people.column("surname").to_numpy())
