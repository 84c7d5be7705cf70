"""Nearest-neighbour matching on a one-dimensional distance within exact strata (MatchIt "nearest").

Rules follow MatchIt's ``nn_matchC_vec``: a comparison record is within the caliper when
``|d_t - d_c| <= caliper``; of the nearest available record on each side the left (smaller
distance) wins a tie; k:1 matching fills the first match of every treated unit, then the second,
and so on (rounds), which only matters without replacement. With replacement every treated unit
simply gets its k nearest distinct records. Ties between equal distances are broken by the
caller's row order, which is canonical (by event id), so results do not depend on input order.

Cost: sorting the comparison distances once per stratum, then a binary search per treated unit:
O((n_c + n_t) log n_c) rather than O(n_t * n_c).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairs:
    """Matched pairs as parallel arrays of positions into the treated and comparison arrays."""

    treated: np.ndarray   # int64 positions of treated units
    control: np.ndarray   # int64 positions of comparison records
    rank: np.ndarray      # 0 for the nearest match of a treated unit, 1 for the next...


def _order_treated(dt: np.ndarray, m_order: str) -> np.ndarray:
    if m_order == "largest":
        return np.argsort(-dt, kind="stable")
    if m_order == "smallest":
        return np.argsort(dt, kind="stable")
    return np.arange(len(dt))


def _with_replacement(dt: np.ndarray, ds: np.ndarray, k: int,
                      caliper: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k nearest of the sorted distances ``ds`` for every ``dt``: (treated pos, sorted pos, rank)."""
    nc = len(ds)
    pos = np.searchsorted(ds, dt, side="left")
    steps = np.arange(k)
    cand = np.concatenate([pos[:, None] - 1 - steps, pos[:, None] + steps], axis=1)
    valid = (cand >= 0) & (cand < nc)
    diff = np.abs(ds[np.clip(cand, 0, nc - 1)] - dt[:, None])
    diff[~valid] = np.inf
    if caliper is not None:
        diff[diff > caliper] = np.inf
    side = np.broadcast_to(np.repeat([0, 1], k), diff.shape)
    near = np.broadcast_to(np.tile(steps, 2), diff.shape)
    # merge of the two sides by distance, the left side first on ties (MatchIt's "<=")
    order = np.lexsort((near, side, diff), axis=-1)[:, :k]
    chosen = np.take_along_axis(cand, order, axis=1)
    ok = np.isfinite(np.take_along_axis(diff, order, axis=1))
    ti, rank = np.nonzero(ok)
    return ti, chosen[ok], rank


def _find(parent: np.ndarray, i: int) -> int:
    # union-find with path compression: the nearest still-available index in one direction
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


def _without_replacement(dt: np.ndarray, ds: np.ndarray, k: int, caliper: float | None,
                         m_order: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nc = len(ds)
    # left[i+1] points at the nearest available index <= i (0 means none); right[i] at the
    # nearest available index >= i (nc means none)
    left = np.arange(nc + 1)
    right = np.arange(nc + 1)
    pos = np.searchsorted(ds, dt, side="left")
    order = _order_treated(dt, m_order)
    out_t: list[int] = []
    out_c: list[int] = []
    out_r: list[int] = []
    for r in range(k):
        for i in order:
            li = _find(left, int(pos[i])) - 1
            ri = _find(right, int(pos[i]))
            dl = dt[i] - ds[li] if li >= 0 else np.inf
            dr = ds[ri] - dt[i] if ri < nc else np.inf
            if caliper is not None:
                dl = dl if dl <= caliper else np.inf
                dr = dr if dr <= caliper else np.inf
            if not (np.isfinite(dl) or np.isfinite(dr)):
                continue
            c = li if dl <= dr else ri
            out_t.append(int(i))
            out_c.append(c)
            out_r.append(r)
            left[c + 1] = c       # c is used: look further left next time
            right[c] = c + 1      # ... or further right
    return (np.asarray(out_t, dtype=np.int64), np.asarray(out_c, dtype=np.int64),
            np.asarray(out_r, dtype=np.int64))


def match_nearest(dist_t: np.ndarray, dist_c: np.ndarray, stratum_t: np.ndarray,
                  stratum_c: np.ndarray, *, k: int, replace: bool, caliper: float | None,
                  m_order: str = "largest", presorted: bool = False) -> Pairs:
    """Match each treated unit to up to k comparison records of the same stratum.

    ``dist_*`` are finite distances (logits); ``stratum_*`` integer stratum codes; ``caliper``
    in distance units (already scaled) or None. ``presorted``: ``dist_c`` is already in
    increasing order with ties in canonical order (saves a sort per stratum on large pools).
    """
    ts: list[np.ndarray] = []
    cs: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    for s in np.unique(stratum_t):
        it = np.flatnonzero(stratum_t == s)
        ic = np.flatnonzero(stratum_c == s)
        if len(ic) == 0:
            continue
        # stable sort: equal distances keep the canonical (event id) order
        o = np.arange(len(ic)) if presorted else np.argsort(dist_c[ic], kind="stable")
        ds = dist_c[ic][o]
        if replace:
            ti, ci, rank = _with_replacement(dist_t[it], ds, k, caliper)
        else:
            ti, ci, rank = _without_replacement(dist_t[it], ds, k, caliper, m_order)
        ts.append(it[ti])
        cs.append(ic[o[ci]])
        rs.append(rank)
    if not ts:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty)
    t = np.concatenate(ts)
    c = np.concatenate(cs)
    r = np.concatenate(rs)
    o = np.lexsort((r, t))
    return Pairs(t[o].astype(np.int64), c[o].astype(np.int64), r[o].astype(np.int64))
