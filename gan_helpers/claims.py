r"""The one claims engine: every notebook's claims declared as data, judged seed by seed, one rule for the verdict.

EleutherAI's lm-evaluation-harness declares each task in a few lines (its metric, how per-sample scores
aggregate, ``higher_is_better``) and one engine runs them all, so that a reader audits a table, not code.
Here a :class:`Claim` is declared the same way:

* its ``text`` and ``source`` (document, figure or section);
* a :class:`Test` that judges **one seed's record** (a comparison of two arms, a property of one arm, a paired
  test, or a rule of the experiment), reading metrics by name;
* every number it uses is a :class:`Threshold`, declared once with a name and a one-line rationale (and a
  reference where one exists), never typed into the test;
* the arms it needs to have learned: a seed where one has not (by the notebook's own learned-check, recorded as
  ``learned`` or ``learned@<iteration>`` in the seed's record) is *not testable* in that seed;
* the metrics it reads: a metric that failed its positive/negative control (:class:`Control`) cannot decide.

The experiment modules only produce records, ``records[seed][arm][metric]`` (and ``records[seed][metric]`` for
a seed-level number); :func:`judge` runs the declarations over them. No verdict is edited afterwards.

**The rule** (:func:`rule`). Each testable seed gives an outcome: **+1** the claim is supported (A beats B beyond
the declared margin, or the property holds), **+½** it partly holds, **0** a tie (within the margin), **-1** it
is refuted. Over the n testable seeds:

* no testable seed: **not testable here** (the evidence names what was missing);
* one testable seed: **inconclusive** (a verdict never rests on one seed);
* +1 in every seed: **holds**; -1 in every seed: **does not hold**;
* support (+1 or +½) in one seed and -1 in another: **inconclusive** (the seeds disagree);
* otherwise support in more than half of the seeds: **partly**; -1 in more than half: **does not hold**;
* otherwise: **inconclusive**.

So ``[+1, 0, 0]`` is inconclusive (one seed of three), ``[+1, +1, 0]`` partly, ``[0, 0, 0]`` inconclusive.

A claim judged at several **settings** (label fractions, ratios) gets the rule's verdict at each, then
(:func:`combine_settings`): the same everywhere -> that verdict; holds or partly at some settings and not at
others -> **partly** (the evidence says where); no support anywhere and does not hold somewhere -> **does not
hold**; settings that are not testable are left out and named.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

VERDICTS = ("holds", "partly", "does not hold", "inconclusive", "not testable here")
OUTCOME_NAMES = {1.0: "supports", 0.5: "partly", 0.0: "tie", -1.0: "refutes"}


# ---------------------------------------------------------------------------------------------
# Thresholds: declared once, named, with a reason
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """A number a verdict depends on: its ``name``, ``value``, a one-line ``rationale`` and a ``reference``."""

    name: str
    value: float
    rationale: str
    reference: str = ""

    def __post_init__(self):
        if not self.name or not self.rationale:
            raise ValueError("a threshold needs a name and a rationale")
        if not isinstance(self.value, (int, float)) or isinstance(self.value, bool) or not math.isfinite(self.value):
            raise ValueError(f"threshold {self.name!r}: value must be a finite number, got {self.value!r}")

    def __float__(self) -> float:
        return float(self.value)


def declare(*items: Threshold) -> dict[str, Threshold]:
    """A module's thresholds by name (a name used twice is an error)."""
    out: dict[str, Threshold] = {}
    for t in items:
        if t.name in out:
            raise ValueError(f"threshold {t.name!r} is declared twice")
        out[t.name] = t
    return out


# The thresholds of the comparison rule itself, shared by every notebook.
NOISE_FACTOR = Threshold(
    "noise_factor", 2.0, "a difference counts only beyond 2x the larger bootstrap (or binomial) noise of the "
    "metric: two evaluations of one generator differ by less than that about 95% of the time",
    "Efron & Tibshirani 1993, bootstrap standard errors")
ALPHA = Threshold("alpha", 0.05, "a paired test counts a difference only at p < 0.05 (two-sided)",
                  "McNemar 1947; exact binomial form")
MIN_SEEDS = 2  # the rule's own: one seed never decides (not a tunable threshold)


# ---------------------------------------------------------------------------------------------
# Per-seed outcomes and the rule
# ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One seed's judgement: ``value`` in {1, 0.5, 0, -1}, or None where the seed is not testable (``why``)."""

    value: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    @property
    def name(self) -> str:
        return "not testable" if self.value is None else OUTCOME_NAMES[float(self.value)]


def rule(outcomes: Sequence[float | None]) -> str:
    """The verdict over seeds from per-seed outcomes (see the module docstring)."""
    o = [float(v) for v in outcomes if v is not None]
    for v in o:
        if v not in OUTCOME_NAMES:
            raise ValueError(f"an outcome must be one of {sorted(OUTCOME_NAMES)}, got {v}")
    n = len(o)
    if n == 0:
        return "not testable here"
    if n < MIN_SEEDS:
        return "inconclusive"
    support, refute = sum(v > 0 for v in o), sum(v < 0 for v in o)
    if all(v == 1 for v in o):
        return "holds"
    if refute == n:
        return "does not hold"
    if support and refute:
        return "inconclusive"
    if support * 2 > n:
        return "partly"
    if refute * 2 > n:
        return "does not hold"
    return "inconclusive"


def combine_settings(verdicts: Mapping[str, str]) -> str:
    """One verdict from a claim judged at several settings (see the module docstring)."""
    v = [x for x in verdicts.values() if x != "not testable here"]
    if not v:
        return "not testable here"
    if len(set(v)) == 1:
        return v[0]
    if {"holds", "partly"} & set(v):
        return "partly"
    if "does not hold" in v:
        return "does not hold"
    return "inconclusive"


# ---------------------------------------------------------------------------------------------
# Tests: how one seed's record is judged
# ---------------------------------------------------------------------------------------------

def _key(metric: str, at: int | None = None, reader: str | None = None) -> str:
    return metric + (f"[{reader}]" if reader else "") + (f"@{at}" if at is not None else "")


class NotTestable(Exception):
    """Raised inside a test where a seed lacks what it needs (an arm that has not learned, a missing metric)."""


def value(rec: Mapping, arm: str | None, key: str) -> Any:
    """``rec[arm][key]`` (``rec[key]`` for ``arm=None``); a missing arm or metric makes the seed not testable."""
    where = rec if arm is None else rec.get(arm)
    if where is None:
        raise NotTestable(f"no record of {arm!r}")
    if key not in where or where[key] is None:
        raise NotTestable(f"{key} of {arm or 'the seed'} was not measured")
    return where[key]


def require_learned(rec: Mapping, arms: Sequence[str], at: int | None = None) -> None:
    """Not testable in this seed unless every arm of ``arms`` has learned (``learned`` or ``learned@at``)."""
    missing = [a for a in arms if not bool(value(rec, a, _key("learned", at)))]
    if missing:
        raise NotTestable(", ".join(missing) + " had not learned" + (f" by iteration {at}" if at else ""))


class Test:
    """Judges one seed's record. Subclasses set ``metrics`` (the metric families read, for the controls) and
    ``thresholds`` (every :class:`Threshold` used), and implement :meth:`judge` and :meth:`describe`."""

    metrics: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()

    def judge(self, rec: Mapping) -> Outcome:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class Compare(Test):
    """Arm ``a`` better than arm ``b`` on ``metric`` (at iteration ``at``): +1 if A wins by more than
    ``factor`` x the larger of the two noises (``metric_noise``) plus ``margin``, -1 if B wins by that much, 0
    within. ``readers``: the metric read by several independent networks (``metric[reader]``): a seed where
    they disagree ties. ``learned``: both arms must have learned (``learned`` / ``learned@at`` in the record)."""

    metric: str
    a: str
    b: str
    higher_is_better: bool = False
    at: int | None = None
    noise: str | None = "{metric}_noise"
    factor: Threshold = NOISE_FACTOR
    margin: Threshold | None = None
    readers: tuple[str, ...] | None = None
    learned: bool = True

    def __post_init__(self):
        self.metrics = (self.metric,)
        self.thresholds = tuple(t for t in (self.factor, self.margin) if t is not None)

    def _one(self, rec, reader):
        key = _key(self.metric, self.at, reader)
        va, vb = float(value(rec, self.a, key)), float(value(rec, self.b, key))
        if self.noise:
            nk = _key(self.noise.format(metric=self.metric), self.at, reader)
            na, nb = float(value(rec, self.a, nk)), float(value(rec, self.b, nk))
        else:
            na = nb = 0.0
        gain = (va - vb) if self.higher_is_better else (vb - va)
        m = float(self.factor) * max(na, nb) + (float(self.margin) if self.margin else 0.0)
        out = 1.0 if gain > m else -1.0 if gain < -m else 0.0
        return out, {self.a: va, self.b: vb, "noise": max(na, nb), "needed": m}

    def judge(self, rec):
        if self.learned:
            require_learned(rec, (self.a, self.b), self.at)
        per = {r: self._one(rec, r) for r in (self.readers or (None,))}
        vals = {v for v, _ in per.values()}
        ev = {(r or self.metric): e for r, (_, e) in per.items()}
        if len(vals) > 1:
            ev["readers_disagree"] = True
            return Outcome(0.0, ev)
        return Outcome(vals.pop(), ev)

    def describe(self):
        at = f" at {self.at}" if self.at is not None else ""
        better = "higher" if self.higher_is_better else "lower"
        readers = f", read by {' and '.join(self.readers)} (disagreement ties)" if self.readers else ""
        noise = f" by > {self.factor.name} x noise" if self.noise else ""
        margin = f" + {self.margin.name}" if self.margin else ""
        return f"{self.metric}{at}: {self.a} {better} than {self.b}{noise}{margin}{readers}"


@dataclass
class Property(Test):
    """A yes/no property of ``arm``'s ``metric`` (``arm=None``: a seed-level metric): +1 if it is at least
    (``at_least=True``) or at most ``threshold``, +½ if it passes ``partly`` instead, -1 otherwise.
    With ``noise``, a value within ``factor`` x its noise of the threshold ties (0)."""

    metric: str
    arm: str | None
    threshold: Threshold
    at_least: bool = True
    partly: Threshold | None = None
    at: int | None = None
    noise: str | None = None
    factor: Threshold = NOISE_FACTOR
    readers: tuple[str, ...] | None = None
    learned: bool = True

    def __post_init__(self):
        self.metrics = (self.metric,)
        self.thresholds = tuple(t for t in (self.threshold, self.partly, self.factor if self.noise else None) if t)

    def _one(self, rec, reader):
        v = float(value(rec, self.arm, _key(self.metric, self.at, reader)))
        n = float(self.factor) * float(value(rec, self.arm, _key(self.noise.format(metric=self.metric), self.at, reader))) \
            if self.noise else 0.0
        d = (v - float(self.threshold)) if self.at_least else (float(self.threshold) - v)
        if d > n or (d == 0 and n == 0):
            return 1.0, {"value": v}
        if n > 0 and d >= -n:
            return 0.0, {"value": v, "within_noise_of": self.threshold.name}
        if self.partly is not None and d_eq(v, self.partly, self.at_least):
            return 0.5, {"value": v}
        return -1.0, {"value": v}

    def judge(self, rec):
        if self.learned and self.arm is not None:
            require_learned(rec, (self.arm,), self.at)
        per = {r: self._one(rec, r) for r in (self.readers or (None,))}
        vals = {v for v, _ in per.values()}
        ev = {(r or self.metric): e["value"] for r, (_, e) in per.items()}
        if len(vals) > 1:
            ev["readers_disagree"] = True
            return Outcome(0.0, ev)
        return Outcome(vals.pop(), ev)

    def describe(self):
        op = ">=" if self.at_least else "<="
        who = f"{self.arm}'s " if self.arm else ""
        at = f" at {self.at}" if self.at is not None else ""
        partly = f" (partly: {op} {self.partly.name})" if self.partly else ""
        noise = f", beyond {self.factor.name} x noise" if self.noise else ""
        readers = f", read by {' and '.join(self.readers)}" if self.readers else ""
        return f"{who}{self.metric}{at} {op} {self.threshold.name}{partly}{noise}{readers}"


def d_eq(v: float, t: Threshold, at_least: bool) -> bool:
    """``v`` passes ``t`` inclusively (``>=`` for at-least, ``<=`` for at-most)."""
    return v >= float(t) if at_least else v <= float(t)


@dataclass
class Paired(Test):
    """A paired test of two classifiers on the same images (exact McNemar): the record holds, under ``key``,
    ``{"only_a_right": b, "only_b_right": c}``; +1 where A is right more often at p < ``alpha``, -1 where B is,
    0 otherwise."""

    key: str
    a: str
    b: str
    alpha: Threshold = ALPHA

    def __post_init__(self):
        self.metrics = ("held_out_accuracy",)
        self.thresholds = (self.alpha,)

    def judge(self, rec):
        from scipy.stats import binomtest

        st = value(rec, None, self.key)
        b, c = int(st["only_a_right"]), int(st["only_b_right"])
        p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
        out = 0.0 if p >= float(self.alpha) else (1.0 if b > c else -1.0)
        return Outcome(out, {**{k: v for k, v in st.items()}, "p_value": p})

    def describe(self):
        return f"held-out accuracy: {self.a} against {self.b}, exact McNemar test at p < {self.alpha.name}"


@dataclass
class Rule(Test):
    """An experiment's own per-seed rule: ``fn(rec, *thresholds) -> (outcome, evidence)`` with every number it
    uses passed in as a declared :class:`Threshold` (``uses``); ``metrics`` names what it reads."""

    fn: Callable[..., tuple[float, dict]]
    text: str
    uses: tuple[Threshold, ...] = ()
    reads: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    at: int | None = None

    def __post_init__(self):
        self.metrics = tuple(self.reads)
        self.thresholds = tuple(self.uses)

    def judge(self, rec):
        if self.requires:
            require_learned(rec, self.requires, self.at)
        v, ev = self.fn(rec, *self.uses)
        return Outcome(None if v is None else float(v), ev, ev.get("why", "") if v is None else "")

    def describe(self):
        return self.text


@dataclass
class AllOf(Test):
    """Every part must hold: per seed the lowest part's outcome; with ``partial``, parts that hold beside
    parts that are refuted give +½ (the claim holds in part)."""

    parts: tuple[Test, ...]
    partial: bool = False

    def __post_init__(self):
        self.metrics = tuple(dict.fromkeys(m for p in self.parts for m in p.metrics))
        self.thresholds = tuple(dict.fromkeys(t for p in self.parts for t in p.thresholds))

    def judge(self, rec):
        outs = [p.judge(rec) for p in self.parts]
        bad = [o for o in outs if o.value is None]
        if bad:
            return Outcome(None, {}, "; ".join(o.why for o in bad))
        vals = [o.value for o in outs]
        v = min(vals)
        if self.partial and v < 0 and max(vals) > 0:
            v = 0.5
        return Outcome(v, {f"part {i + 1}": {"outcome": o.name, **o.evidence} for i, o in enumerate(outs)})

    def describe(self):
        return " AND ".join(f"({p.describe()})" for p in self.parts) + (" (some parts only: partly)" if self.partial else "")


# ---------------------------------------------------------------------------------------------
# Controls: a metric must move the right way before it may decide
# ---------------------------------------------------------------------------------------------

@dataclass
class Control:
    """A metric (``metric``, the family name that tests list in ``metrics``) measured where the answer is known:
    on a ``positive`` case (the effect is there) and a ``negative`` one (it is not). ``passed``: it moved the
    right way (decided by the function that built it, from declared thresholds)."""

    metric: str
    what: str
    positive: str
    negative: str
    positive_value: Any
    negative_value: Any
    passed: bool
    expected: str

    def as_dict(self) -> dict:
        return {"metric": self.metric, "what": self.what, "positive": self.positive, "positive_value": self.positive_value,
                "negative": self.negative, "negative_value": self.negative_value, "expected": self.expected,
                "passed": bool(self.passed)}


# ---------------------------------------------------------------------------------------------
# Claims and the engine
# ---------------------------------------------------------------------------------------------

@dataclass
class Claim:
    """A claim of a document (or beyond it): ``test`` judges each seed; with ``settings`` (``{label: test}``)
    the claim is judged at each setting and the verdicts combined (:func:`combine_settings`)."""

    key: str
    text: str
    source: str
    test: Test | None = None
    settings: dict[str, Test] | None = None
    note: str = ""
    requires: tuple[str, ...] = ()  # arms that must have learned in a seed for it to be testable (beyond the test's own)

    def __post_init__(self):
        if (self.test is None) == (self.settings is None):
            raise ValueError(f"claim {self.key!r}: give a test or settings, not both or neither")

    @property
    def tests(self) -> dict[str, Test]:
        return self.settings if self.settings is not None else {"": self.test}

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for t in self.tests.values() for m in t.metrics))

    @property
    def thresholds(self) -> tuple[Threshold, ...]:
        return tuple(dict.fromkeys(t for s in self.tests.values() for t in s.thresholds))


def _judge_setting(test: Test, records: Mapping[int, Mapping], requires: Sequence[str] = ()) -> tuple[str, dict]:
    per, ev, missing = {}, {}, {}
    for s, rec in records.items():
        try:
            require_learned(rec, requires)
            o = test.judge(rec)
        except NotTestable as e:
            o = Outcome(None, {}, str(e))
        per[s] = o.value
        ev[s] = {"outcome": o.name, **o.evidence}
        if o.value is None:
            missing[s] = o.why
    out = {"per_seed": {s: ev[s]["outcome"] for s in ev}, "values": ev}
    if missing:
        out["not_testable"] = missing
    return rule(list(per.values())), out


def judge(claims: Sequence[Claim], records: Mapping[int, Mapping], controls: Sequence[Control] = (),
          smoke: bool = False) -> list[dict]:
    """Every claim's verdict and evidence (``results.json``'s ``claims``) from ``records[seed]``.

    A claim reading a metric whose control failed is not testable here. ``smoke``: recorded in the evidence."""
    failed = {c.metric: c for c in controls if not c.passed}
    out = []
    for c in claims:
        ev: dict[str, Any] = {"test": {k or "all": t.describe() for k, t in c.tests.items()},
                              "thresholds": {t.name: t.value for t in c.thresholds}}
        bad = [m for m in c.metrics if m in failed]
        if bad:
            verdict = "not testable here"
            ev["not_testable"] = {m: f"the metric failed its control ({failed[m].what})" for m in bad}
        elif c.settings is None:
            verdict, e = _judge_setting(c.test, records, c.requires)
            ev.update(e)
        else:
            vs = {}
            for label, t in c.settings.items():
                vs[label], ev[label] = _judge_setting(t, records, c.requires)
                ev[label] = {"verdict": vs[label], **ev[label]}
            verdict = combine_settings(vs)
            ev["per_setting"] = vs
        if c.note:
            ev["note"] = c.note
        if smoke:
            ev["scale"] = "smoke"
        out.append({"key": c.key, "claim": c.text, "source": c.source, "verdict": verdict, "evidence": ev})
    return out


# ---------------------------------------------------------------------------------------------
# Tables for the notebooks
# ---------------------------------------------------------------------------------------------

def thresholds_table(thresholds: Mapping[str, Threshold] | Sequence[Threshold]):
    """Every declared threshold: name, value, rationale, reference."""
    import pandas as pd

    items = thresholds.values() if isinstance(thresholds, Mapping) else thresholds
    return pd.DataFrame([{"threshold": t.name, "value": t.value, "rationale": t.rationale, "reference": t.reference}
                         for t in items]).set_index("threshold")


def controls_table(controls: Sequence[Control]):
    """Every control: the metric, the positive and the negative case with their values, and whether it passed."""
    import pandas as pd

    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    return pd.DataFrame([{"metric": c.metric, "what": c.what, "positive case": c.positive,
                          "positive": fmt(c.positive_value), "negative case": c.negative,
                          "negative": fmt(c.negative_value), "expected": c.expected,
                          "passed": "yes" if c.passed else "NO: cannot decide a verdict"} for c in controls])


def claims_table(claims: Sequence[Claim], judged: Sequence[dict]):
    """One row per claim (and setting): the test, its thresholds, each seed's outcome and the verdict."""
    import pandas as pd

    rows = []
    for c, j in zip(claims, judged, strict=True):
        for label, t in c.tests.items():
            e = j["evidence"].get(label, j["evidence"]) if label else j["evidence"]
            per = e.get("per_seed", {})
            rows.append({"claim": c.text + (f" [{label}]" if label else ""), "test": t.describe(),
                         "thresholds": ", ".join(f"{x.name} = {x.value:g}" for x in t.thresholds),
                         "per seed": ", ".join(f"{s}: {v}" for s, v in per.items()) or
                                     "; ".join(f"{m}: {w}" for m, w in e.get("not_testable", {}).items()),
                         "verdict": e.get("verdict", j["verdict"]) if label else j["verdict"]})
        if c.settings is not None:
            rows.append({"claim": c.text, "test": "combined over settings", "thresholds": "",
                         "per seed": "", "verdict": j["verdict"]})
    return pd.DataFrame(rows)


def binomial_noise(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` measured on ``n`` items (floored at p = 1/(2n): never 0)."""
    return float(np.sqrt(max(p * (1 - p), 0.25 / max(n, 1)) / max(n, 1)))


# ---------------------------------------------------------------------------------------------
# The run's verdicts as prose: the notebooks' generated summary
# ---------------------------------------------------------------------------------------------

#: Evidence entries that are bookkeeping, not measurements: the seed's outcome (listed once per claim), and the
#: margin a comparison needed and the noise it was built from (both in the claims table above the digest).
DIGEST_SKIP = ("outcome", "needed", "noise")


def _seed_numbers(values: Mapping[str, Mapping]) -> dict[tuple[str, ...], list]:
    """``values[seed]`` (nested dicts) -> ``{(metric, arm): [value per seed]}`` for the numeric and yes/no leaves,
    in the order they first appear; a seed without the entry gets None."""
    seeds = list(values)
    out: dict[tuple[str, ...], list] = {}

    def walk(d, path, i):
        for k, v in d.items():
            if k in DIGEST_SKIP:
                continue
            if isinstance(v, Mapping):
                walk(v, path + (str(k),), i)
            elif isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
                out.setdefault(path + (str(k),), [None] * len(seeds))[i] = v
    for i, s in enumerate(seeds):
        walk(values[s], (), i)
    return out


def _fmt_seed_values(vs: list) -> str:
    def one(v):
        if v is None:
            return "-"
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)
    return "/".join(one(v) for v in vs)


def _setting_digest(e: Mapping) -> str:
    per = e.get("per_seed", {})
    parts = []
    if per:
        parts.append("seeds " + "/".join(str(s) for s in per) + ": " + ", ".join(per.values()))
    groups: dict[str, list[str]] = {}  # "fid" -> ["before 11.9/9.06/13.1", ...]; "" for top-level numbers
    for path, vs in _seed_numbers(e.get("values", {})).items():
        groups.setdefault(" ".join(path[:-1]), []).append(f"{path[-1]} {_fmt_seed_values(vs)}")
    if groups:
        parts.append("; ".join((f"{g}: " if g else "") + ", ".join(items) for g, items in groups.items()))
    missing = e.get("not_testable")
    if missing:
        parts.append("not testable: " + "; ".join(f"{'seed ' if k in per else ''}{k}: {v}" for k, v in missing.items()))
    return ". ".join(parts)


def verdict_digest(judged: Sequence[dict] | str | Path) -> str:
    """Every claim of a run as one Markdown bullet: its verdict, the claim, each seed's outcome and every number
    its test read, per seed (``a/b/c`` in seed order), so that a notebook's summary is generated from
    ``results.json`` and cannot go stale when the run is repeated. ``judged``: :func:`judge`'s output, or the path
    of a ``results.json`` (its ``claims``). A claim judged at several settings gets one sub-bullet per setting."""
    if isinstance(judged, (str, Path)):
        judged = json.loads(Path(judged).read_text())["claims"]
    lines = []
    for j in judged:
        ev = j.get("evidence", {})
        smoke = " (smoke scale)" if ev.get("scale") == "smoke" else ""
        lines.append(f"* **{j['verdict']}**{smoke}: {j['claim']}")
        settings = ev.get("per_setting")
        if settings:
            for label in settings:
                lines.append(f"    * {label}, **{settings[label]}**: {_setting_digest(ev.get(label, {}))}")
        else:
            text = _setting_digest(ev)
            if text:
                lines.append(f"    * {text}")
    return "\n".join(lines)
