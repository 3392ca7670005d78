"""Notebook 01's experiment: arms, one real (tiny) training per arm, and the claims over seeds."""
import numpy as np
import pytest

from gan_helpers.experiments import ratio_sweep as rs


def test_arms_follow_the_ratios_and_add_diffaugment():
    arms = rs.make_arms([1, 2, 4, 50], [1000, 600, 600, 100])
    assert [(a.name, a.iterations) for a in arms] == [("1:1", 1000), ("2:1", 600), ("4:1", 600), ("50:1", 100),
                                                      ("1:1 + DiffAugment", 1000)]
    assert rs.arm_cost(arms[3]) > rs.arm_cost(arms[0])  # 50:1 starts first
    assert len(rs.make_arms([2], [10], diffaugment=False)) == 1


@pytest.fixture(scope="module")
def tiny_record():
    from gan_helpers.datasets import make_mouse_faces
    from gan_helpers.datasets.mice import mouse_attribute_labels
    from gan_helpers.evaluate import Evaluator
    from gan_helpers.features import train_domain_classifier

    train = make_mouse_faces(32, 32, seed=0)
    ref = make_mouse_faces(40, 32, seed=1)
    ev = Evaluator(train_domain_classifier(ref.images, mouse_attribute_labels(ref), epochs=1, seed=0), ref.images,
                   n_samples=24)
    return rs.train_arm(rs.Arm(2, 6), 0, train.images, ev, [2, 4], {"nz": 8, "ngf": 4, "ndf": 4},
                        {"batch_size": 8, "amp": False}, eval_every=2)


def test_train_arm_measures_at_the_sample_points_and_the_end(tiny_record):
    r = tiny_record
    assert sorted(r["measured"]) == [2, 4, 6] and (r["d_steps"], r["g_steps"]) == (6, 12)
    assert {"fid", "fid_noise", "coverage", "share_between_grey_white"} <= set(r["measured"][6])
    assert [e["iteration"] for e in r["evals"]] == [2, 4, 6]
    assert set(r["grids"]) == {2, 4, 6} and r["final_samples"].shape == (24, 3, 32, 32)
    assert len(r["log_loss_ratio"]) >= 1  # Figure 1, up to the document's window (4 iterations)


def record(ratio, iterations, fid, noise=1.0, seed=0, between=0.0, diversity=0.9, augment=False, precision=0.3):
    """A synthetic train_arm record: FID per measured iteration, and an evaluation curve over updates."""
    measured = {it: {"fid": f, "fid_noise": noise, "kid": f / 100, "diversity_ratio": diversity, "precision": precision,
                     "near_duplicate_rate": 0.0, "coats_covered": 3, "share_between_grey_white": between}
                for it, f in fid.items()}
    evals = [{"iteration": it, "d_steps": it, "g_steps": it * ratio, "fid": f} for it, f in sorted(fid.items())]
    epochs = np.repeat(np.arange(iterations // 3 + 1), 3)[:iterations]
    return {"arm": f"{ratio}:1" + (" + DiffAugment" if augment else ""), "seed": seed, "ratio": ratio,
            "iterations": iterations, "measured": measured, "evals": evals,
            "log_loss_ratio": list(np.linspace(1.0, 0.1, iterations // 3) / ratio),
            "history": {"epoch": epochs.tolist()}}


def sweep(seeds=(0, 1, 2), fid4=50.0, fid_da=20.0):
    runs = {}
    for s in seeds:
        runs.setdefault("1:1", {})[s] = record(1, 1000, {100: 120, 400: 80, 1000: 30, 1250: 28, 2000: 25}, seed=s)
        runs.setdefault("2:1", {})[s] = record(2, 600, {100: 110, 400: 60, 600: 40}, seed=s)
        runs.setdefault("4:1", {})[s] = record(4, 600, {100: 100, 400: fid4, 600: fid4 - 10}, seed=s)
        runs.setdefault("50:1", {})[s] = record(50, 100, {100: 99}, seed=s)
        runs.setdefault("1:1 + DiffAugment", {})[s] = record(1, 1000, {100: 120, 400: 70, 1000: fid_da}, seed=s, augment=True)
    return runs


def verdicts(runs, seeds=(0, 1, 2)):
    claims = rs.sweep_claims(runs, list(seeds), 400, {"diversity_below": 0.8, "near_duplicates_above": 0.05}, 0.0)
    return {c["claim"][:34]: c["verdict"] for c in claims}, claims


def test_claims_from_every_seed():
    v, claims = verdicts(sweep())
    assert v["The log of the G:D loss ratio near"] == "holds"  # monotone in every seed
    # at 400 iterations 4:1 wins beyond noise in every seed; at 600 the two tie
    assert [c["verdict"] for c in claims if c["claim"].startswith("4:1 gives better")] == ["holds", "inconclusive"]
    assert v["The gain is non-linear: 50:1 is on"] == "holds"  # 2->4 gains 10, 4->50 only 1, within noise
    assert v["Mode collapse is seen at every rat"] == "does not hold"
    assert v["A GAN won't make a mouse whose coa"] == "holds"
    # at equal updates 2:1 beats 1:1 (60 vs 80) but 4:1 loses (50 vs 30): the ratios disagree
    assert v["A generator advantage beats 1:1 at"] == "inconclusive"
    assert v["DiffAugment (Zhao et al. 2020) giv"] == "holds"
    for c in claims:  # the evidence has every seed's numbers
        assert per_seed_somewhere(c["evidence"], 3), c["claim"]


def per_seed_somewhere(ev, n) -> bool:
    """Somewhere in the evidence, a list or dict with one entry per seed."""
    if isinstance(ev, (list, dict)) and len(ev) == n:
        return True
    items = ev.values() if isinstance(ev, dict) else ev if isinstance(ev, list) else []
    return any(per_seed_somewhere(x, n) for x in items)


def test_a_comparison_cannot_hold_where_the_seeds_disagree():
    runs = sweep()
    runs["4:1"][1]["measured"][400]["fid"] = 90.0  # seed 1: 4:1 worse than 2:1 beyond noise
    _, claims = verdicts(runs)
    assert next(c for c in claims if c["claim"].startswith("4:1 gives better"))["verdict"] == "inconclusive"


def test_within_noise_is_inconclusive_and_a_coat_between_counts():
    _, claims = verdicts(sweep(fid4=59.5))
    assert claims[1]["claim"].startswith("4:1 gives better") and claims[1]["verdict"] == "inconclusive"
    runs = sweep()
    runs["2:1"][2]["measured"][600]["share_between_grey_white"] = 0.2
    v, _ = verdicts(runs)
    assert v["A GAN won't make a mouse whose coa"] == "partly"


def test_measured_at_falls_back_to_the_arms_end():
    r = record(50, 100, {100: 99})
    assert rs.measured_at(r, 400)["fid"] == 99 and rs.measured_at(r, 100)["fid"] == 99


def test_curve_summary_table():
    doc = {"runs": [{"setting": "dcgan", "seed": s, "iterations": [400, 800], "fid": [20.0 + s, 10.0], "train_s": 40.0}
                    for s in range(3)]}
    t = rs.curve_summary(doc, at=(400, 800))
    assert t.loc["dcgan", "FID @400"] == "21.0 ± 1.0" and t.loc["dcgan", "s / 100 it."] == 5.0


def test_arms_that_have_not_learned_are_not_compared_or_counted_as_collapsed():
    runs = sweep()
    for s in (0, 1, 2):  # 50:1 after 100 iterations: noise, far from the data (and "low diversity")
        runs["50:1"][s]["measured"][100].update(precision=0.001, diversity_ratio=0.1)
    v, claims = verdicts(runs)
    assert v["The gain is non-linear: 50:1 is on"] == "inconclusive"
    col = next(c for c in claims if c["claim"].startswith("Mode collapse"))
    assert col["evidence"]["not_counted_not_learned"] == ["50:1"] and "50:1" not in col["evidence"]["collapsed"]
