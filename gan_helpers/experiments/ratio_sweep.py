r"""Notebook 01: the generator:discriminator step-ratio sweep, over seeds.

M. J. Weaver, "Robot vs. Robot: Evening the Field in Deep Convolutional GANs for Small Datasets" (Seattle
University, undated; no public copy found) adds ``g_advantage`` to DCGAN-tensorflow
(https://github.com/morganjweaver/DCGAN-tensorflow): G updates per D update.
On 192 mouse faces it compares 2:1 (the library's default), 4:1 and 50:1 after 100 and 400
iterations (Figures 2-7) and plots the log of the G:D loss ratio (Figure 1).

Here every arm (1:1 baseline, 2:1, 4:1, 50:1 and a DiffAugment arm) trains from the same seed,
data and initial weights; each arm is one :class:`Arm`, and :func:`train_arm` one training (a
task of :func:`gan_helpers.runtime.run_tasks`, so arms and seeds spread over the cores). Arms
are measured at the document's ``protocol`` iteration and, for those continued, at their last
iteration. :func:`sweep_claims` turns every seed's numbers into verdicts with the rule of
:mod:`gan_helpers.evaluate`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..datasets.mice import coat_analysis
from ..evaluate import Evaluator, all_seeds_verdict, better_verdict, combine_verdicts, compare_over_seeds
from ..objectives import DCGANLoss
from ..results import claim, verdict
from ..runtime import run_tasks
from ..train import GANTrainer, TrainConfig

SOURCE = "Weaver, Robot vs. Robot"
DIFFAUGMENT = "color,translation,cutout"
LEARNED_PRECISION = 0.05  # below this share of samples inside the real data's k-NN balls, an arm has not learned yet


def learned(q: dict) -> bool:
    """Whether an arm's samples are images of the data at all (improved precision >= LEARNED_PRECISION):
    comparing quality or counting collapse among arms that make noise measures the noise."""
    return q["precision"] >= LEARNED_PRECISION


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
              train: dict, eval_every: int, coats: bool = True) -> dict:
    """Train one arm from ``seed`` and measure it: FID every ``eval_every`` iterations, every metric at each
    iteration of ``sample_at`` it reaches and at its end. The losses as DCGAN-tensorflow prints them
    (Figure 1) are logged up to the last of ``sample_at``, the document's window. Returns plain data
    (a worker process sends it back)."""
    window = max(sample_at)
    cfg = TrainConfig(g_steps_per_d_step=arm.ratio, augment=arm.augment, seed=seed, log_paper_losses=True,
                      sample_at=tuple(sorted(set(sample_at) | set(range(eval_every, arm.iterations + 1, eval_every)))),
                      **train)
    t = GANTrainer(images, objective=DCGANLoss(), config=cfg, **model)  # the DCGAN pair, initialised from the seed
    measured = {}
    for stop in sorted({m for m in sample_at if m <= arm.iterations} | {arm.iterations}):
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


def run_sweep(images: torch.Tensor, arms: list[Arm], seeds: list[int], evaluator: Evaluator, sample_at: list[int],
              model: dict, train: dict, eval_every: int, coats: bool = True, workers: int | None = None,
              progress: bool = False) -> dict[str, dict[int, dict]]:
    """Every arm under every seed (spread over worker processes, the costliest first):
    ``runs[arm name][seed]`` is :func:`train_arm`'s record."""
    tasks = [(a, s, images, evaluator, sample_at, model, train, eval_every, coats) for a in arms for s in seeds]
    records = run_tasks(train_arm, tasks, workers, cost=[arm_cost(t[0]) for t in tasks], progress=progress,
                        desc="arms x seeds")
    runs: dict[str, dict[int, dict]] = {}
    for r in records:
        runs.setdefault(r["arm"], {})[r["seed"]] = r
    return runs


def measured_at(record: dict, iteration: int) -> dict:
    """The metrics of a run at ``iteration``, or at its end if it stopped earlier."""
    return record["measured"][min(iteration, record["iterations"])]


def late_abs_log_ratio(log_ratio, upto_epoch: int | None = None) -> float:
    """Mean |log10(G loss / D loss)| over the second half of the epochs (up to ``upto_epoch``): distance from parity."""
    v = np.abs(np.asarray(log_ratio, float))[:upto_epoch]
    return float(v[len(v) // 2:].mean())


def fid_at_updates(record: dict, updates: int) -> tuple[float, int]:
    """(FID, iteration) of the evaluation whose D+G update count is nearest ``updates``."""
    e = min(record["evals"], key=lambda e: abs(e["d_steps"] + e["g_steps"] - updates))
    return e["fid"], e["iteration"]


def _fid_compare(runs: dict, a: str, b: str, at: int, seeds: list[int]) -> tuple[list[int], dict]:
    """compare_over_seeds of arm a against arm b on FID at iteration ``at``, with the numbers."""
    qa = [runs[a][s]["measured"][at] for s in seeds]
    qb = [runs[b][s]["measured"][at] for s in seeds]
    out = compare_over_seeds([q["fid"] for q in qa], [q["fid"] for q in qb],
                             [q["fid_noise"] for q in qa], [q["fid_noise"] for q in qb])
    return out, {f"fid_{a}": [q["fid"] for q in qa], f"fid_{b}": [q["fid"] for q in qb],
                 "fid_noise": [max(x["fid_noise"], y["fid_noise"]) for x, y in zip(qa, qb)], "per_seed": out}


def sweep_claims(runs: dict[str, dict[int, dict]], seeds: list[int], protocol: int, collapse: dict,
                 real_between: float) -> list[dict]:
    """The document's claims, each judged on every seed with the rule of :mod:`gan_helpers.evaluate`.

    ``runs[arm name][seed]`` is :func:`train_arm`'s record; ``protocol`` the document's last sample point
    (400 iterations); ``collapse`` the thresholds ``diversity_below`` and ``near_duplicates_above``;
    ``real_between`` the share of real mice whose coat reads as between grey and white."""
    ratios = sorted({r["ratio"] for arm in runs.values() for r in arm.values() if "+" not in r["arm"]})
    names = [f"{r}:1" for r in ratios]
    first = min(r["iterations"] for arm in runs.values() for r in arm.values())  # every arm reached this
    epochs = int(runs[names[0]][seeds[0]]["history"]["epoch"][first - 1]) + 1  # Figure 1 over those epochs
    claims = []

    # 1. the log ratio nears 0 as the advantage grows, 50:1 closest to parity
    dist = {n: [late_abs_log_ratio(runs[n][s]["log_loss_ratio"], epochs or None) for s in seeds] for n in names}
    mono = [all(dist[a][i] > dist[b][i] for a, b in zip(names, names[1:])) for i in range(len(seeds))]
    largest = [min(names, key=lambda n: dist[n][i]) == names[-1] for i in range(len(seeds))]
    v = all_seeds_verdict(mono)  # monotone in every seed; "partly" also where the largest ratio is merely closest
    claims.append(claim("The log of the G:D loss ratio nears 0 as the generator's advantage grows; 50:1 is closest to parity",
                        f"{SOURCE}, Figure 1 and Results", "partly" if v == "does not hold" and any(largest) else v,
                        {"mean_abs_log10_ratio_late": dist, "monotone_per_seed": mono,
                         "largest_ratio_closest_per_seed": largest, "over_first_iterations": first}))

    # 2. 4:1 better than 2:1, at the document's iteration and where both were trained on to
    both = min(runs[n][seeds[0]]["iterations"] for n in ("2:1", "4:1")) if {"2:1", "4:1"} <= set(runs) else 0
    for at in [protocol] + ([both] if both > protocol else []):
        where = f"after {at} iterations, " + ("as Figures 3 and 5" if at == protocol else "both trained on")
        if all(at in runs[n][s]["measured"] for n in ("2:1", "4:1") for s in seeds):
            out, ev = _fid_compare(runs, "4:1", "2:1", at, seeds)
            claims.append(claim(f"4:1 gives better images than the default 2:1 ({where})", f"{SOURCE}, Figures 2-5",
                                better_verdict(out), ev))

    # 3. the gain is non-linear: 50:1 only marginally better than 4:1, at the 50:1 arm's last iteration
    if {"2:1", "4:1", "50:1"} <= set(runs):
        at = runs["50:1"][seeds[0]]["iterations"]
        f = {n: [runs[n][s]["measured"][at]["fid"] for s in seeds] for n in ("2:1", "4:1", "50:1")}
        noise = [runs["50:1"][s]["measured"][at]["fid_noise"] for s in seeds]
        ready = [all(learned(runs[n][s]["measured"][at]) for n in ("2:1", "4:1", "50:1")) for s in seeds]
        per_seed = ["inconclusive" if not ready[i] else verdict(
            (f["2:1"][i] - f["4:1"][i]) > 2 * noise[i] and (f["4:1"][i] - f["50:1"][i]) < (f["2:1"][i] - f["4:1"][i])
            and f["50:1"][i] <= f["4:1"][i] + 2 * noise[i]) for i in range(len(seeds))]
        claims.append(claim(f"The gain is non-linear: 50:1 is only marginally better than 4:1 (after {at} iterations)",
                            f"{SOURCE}, Discussion", combine_verdicts(per_seed),
                            {"fid": f, "fid_noise_50": noise, "per_seed": per_seed,
                             "precision": {n: [runs[n][s]["measured"][at]["precision"] for s in seeds] for n in ("2:1", "4:1", "50:1")},
                             "rule": "2:1 -> 4:1 gains beyond 2x noise, 4:1 -> 50:1 gains less, and 50:1 is not worse; "
                                     f"inconclusive in a seed where an arm has not learned (precision < {LEARNED_PRECISION})"}))

    # 4. mode collapse at every ratio (at the protocol iteration)
    def collapsed(q):
        return bool(q["diversity_ratio"] < collapse["diversity_below"] or q["near_duplicate_rate"] > collapse["near_duplicates_above"]
                    or q.get("coats_covered", 3) < 3)
    counted = [n for n in names if all(learned(measured_at(runs[n][s], protocol)) for s in seeds)]
    col = {n: [collapsed(measured_at(runs[n][s], protocol)) for s in seeds] for n in counted}
    every = [bool(counted) and all(col[n][i] for n in counted) for i in range(len(seeds))]
    some = any(any(c) for c in col.values())
    v = all_seeds_verdict(every)
    claims.append(claim(f"Mode collapse is seen at every ratio (after {protocol} iterations, or where an arm stopped)", f"{SOURCE}, Results and Discussion",
                        v if v != "does not hold" or not some else "partly",
                        {"collapsed": col, "not_counted_not_learned": [n for n in names if n not in counted],
                         "diversity_ratio": {n: [measured_at(runs[n][s], protocol)["diversity_ratio"] for s in seeds] for n in names},
                         "near_duplicate_rate": {n: [measured_at(runs[n][s], protocol)["near_duplicate_rate"] for s in seeds] for n in names},
                         "thresholds": collapse}))

    # 5. no coat between grey and white, at each arm's last measurement
    if "share_between_grey_white" in measured_at(runs[names[0]][seeds[0]], protocol):
        limit = max(0.02, 2 * real_between)
        share = {n: [a[s]["measured"][a[s]["iterations"]]["share_between_grey_white"] for s in seeds] for n, a in runs.items()}
        none_between = [all(share[n][i] <= limit for n in share) for i in range(len(seeds))]
        claims.append(claim("A GAN won't make a mouse whose coat is between grey and white", f"{SOURCE}, Caveats",
                            all_seeds_verdict(none_between),
                            {"share_between_grey_white": share, "limit": limit, "real_share_between": real_between}))

    # 6. (beyond) an advantage beats 1:1 at an equal number of network updates (where the 1:1 run got that far)
    eq, outcomes = {}, []
    reach = min(max(e["d_steps"] + e["g_steps"] for e in runs["1:1"][s]["evals"]) for s in seeds)
    for n in names[1:]:
        at = min(protocol, runs[n][seeds[0]]["iterations"])
        upd = at * (1 + runs[n][seeds[0]]["ratio"])
        if upd <= reach:
            mine = [runs[n][s]["measured"][at]["fid"] for s in seeds]
            base = [fid_at_updates(runs["1:1"][s], upd)[0] for s in seeds]
            per_seed = compare_over_seeds(mine, base, margin=0.05 * float(np.mean(base)))
            eq[n] = {"iteration": at, "updates": upd, "fid": mine, "fid_1_1": base, "per_seed": per_seed}
            outcomes += per_seed
    if eq:
        claims.append(claim("A generator advantage beats 1:1 at equal compute (same number of network updates)",
                            "beyond the document", better_verdict(outcomes),
                            {"by_ratio": eq, "rule": "per ratio and seed: FID lower than 1:1's by more than 5% of it"}))

    # 7. (beyond) DiffAugment, what later work found for GANs on a few hundred images
    da = "1:1 + DiffAugment"
    if da in runs:
        at = runs[da][seeds[0]]["iterations"]
        out, ev = _fid_compare(runs, da, "1:1", at, seeds)
        claims.append(claim(f"DiffAugment (Zhao et al. 2020) gives better images than the plain 1:1 DCGAN on 192 images "
                            f"(after {at} iterations)", "beyond the document", better_verdict(out), ev))
    return claims


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
