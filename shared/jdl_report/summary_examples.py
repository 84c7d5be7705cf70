"""Synthetic published catalogue entries for summary tests, the benchmark and demonstrations:
plausible rates and intervals from a fixed seed (no analysis is run; figures are invented)."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from .catalogue import CatalogueEntry

ORGS = ["Second Chances Trust", "Women's Turnaround Project", "New Leaf Mentoring", "Open Door Housing",
        "Fresh Start Employment", "Bridge Recovery Network", "Northern Lights Arts", "Safe Ground"]
PROGRAMMES = ["Through-the-gate mentoring", "Community mentoring", "Employment support", "Housing advice",
              "Family ties", "Arts in prison"]


def example_entries(n: int, *, start: datetime = datetime(2026, 10, 8, 9, 30, tzinfo=timezone.utc),
                    days: int = 80, seed: int = 7) -> list[CatalogueEntry]:
    """``n`` entries published between ``start`` and ``start + days``. About a third are
    significant; names repeat (several programmes per organisation) as in real catalogues."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        n_t = int(math.exp(rnd.uniform(math.log(60), math.log(2500))))
        n_c = n_t * rnd.randint(5, 40)
        rate_c = rnd.uniform(25, 60)
        effect = rnd.choice([0.0, 0.0, -6.0, 5.0]) + rnd.gauss(0, 3)
        rate_t = min(max(rate_c + effect, 1.0), 95.0)
        diff = rate_t - rate_c
        half = 1.96 * 100 * math.sqrt((rate_t / 100) * (1 - rate_t / 100) / n_t
                                      + (rate_c / 100) * (1 - rate_c / 100) / n_c)
        lo, hi = diff - half, diff + half
        sig = lo > 0 or hi < 0
        z = abs(diff) / (half / 1.96)
        p = math.erfc(z / math.sqrt(2))
        verdict = ("Significant reduction" if hi < 0 else "Significant increase" if lo > 0
                   else "Not significant")
        out.append(CatalogueEntry(
            submission_id=f"sub-{i:020x}", organisation=ORGS[i % len(ORGS)],
            programme=PROGRAMMES[(i // len(ORGS)) % len(PROGRAMMES)],
            setting="custody" if i % 3 else "community",
            published_at=start + timedelta(days=rnd.uniform(0, days)), n_treated=n_t, n_comparison=n_c,
            rate_treated=rate_t, rate_comparison=rate_c, rate_difference=diff, ci_low=lo, ci_high=hi,
            p_value=p, significant=sig, verdict=verdict,
            links={"html": f"/v1/reports/sub-{i:020x}?format=html"}))
    return out
