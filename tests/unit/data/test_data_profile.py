"""Profiles: what they keep, and their JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pathtolive.data.profile import Profile
from pathtolive.data.profiling import profile_frame
from pathtolive.errors import NotFoundError


def test_a_profile_stored_before_equal_mass_bins_still_loads() -> None:
    profile = profile_frame(pd.DataFrame({"x": np.arange(100.0)}))
    stored = profile.to_dict()
    for column in stored["columns"]:
        del column["numeric"]["mass_cuts"], column["numeric"]["mass_counts"]

    loaded = Profile.from_dict(stored).column("x").numeric

    assert loaded is not None
    assert (loaded.mass_cuts, loaded.mass_counts) == ((), ())
    assert loaded.bin_counts == profile.column("x").numeric.bin_counts  # type: ignore[union-attr]


def test_profiles_round_trip_through_json(loans: pd.DataFrame) -> None:
    profile = profile_frame(loans, tags={"loan_id": ["id"]})

    text = json.dumps(profile.to_dict(), allow_nan=False)

    assert Profile.from_dict(json.loads(text)) == profile
    assert profile.names == tuple(loans.columns)


def test_an_unknown_column_is_not_found(loans: pd.DataFrame) -> None:
    with pytest.raises(NotFoundError, match="no column 'nope' in this profile"):
        profile_frame(loans).column("nope")
