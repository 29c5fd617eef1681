"""The fuzz tier's budget: hypothesis profiles.

`ci` (the default) keeps the whole tier within a couple of minutes on the 2-core machine;
`HYPOTHESIS_PROFILE=deep` runs many more examples for a hunt. Failures print the example and
the `@reproduce_failure` blob; the database under .hypothesis/ replays them first next time.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
           "print_blob": True}
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
