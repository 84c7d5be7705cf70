"""National data shared between processes: memory-mapped columns (jdl_core.mapped), the dataset
loaded over them, and the prepared linkage side mapped from beside the data."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jdl_core import national as national_mod
from jdl_core import schema
from jdl_core.errors import DataError
from jdl_core.linkage._national import IdentifierIndex, clear_cache, prepared_national
from jdl_core.mapped import building, map_frame, write_frame
from jdl_core.national import NationalData, load_national, pandas_dtypes, shared_dir
from jdl_core.synth.generator import generate_national


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "flag": np.array([True, False, True]),
        "small": np.array([1, -2, 3], dtype=np.int16),
        "ratio": np.array([0.5, 1.5, np.nan], dtype=np.float32),
        "outcome": pd.array([1, None, 0], dtype="Int8"),
        "when": pd.to_datetime(["2001-02-03", None, "2010-12-31"]).astype("datetime64[ns]"),
        "day": pd.to_datetime(["2001-02-03", "1999-01-01", None]).astype("datetime64[s]"),
        "name": pd.array(["Ann", None, "Bó"], dtype="string"),
    })


def _mapped_files() -> set[str]:
    return {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
            if line.endswith(".arrow")}


def test_frame_round_trip_keeps_values_and_dtypes_and_maps_read_only(tmp_path):
    frame = _frame()
    write_frame(tmp_path / "f", ((c, lambda c=c: frame[c]) for c in frame.columns))
    back = map_frame(tmp_path / "f")
    pd.testing.assert_frame_equal(back, frame)
    # the columns are views of the files, not copies, and nobody can write through them
    assert {str(tmp_path / "f" / f"{i}.arrow") for i in range(len(frame.columns))} <= _mapped_files()
    with pytest.raises(ValueError, match="read-only"):
        back["small"].to_numpy()[0] = 9
    assert back["small"].iloc[0] == 1


def test_unsupported_dtype_is_named(tmp_path):
    odd = pd.Series([{"a": 1}], dtype=object)
    with pytest.raises(DataError, match="'odd' has dtype object"):
        write_frame(tmp_path / "f", [("odd", lambda: odd)])


def test_building_first_rename_wins_and_failures_leave_nothing(tmp_path):
    target = tmp_path / "t"
    with building(target) as tmp:
        (tmp / "a").write_text("first")
    with building(target) as tmp:
        assert tmp is None   # already there: nothing to build
    with pytest.raises(RuntimeError):
        with building(tmp_path / "u") as tmp:
            (tmp / "a").write_text("half")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert (target / "a").read_text() == "first"


def test_national_columns_are_mapped_from_beside_the_data(tmp_path):
    generate_national(600, 3, tmp_path / "d")
    first = load_national(tmp_path / "d")
    shared = shared_dir(tmp_path / "d")
    assert shared.is_dir() and shared.name.startswith(".shared-")
    again = load_national(tmp_path / "d")      # maps what the first load wrote
    for key, columns in (("people", schema.PEOPLE_COLUMNS), ("aliases", schema.ALIAS_COLUMNS),
                         ("events", schema.EVENT_COLUMNS)):
        frame = getattr(again, key)
        assert {c: str(t) for c, t in frame.dtypes.items()} == pandas_dtypes(columns)
        pd.testing.assert_frame_equal(frame, getattr(first, key))
    assert any(f.startswith(str(shared / "events")) for f in _mapped_files())


def test_read_only_dataset_directory_gives_a_private_copy(tmp_path, monkeypatch):
    generate_national(400, 4, tmp_path / "d")
    shared = load_national(tmp_path / "d")
    other = tmp_path / "ro"
    other.mkdir()
    for f in (tmp_path / "d").iterdir():
        if f.is_file():
            (other / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(national_mod.os, "access", lambda *a: False)
    private = load_national(other)
    assert not any(p.name.startswith(".shared-") for p in other.iterdir())
    pd.testing.assert_frame_equal(private.events, shared.events)
    pd.testing.assert_frame_equal(private.people, shared.people)


def test_identifier_index_finds_unique_identifiers_only():
    ids = pd.Series(["2001/0000001A", "2001/0000002B", "2001/0000002B", None, "2003/0000003C",
                     "2003/0000003C"], dtype="string")
    keys = np.array([10, 11, 12, 13, 14, 14])
    index = IdentifierIndex.build(ids, keys)
    looked_up = pd.Series(["2001/0000001A", "2001/0000002B", "2003/0000003C", "1999/0000009Z",
                           None, "2001/0000001AX", "2001/00000é1A"]).map(index)
    # held by two people -> not usable; held twice by one person -> that person
    assert looked_up.iloc[0] == 10 and looked_up.iloc[2] == 14
    assert all(math.isnan(v) for v in looked_up.iloc[[1, 3, 4, 5, 6]])


def test_prepared_linkage_side_is_written_once_and_mapped(tmp_path):
    generate_national(600, 5, tmp_path / "d")
    clear_cache()
    nat = load_national(tmp_path / "d")
    prepared = prepared_national(nat)
    written = [p for p in shared_dir(tmp_path / "d").iterdir() if p.name.startswith("linkage-")]
    assert len(written) == 1
    clear_cache()
    again = prepared_national(load_national(tmp_path / "d"))
    pd.testing.assert_frame_equal(again.records, prepared.records)
    assert isinstance(again.person_of_record, np.memmap)
    pnc = nat.people["pnc_id"].iloc[7]
    assert again.pnc_to_person(pnc) == nat.people["person_key"].iloc[7]
    # frames built by hand with the same path may hold other rows: derived privately from them
    clear_cache()
    renamed = nat.people.assign(surname="Zz")
    hand = NationalData(renamed, nat.aliases, nat.events, nat.manifest, nat.path)
    own = prepared_national(hand)
    assert not isinstance(own.person_of_record, np.memmap)
    assert (own.records["surname"].iloc[:len(renamed)] == "ZZ").all()
    clear_cache()
