r"""Notebook 01: the generator:discriminator step-ratio sweep, over seeds.

M. J. Weaver, "Robot vs. Robot: Evening the Field in Deep Convolutional GANs for Small Datasets" (Seattle
University, undated; no public copy found) adds ``g_advantage`` to DCGAN-tensorflow
(https://github.com/morganjweaver/DCGAN-tensorflow): G updates per D update.
On 192 mouse faces it compares 2:1 (the library's default), 4:1 and 50:1 after 100 and 400
iterations (Figures 2-7) and plots the log of the G:D loss ratio (Figure 1).

Here every arm (1:1 baseline, 2:1, 4:1, 50:1 and a DiffAugment arm) trains from the same seed,
data and initial weights; each arm is one :class:`Arm`, and :func:`train_arm` one training (a
task of :func:`gan_helpers.runtime.run_tasks`, so arms and seeds spread over the cores). Arms
are measured at the document's sample points, at their last iteration and where they made as many
network updates as the whole 1:1 run. :func:`records` flattens every seed's numbers, :func:`declare_claims`
states the claims with their thresholds (:data:`THRESHOLDS`), :func:`controls` checks each metric they read on
known answers, and :func:`gan_helpers.claims.judge` gives the verdicts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..datasets.mice import coat_analysis
from ..claims import NOISE_FACTOR, AllOf, Claim, Compare, Control, Rule, Threshold, declare
from ..evaluate import Evaluator
from ..objectives import DCGANLoss
from ..runtime import run_tasks
from ..train import GANTrainer, TrainConfig

SOURCE = "Weaver, Robot vs. Robot"
DIFFAUGMENT = "color,translation,cutout"
THRESHOLDS = declare(
    Threshold("learned_fid_ratio", 0.5,
              "an arm has learned when its FID is at most half the FID of the same generator untrained (measured in "
              "this run): it has covered half the way to the data. Improved precision was tried first and failed its "
              "control (an untrained generator scored 0.40, above any usable cut-off)"),
    Threshold("collapse_near_duplicates", 0.10,
              "an arm shows mode collapse when more than 10% of its samples have a near-identical twin among the "
              "samples: about 4x a fresh real draw's rate (0.02-0.03), far below a generator collapsed onto 8 images (1.0)"),
    Threshold("between_share_max", 0.02,
              "a generator makes coats between grey and white when more than 2% of its samples read so: the coat "
              "reader puts no real mouse there (control), and a grey-white blend at about 100%"),
)
T = THRESHOLDS


def learned(q: dict, untrained_fid: float) -> bool:
    """Whether an arm's samples are images of the data at all (FID at most ``learned_fid_ratio`` x an untrained
    generator's): comparing quality or counting collapse among arms that make noise measures the noise."""
    return q["fid"] <= float(T["learned_fid_ratio"]) * untrained_fid


@dataclass(frozen=True)
class Arm:
    """One training of the sweep: ``ratio`` G steps per D step for ``iterations``, DiffAugment if ``augment``."""

    ratio: int
    iterations: int
    augment: str = ""

    @property
    def name(self) -> str:
        return f"{self.ratio}:1" + (" + DiffAugment" if self.augment else "")


def make_arms(ratios: list[int], iterations: list[int], diffaugment: bool = True) -> list[Arm]:
    """One arm per ratio, trained for the matching entry of ``iterations``, and (``diffaugment``) a 1:1 arm
    with DiffAugment trained as long as the 1:1 arm (or the first arm, without a 1:1 one)."""
    arms = [Arm(int(r), int(n)) for r, n in zip(ratios, iterations, strict=True)]
    if diffaugment:
        base = next((a for a in arms if a.ratio == 1), arms[0])
        arms.append(Arm(1, base.iterations, DIFFAUGMENT))
    return arms


def wall_clock_table(runs: dict[str, dict[int, dict]]):
    """Iterations, update counts and training wall-clock of every arm (mean over seeds)."""
    import pandas as pd

    rows = {}
    for n, per in runs.items():
        r = list(per.values())
        rows[n] = {"iterations": r[0]["iterations"], "D steps": r[0]["d_steps"], "G steps": r[0]["g_steps"],
                   "seeds": len(r), "wall-clock per seed (s)": round(float(np.mean([x["wall_s"] for x in r])), 1)}
    return pd.DataFrame(rows).T


def arm_cost(arm: Arm) -> float:
    """Relative cost of an arm (a D step ~ 1.2 G steps), to start the longest first."""
    return arm.iterations * (1.2 + arm.ratio) * (1.2 if arm.augment else 1.0)


def quality(evaluator: Evaluator, images: torch.Tensor, coats: bool) -> dict:
    out = evaluator.full(images)
    if coats:
        out.update(coat_analysis(images))
    return out


def train_arm(arm: Arm, seed: int, images: torch.Tensor, evaluator: Evaluator, sample_at: list[int], model: dict,
              train: dict, eval_every: int, coats: bool = True, equal_updates: int | None = None) -> dict:
    """Train one arm from ``seed`` and measure it: FID every ``eval_every`` iterations, every metric at each
    iteration of ``sample_at`` it reaches, at its end, and (a ratio arm) where it has made ``equal_updates`` network
    updates (the equal-compute comparison). The losses as DCGAN-tensorflow prints them
    (Figure 1) are logged up to the last of ``sample_at``, the document's window. Returns plain data
    (a worker process sends it back)."""
    window = max(sample_at)
    cfg = TrainConfig(g_steps_per_d_step=arm.ratio, augment=arm.augment, seed=seed, log_paper_losses=True,
                      sample_at=tuple(sorted(set(sample_at) | set(range(eval_every, arm.iterations + 1, eval_every)))),
                      **train)
    t = GANTrainer(images, objective=DCGANLoss(), config=cfg, **model)  # the DCGAN pair, initialised from the seed
    measured = {}
    stops = {m for m in sample_at if m <= arm.iterations} | {arm.iterations}
    if equal_updates and not arm.augment and equal_compute_iteration(arm.ratio, equal_updates) <= arm.iterations:
        stops.add(equal_compute_iteration(arm.ratio, equal_updates))
    for stop in sorted(stops):
        if stop > window:
            t.config = dataclasses.replace(t.config, log_paper_losses=False)
        t.fit(stop, eval_every=eval_every, eval_fn=evaluator)
        samples = t.sample(evaluator.n_samples, seed=seed)
        measured[stop] = quality(evaluator, samples, coats)
    ratio = t.log_loss_ratio()
    keep = ("d_loss", "g_loss", "d_x", "d_g_z", "epoch")
    return {"arm": arm.name, "seed": seed, "ratio": arm.ratio, "iterations": arm.iterations,
            "history": {k: t.history[k] for k in keep}, "log_loss_ratio": ratio[np.isfinite(ratio)].tolist(),
            "evals": t.evals, "grids": t.samples, "measured": measured, "final_samples": samples,
            "wall_s": t.wall_s, "d_steps": t.d_steps, "g_steps": t.g_steps}


def equal_updates(arms: list[Arm]) -> int | None:
    """The network updates of the whole 1:1 run (2 per iteration): where every ratio is compared with 1:1."""
    base = next((a for a in arms if a.ratio == 1 and not a.augment), None)
    return None if base is None else 2 * base.iterations


def run_sweep(images: torch.Tensor, arms: list[Arm], seeds: list[int], evaluator: Evaluator, sample_at: list[int],
              model: dict, train: dict, eval_every: int, coats: bool = True, workers: int | None = None,
              progress: bool = False, cache=None) -> dict[str, dict[int, dict]]:
    """Every arm under every seed (spread over worker processes, the costliest first):
    ``runs[arm name][seed]`` is :func:`train_arm`'s record. ``cache``: reuse finished arms (``run.cache``)."""
    eq = equal_updates(arms)
    tasks = [(a, s, images, evaluator, sample_at, model, train, eval_every, coats, eq) for a in arms for s in seeds]
    records = run_tasks(train_arm, tasks, workers, cost=[arm_cost(t[0]) for t in tasks], progress=progress,
                        desc="arms x seeds", cache=cache)
    runs: dict[str, dict[int, dict]] = {}
    for r in records:
        runs.setdefault(r["arm"], {})[r["seed"]] = r
    return runs


def measured_at(record: dict, iteration: int) -> dict:
    """The metrics of a run at ``iteration``, or at its end if it stopped earlier."""
    return record["measured"][min(iteration, record["iterations"])]


def late_abs_log_ratio(log_ratio, upto_epoch: int | None = None) -> tuple[float, float]:
    """Mean |log10(G loss / D loss)| over the second half of the epochs (up to ``upto_epoch``): the distance from
    parity, and its standard error over those epochs."""
    v = np.abs(np.asarray(log_ratio, float))[:upto_epoch]
    late = v[len(v) // 2:]
    return float(late.mean()), float(late.std(ddof=1) / np.sqrt(len(late))) if len(late) > 1 else 0.0


def equal_compute_iteration(ratio: int, updates: int) -> int:
    """The iteration at which an arm of ``ratio`` G steps per D step has made ``updates`` network updates."""
    return max(1, int(round(updates / (1 + ratio))))


# ---------------------------------------------------------------------------------------------
# Thresholds, records, controls and the claims (judged by gan_helpers.claims)
# ---------------------------------------------------------------------------------------------



def records(runs: dict[str, dict[int, dict]], seeds: list[int], equal_updates: int, untrained_fid: float) -> dict[int, dict]:
    """``records[seed][arm]``: what the claims read, flat: ``<metric>@<iteration>`` (and ``learned@<iteration>``) at
    every measured iteration, ``<metric>@end``, ``<metric>@equal_compute`` (at ``equal_updates`` updates), the
    distance of Figure 1's log ratio from parity over the epochs every arm ran, and ``ratio``."""
    first = min(r["iterations"] for arm in runs.values() for r in arm.values())  # every arm reached this
    out: dict[int, dict] = {}
    for s in seeds:
        epochs = int(next(iter(runs.values()))[s]["history"]["epoch"][first - 1]) + 1
        per = {}
        for name, arm in runs.items():
            r = arm[s]
            rec = {"ratio": r["ratio"], "iterations": r["iterations"]}
            for it, q in r["measured"].items():
                tags = [it] + (["end"] if it == r["iterations"] else []) + \
                       (["equal_compute"] if it == equal_compute_iteration(r["ratio"], equal_updates) else [])
                for tag in tags:
                    rec.update({f"{k}@{tag}": v for k, v in q.items() if isinstance(v, (int, float))})
                    rec[f"learned@{tag}"] = learned(q, untrained_fid)
            rec["late_abs_log_ratio"], rec["late_abs_log_ratio_noise"] = late_abs_log_ratio(r["log_loss_ratio"], epochs)
            per[name] = rec
        out[s] = per
    return out


def _collapse_rule(arms: list[str], at: int):
    def fn(rec, nd):
        learned = [a for a in arms if rec[a].get(f"learned@{at}")]
        if not learned:
            return None, {"why": f"no arm had learned by iteration {at}"}
        col = {a: bool(rec[a][f"near_duplicate_rate@{at}"] > float(nd) or rec[a].get(f"coats_covered@{at}", 3) < 3)
               for a in learned}
        n = sum(col.values())
        ev = {"collapsed": col, "not_learned": [a for a in arms if a not in learned],
              "near_duplicate_rate": {a: rec[a][f"near_duplicate_rate@{at}"] for a in learned},
              "coats_covered": {a: rec[a].get(f"coats_covered@{at}") for a in learned}}
        return (1.0 if n == len(learned) else 0.5 if n else -1.0), ev
    return fn


def _marginal_rule(at: int):
    def fn(rec, factor):
        f = {a: rec[a][f"fid@{at}"] for a in ("2:1", "4:1", "50:1")}
        noise = max(rec[a][f"fid_noise@{at}"] for a in ("2:1", "4:1", "50:1"))
        gain_24, gain_4_50 = f["2:1"] - f["4:1"], f["4:1"] - f["50:1"]
        ok = gain_24 > float(factor) * noise and gain_4_50 < gain_24 and gain_4_50 >= -float(factor) * noise
        return (1.0 if ok else -1.0), {"fid": f, "noise": noise, "gain_2_to_4": gain_24, "gain_4_to_50": gain_4_50}
    return fn


def _between_rule(arms: list[str]):
    def fn(rec, limit):
        learned = [a for a in arms if rec[a].get("learned@end")]
        if not learned:
            return None, {"why": "no arm had learned by its end"}
        share = {a: rec[a]["share_between_grey_white@end"] for a in learned}
        return (1.0 if all(v <= float(limit) for v in share.values()) else -1.0), \
            {"share_between_grey_white": share, "not_learned": [a for a in arms if a not in learned]}
    return fn


def declare_claims(names: list[str], arms: list[str], protocol: int, both_trained: int | None, fifty_at: int | None,
                   coats: bool, diffaugment_at: int | None, paper_preset: str = "configs/paper/01.yaml") -> list[Claim]:
    """The document's claims (and two beyond it) as declarations. ``names``: the ratio arms ("1:1", "2:1", ...);
    ``arms``: every arm; ``both_trained``: the last iteration both 2:1 and 4:1 reached (if past ``protocol``);
    ``fifty_at``: the 50:1 arm's last iteration; ``diffaugment_at``: the DiffAugment arm's last iteration."""
    doc_ratios = [n for n in names if n != "1:1"]
    claims = [Claim("log_ratio_parity", "The log of the G:D loss ratio nears 0 as the generator's advantage grows "
                    "(50:1 closest to parity)", f"{SOURCE}, Figure 1 and Results",
                    AllOf(tuple(Compare("late_abs_log_ratio", b, a, noise="{metric}_noise", learned=False)
                                for a, b in zip(doc_ratios, doc_ratios[1:]))),
                    note="over the epochs every arm ran; the noise is the standard error over those epochs")]
    if {"2:1", "4:1"} <= set(names):
        ats = [protocol] + ([both_trained] if both_trained and both_trained > protocol else [])
        for at in ats:
            where = "as Figures 3 and 5" if at == protocol else "both trained on"
            claims.append(Claim(f"4_beats_2@{at}", f"4:1 gives better images than the default 2:1 (after {at} "
                                f"iterations, {where})", f"{SOURCE}, Figures 2-5", Compare("fid", "4:1", "2:1", at=at)))
    if {"2:1", "4:1", "50:1"} <= set(names) and fifty_at:
        claims.append(Claim("50_marginal", f"The gain is non-linear: 50:1 is only marginally better than 4:1 (after "
                            f"{fifty_at} iterations)", f"{SOURCE}, Discussion",
                            Rule(_marginal_rule(fifty_at), "FID: 2:1 -> 4:1 gains beyond noise_factor x noise, 4:1 -> "
                                 "50:1 gains less and 50:1 is not worse beyond it", uses=(NOISE_FACTOR,), reads=("fid",),
                                 requires=("2:1", "4:1", "50:1"), at=fifty_at),
                            note=f"testable where all three arms have learned by iteration {fifty_at}; the paper "
                                 f"preset ({paper_preset}) trains 50:1 for 400 iterations"))
    claims.append(Claim("collapse_every_ratio", f"Mode collapse is seen at every ratio (after {protocol} iterations)",
                        f"{SOURCE}, Results and Discussion",
                        Rule(_collapse_rule(names, protocol), "per seed, among the arms that had learned: every arm "
                             "collapsed (near-duplicate rate > collapse_near_duplicates, or a coat never drawn) -> "
                             "supports; some -> partly; none -> refutes", uses=(T["collapse_near_duplicates"],),
                             reads=("near_duplicate_rate",) + (("coats_covered",) if coats else ()))))
    if coats:
        claims.append(Claim("no_between_coat", "A GAN won't make a mouse whose coat is between grey and white",
                            f"{SOURCE}, Caveats",
                            Rule(_between_rule(arms), "every arm that learned draws at most between_share_max of its "
                                 "samples between grey and white (at its end)", uses=(T["between_share_max"],),
                                 reads=("share_between_grey_white",))))
    if "1:1" in names and len(names) > 1:
        claims.append(Claim("advantage_equal_compute", "A generator advantage beats 1:1 at equal compute (the same "
                            "number of network updates)", "beyond the document",
                            settings={n: Compare("fid", n, "1:1", at="equal_compute") for n in names if n != "1:1"},
                            note="each ratio against 1:1 where both made the updates of the whole 1:1 run"))
    if diffaugment_at:
        da = next(a for a in arms if "DiffAugment" in a)
        claims.append(Claim("diffaugment", f"DiffAugment (Zhao et al. 2020) gives better images than the plain 1:1 "
                            f"DCGAN on 192 images (after {diffaugment_at} iterations)", "beyond the document",
                            Compare("fid", da, "1:1", at=diffaugment_at)))
    return claims


def sweep_claims(runs: dict[str, dict[int, dict]], seeds: list[int], protocol: int, untrained_fid: float,
                 controls: list[Control] = (), smoke: bool = False) -> tuple[list[Claim], list[dict]]:
    """The claims declared for these runs and their verdicts: ``(declared, judged)`` (``judged`` is what
    ``results.json`` keeps). ``protocol``: the document's last sample point (400 iterations); ``untrained_fid``:
    the FID of the generator as initialised (the learned-check's anchor)."""
    ratio_arms = sorted((n for n in runs if "DiffAugment" not in n), key=lambda n: runs[n][seeds[0]]["ratio"])
    its = {n: runs[n][seeds[0]]["iterations"] for n in runs}
    both = min(its["2:1"], its["4:1"]) if {"2:1", "4:1"} <= set(its) else None
    da = next((n for n in runs if "DiffAugment" in n), None)
    coats = "share_between_grey_white" in next(iter(runs[ratio_arms[0]][seeds[0]]["measured"].values()))
    base = next((n for n in ratio_arms if runs[n][seeds[0]]["ratio"] == 1), None)
    eq = 2 * its[base] if base else 0
    declared = declare_claims(ratio_arms, list(runs), protocol, both, its.get("50:1"), coats, its.get(da))
    from ..claims import judge

    return declared, judge(declared, records(runs, seeds, eq, untrained_fid), controls, smoke)


def controls(evaluator: Evaluator, real_draw: torch.Tensor, coats: bool, untrained_fid: float,
             other_untrained: torch.Tensor) -> list[Control]:
    """Every metric a verdict of this notebook reads, on known answers (see :mod:`gan_helpers.claims`).
    ``untrained_fid``: the learned-check's anchor; ``other_untrained``: samples of a differently seeded
    untrained generator (must not pass as learned)."""
    from ..datasets.mice import coat_analysis
    from ..evaluate import collapse_control, fid_control

    out = [fid_control(evaluator, real_draw),
           collapse_control(evaluator, real_draw, float(T["collapse_near_duplicates"]))]
    q_real, q_other = {"fid": evaluator.quick(real_draw)["fid"]}, {"fid": evaluator.quick(other_untrained)["fid"]}
    out.append(Control("learned", f"FID against {float(T['learned_fid_ratio']):g} x the untrained generator's "
                       f"({untrained_fid:.1f})", "a real draw", "another untrained generator", q_real["fid"],
                       q_other["fid"], learned(q_real, untrained_fid) and not learned(q_other, untrained_fid),
                       "real passes, untrained does not"))
    if coats:
        from ..datasets.mice import blend_coats, only_coat
        pos, neg = coat_analysis(blend_coats(real_draw)), coat_analysis(real_draw)
        one = coat_analysis(only_coat(real_draw))["coats_covered"]
        limit = float(T["between_share_max"])
        out.append(Control("share_between_grey_white", "share of coats between grey and white",
                           "grey and white mice blended half and half", "a real draw",
                           pos["share_between_grey_white"], neg["share_between_grey_white"],
                           pos["share_between_grey_white"] > limit >= neg["share_between_grey_white"],
                           f"blend > {limit:g} >= real"))
        out.append(Control("coats_covered", "coats drawn by at least 5% of the samples", "mice of one coat only",
                           "a real draw", one, neg["coats_covered"], one < 3 <= neg["coats_covered"], "one coat < 3 <= real"))
    return out


def curve_summary(doc: dict, at: tuple[int, ...] = (400, 600, 800, 1000, 1500)):
    """The committed learning curves as a table: FID mean ± std over seeds at a few iterations, and the
    training time per 100 iterations."""
    import pandas as pd

    rows = {}
    for name in dict.fromkeys(r["setting"] for r in doc["runs"]):
        runs = [r for r in doc["runs"] if r["setting"] == name]
        row = {}
        for it in at:
            v = [r["fid"][r["iterations"].index(it)] for r in runs if it in r["iterations"]]
            if v:
                row[f"FID @{it}"] = f"{np.mean(v):.1f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.1f}"
        row["s / 100 it."] = round(float(np.mean([100 * r["train_s"] / r["iterations"][-1] for r in runs])), 1)
        rows[name] = row
    return pd.DataFrame(rows).T
