"""Missed read or skipped operation? The chance a gap in an item's passes was only a missed read.

A skipped-stage violation says an item was seen downstream of a stage without a pass there.
Either it went through and the portal missed it, or it skipped the operation. This module
gives the posterior chance that it went through, from three things ClickHouse stores:

- the transit times across the stage of items read there (``passed``: from their pass at
  the stage before to their pass at the stage after);
- the transit times of items not read there (``gaps``: the same span), a mixture of items
  that passed unread and items that skipped;
- the times of one leg of the route (``legs``: from the stage before to the stage itself),
  the shape an item's trip takes when it goes straight on to the next stage.

The skip component is the legs' distribution moved by a shift fitted to the gaps, so only
its shape is assumed; EM with the passed component fixed gives the share of gaps that
passed (``passed_share``) and the shift. A gap's posterior is then Bayes' rule with that
share as the prior and the two densities at the gap's own transit time. Pure: no I/O; the
statistics come from ``storage.gapqueries`` (or ``transit_rows`` on rows in memory).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Transit times are binned on a log scale, 8 bins per doubling (9% wide): transits range from
# seconds to hours, and their spread grows with their length.
BINS_PER_DOUBLING = 8
MIN_TRANSIT_US = 15_625  # 1/64 s: readers' clocks disagree by more than this, so shorter is noise
# Fewer than these and a stage's share of missed reads is too noisy to report (p is null).
MIN_PASSED = 20
MIN_GAPS = 10
MIN_LEGS = 20
# How far the skip component may move from the legs' times: two doublings either way.
MAX_SHIFT_BINS = 2 * BINS_PER_DOUBLING
SHIFT_EVIDENCE = 3.84  # chi-squared, one degree of freedom, 5%
SHARE_PRIOR = 1  # gaps counted as passed, and as skipped, before any is seen (Laplace's rule)
SPAN_KINDS = ("passed", "gap", "leg")

SpanKey = tuple[str, str, str]  # stage before, stage in question, stage after


def transit_bin(transit_us: int) -> int:
    """The log-scale bin of a transit time (the SQL computes the same expression)."""
    return math.floor(BINS_PER_DOUBLING * math.log2(max(transit_us, MIN_TRANSIT_US) / 1e6))


@dataclass(frozen=True)
class SpanCounts:
    """Binned transit times for one span (before, stage, after)."""

    passed: Mapping[int, int]  # bin -> items read at the stage
    gaps: Mapping[int, int]  # bin -> items not read at the stage (a gap of this stage alone)
    legs: Mapping[int, int]  # bin -> items going from before to the stage (a route leg)


@dataclass(frozen=True)
class SpanModel:
    """The fitted mixture for one span."""

    key: SpanKey
    passed_share: float  # of the gaps, the share that passed unread: the prior
    shift_bins: int  # skip component = legs moved by this many bins
    passed_pmf: Mapping[int, float]
    skip_pmf: Mapping[int, float]
    floor: float  # the density of a bin outside both components' support
    passed: int
    gaps: int

    def posterior(self, bin_: int | None) -> float:
        """P(passed | gap, transit in ``bin_``); the prior when the transit is unknown."""
        if bin_ is None:
            return self.passed_share
        fp = self.passed_pmf.get(bin_, self.floor)
        fs = self.skip_pmf.get(bin_, self.floor)
        pi = self.passed_share
        return pi * fp / (pi * fp + (1 - pi) * fs)


def smoothed_pmf(
    counts: Mapping[int, int], lo: int, hi: int, shift: int = 0
) -> tuple[dict[int, float], float]:
    """A Gaussian-kernel estimate of ``counts`` over bins lo..hi, moved by ``shift`` bins, with
    one pseudo-count spread evenly so that no bin has zero density; and that floor."""
    n = sum(counts.values())
    mean = sum(b * c for b, c in counts.items()) / n
    sd = math.sqrt(sum(c * (b - mean) ** 2 for b, c in counts.items()) / n)
    width = max(1.0, 1.06 * sd * n**-0.2)  # Silverman's rule, at least one bin
    bins = range(lo, hi + 1)
    floor = 1.0 / ((n + 1) * len(bins))
    pmf = {}
    for b in bins:
        k = sum(c * math.exp(-0.5 * ((b - shift - x) / width) ** 2) for x, c in counts.items())
        pmf[b] = k / (width * math.sqrt(2 * math.pi) * (n + 1)) + floor
    total = sum(pmf.values())
    return {b: v / total for b, v in pmf.items()}, floor / total


def _share(gaps: Mapping[int, int], fp: Mapping[int, float], fs: Mapping[int, float]) -> tuple[float, float]:
    """EM for the mixing weight of the passed component; (share, log-likelihood). The share is
    the posterior mode under a uniform prior: one gap counted each way, so it never reaches 0
    or 1. Where skips are rare (a stage skipped 2% of the time shows a handful among its
    gaps), the plain maximum went to 1 - 1e-8, and no transit time could then bring a gap's
    chance below 0.9999: skips that took a leg's time tied with the surest missed reads."""
    n = sum(gaps.values())
    pi = 0.5
    for _ in range(500):
        passed = sum(c * pi * fp[b] / (pi * fp[b] + (1 - pi) * fs[b]) for b, c in gaps.items())
        new = (passed + SHARE_PRIOR) / (n + 2 * SHARE_PRIOR)
        if abs(new - pi) < 1e-9:
            pi = new
            break
        pi = new
    loglik = sum(c * math.log(pi * fp[b] + (1 - pi) * fs[b]) for b, c in gaps.items())
    return pi, loglik


def fit_span(key: SpanKey, counts: SpanCounts) -> SpanModel | None:
    """The mixture for one span, or None with too few items to tell."""
    n_passed, n_gaps, n_legs = (sum(c.values()) for c in (counts.passed, counts.gaps, counts.legs))
    if n_passed < MIN_PASSED or n_gaps < MIN_GAPS or n_legs < MIN_LEGS:
        return None
    seen = [*counts.passed, *counts.gaps, *counts.legs]
    lo, hi = min(seen) - MAX_SHIFT_BINS - 8, max(seen) + MAX_SHIFT_BINS + 8
    fp, floor = smoothed_pmf(counts.passed, lo, hi)
    fits = []
    for shift in range(-MAX_SHIFT_BINS, MAX_SHIFT_BINS + 1):
        fs, _ = smoothed_pmf(counts.legs, lo, hi, shift)
        pi, loglik = _share(counts.gaps, fp, fs)
        fits.append((loglik, pi, shift, fs))
    best, unmoved = max(fits, key=lambda f: f[0]), fits[MAX_SHIFT_BINS]
    # The likelihood is often flat along the shift, and the share would wander with it: the
    # skip component moves only where a likelihood-ratio test (one parameter, 5%) says so.
    _, pi, shift, fs = best if 2 * (best[0] - unmoved[0]) > SHIFT_EVIDENCE else unmoved
    return SpanModel(key, pi, shift, fp, fs, floor, n_passed, n_gaps)


@dataclass(frozen=True)
class LineModel:
    """Every span's model of one line, and each stage's share over its spans."""

    spans: Mapping[SpanKey, SpanModel]
    stage_share: Mapping[str, float]

    def missed_read_probability(self, gap: Gap) -> float | None:
        """The chance every stage of ``gap`` was passed unread. Stages are taken as
        independent: the product of each stage's posterior. A stage at the start of the
        item's route counts as passed (items enter their route at its first stage)."""
        p = 1.0
        for i, stage in enumerate(gap.missing):
            if i == 0 and gap.entry:
                continue
            span = self.spans.get(gap.span) if gap.span is not None and gap.span[1] == stage else None
            if span is not None:
                p *= span.posterior(gap.bin)
            elif stage in self.stage_share:
                p *= self.stage_share[stage]
            else:
                return None
        return p


LineKey = tuple[str, str]  # site, line


def miss_and_skip(gap_rate: float, passed_share: float) -> tuple[float, float]:
    """(m, q): the portal's chance of missing an item that passes, and the stage's skip rate,
    from the gap rate g = q + (1 - q) m (items seen downstream but not read at the stage) and
    the share of gaps that passed, (1 - q) m / g."""
    missed = passed_share * gap_rate
    m = missed / (1 - gap_rate + missed) if missed else 0.0
    q = (gap_rate - m) / (1 - m) if m < 1 else 0.0
    return m, max(0.0, q)


def fit_line(counts: Mapping[SpanKey, SpanCounts]) -> LineModel:
    spans = {k: m for k, c in sorted(counts.items()) if (m := fit_span(k, c)) is not None}
    weights: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for m in spans.values():
        weights[m.key[1]].append((m.passed_share, m.gaps))
    share = {s: sum(p * n for p, n in w) / sum(n for _, n in w) for s, w in weights.items()}
    return LineModel(spans, share)


def fit_lines(rows: Iterable[Mapping[str, Any]]) -> dict[LineKey, LineModel]:
    """Each line's model from rows (site, line, kind, before, stage, after, bin, items) as the
    SQL returns them. A leg row (before, stage) serves every span that starts with that leg."""
    tallies: dict[LineKey, dict[str, dict[tuple[str, ...], Counter[int]]]] = defaultdict(
        lambda: {k: defaultdict(Counter) for k in SPAN_KINDS}
    )
    for r in rows:
        key = (r["before"], r["stage"]) if r["kind"] == "leg" else (r["before"], r["stage"], r["after"])
        tallies[(r["site"], r["line"])][r["kind"]][key][int(r["bin"])] += int(r["items"])
    models = {}
    for line, t in sorted(tallies.items()):
        counts = {
            (a, s, b): SpanCounts(
                t["passed"].get((a, s, b), Counter()), gaps, t["leg"].get((a, s), Counter())
            )
            for (a, s, b), gaps in t["gap"].items()
        }
        models[line] = fit_line(counts)
    return models


@dataclass(frozen=True)
class Gap:
    """What one skipped-stage verdict needs to be scored."""

    missing: tuple[str, ...]
    entry: bool  # the item has no earlier pass: the first missing stage starts its route
    span: SpanKey | None  # (stage before, missing stage, stage of the pass) for a gap of one stage
    bin: int | None  # transit bin from the previous pass to this one


def gap_of(passes: Sequence[Mapping[str, Any]], pass_id: str, missing: Sequence[str]) -> Gap:
    """The gap a skipped-stage verdict of ``pass_id`` opens, from the item's passes (each with
    pass_id, stage, first_us and last_us)."""
    ordered = sorted(passes, key=lambda p: (p["first_us"], p["pass_id"]))
    at = next((i for i, p in enumerate(ordered) if p["pass_id"] == pass_id), None)
    if at is None:
        return Gap(tuple(missing), False, None, None)
    if at == 0:
        return Gap(tuple(missing), True, None, None)
    prev, cur = ordered[at - 1], ordered[at]
    if len(missing) != 1:
        return Gap(tuple(missing), False, None, None)
    span = (prev["stage"], missing[0], cur["stage"])
    return Gap(tuple(missing), False, span, transit_bin(cur["first_us"] - prev["last_us"]))


def missed_read_probabilities(
    violations: Sequence[Mapping[str, Any]],
    passes: Iterable[Mapping[str, Any]],
    models: Mapping[LineKey, LineModel],
) -> list[float | None]:
    """``p_missed_read`` of each violation (None without missing stages or a model), from the
    passes of their items (on the violation's line) and each line's model."""
    by_item: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for p in passes:
        by_item[(p["site"], p["line"], p["item"])].append(p)
    out: list[float | None] = []
    for v in violations:
        model = models.get((v["site"], v["line"]))
        if not v["missing"] or model is None:
            out.append(None)
            continue
        item_passes = by_item[(v["site"], v["line"], v["item"])]
        chance = model.missed_read_probability(gap_of(item_passes, v["pass_id"], v["missing"]))
        out.append(None if chance is None else round(chance, 4))
    return out


def transit_rows(passes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What ``gapqueries.SPAN_TRANSITS`` computes, for pass rows in memory (the latest revision
    of each, with first_us and last_us): rows (site, line, kind, before, stage, after, bin, items).
    An item's passes are taken in time order on each line."""
    by_item: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for p in passes:
        by_item[(p["site"], p["line"], p["item"])].append(p)
    found: Counter[tuple[str, str, str, str, str, str, int]] = Counter()
    for (site, line, _), item_passes in by_item.items():
        ordered = sorted(item_passes, key=lambda p: (p["first_us"], p["pass_id"]))
        for i, cur in enumerate(ordered):
            prev = ordered[i - 1] if i >= 1 else None
            before = ordered[i - 2] if i >= 2 else None
            for kind, a, s, b, start in _spans(before, prev, cur):
                found[(site, line, kind, a, s, b, transit_bin(cur["first_us"] - start))] += 1
    return [
        {"site": si, "line": ln, "kind": k, "before": a, "stage": s, "after": b, "bin": n, "items": c}
        for (si, ln, k, a, s, b, n), c in sorted(found.items())
    ]


def _spans(
    before: Mapping[str, Any] | None, prev: Mapping[str, Any] | None, cur: Mapping[str, Any]
) -> list[tuple[str, str, str, str, int]]:
    if prev is None:
        return []
    out = []
    moved = cur["outcome"] == "movement" and cur["detail"] == "" and cur["stage"] != prev["stage"]
    if moved:
        out.append(("leg", prev["stage"], cur["stage"], "", prev["last_us"]))
        if (
            before is not None
            and prev["outcome"] == "movement"
            and prev["detail"] == ""
            and before["stage"] not in (prev["stage"], cur["stage"])
        ):
            out.append(("passed", before["stage"], prev["stage"], cur["stage"], before["last_us"]))
    gap = cur["detail"].removeprefix("missing ")
    if cur["outcome"] == "skipped_stage" and "," not in gap:
        out.append(("gap", prev["stage"], gap, cur["stage"], prev["last_us"]))
    return out
