"""The claims engine: the rule over seeds, settings, tests, controls and the tables."""
import pytest

from gan_helpers import claims as C


@pytest.mark.parametrize("outcomes,verdict", [
    ([1, 1, 1], "holds"),
    ([1, 1, 0], "partly"),          # supported in most seeds, never refuted
    ([1, 0, 0], "inconclusive"),    # one seed of three: a verdict never rests on one seed
    ([0.5, 0.5, 0.5], "partly"),
    ([0, 0, 0], "inconclusive"),
    ([1, -1, 1], "inconclusive"),   # the seeds disagree: it cannot hold
    ([-1, 0, 0], "inconclusive"),
    ([-1, -1, 0], "does not hold"),
    ([-1, -1, -1], "does not hold"),
    ([1], "inconclusive"),          # one seed
    ([], "not testable here"),
    ([None, None], "not testable here"),
    ([1, None, 1], "holds"),        # the testable seeds decide
    ([1, None, None], "inconclusive"),
])
def test_the_rule_over_seeds(outcomes, verdict):
    assert C.rule(outcomes) == verdict


def test_the_rule_refuses_unknown_outcomes():
    with pytest.raises(ValueError, match="outcome"):
        C.rule([2, 1])


@pytest.mark.parametrize("per,verdict", [
    ({"a": "holds", "b": "holds"}, "holds"),
    ({"a": "holds", "b": "does not hold"}, "partly"),
    ({"a": "inconclusive", "b": "does not hold"}, "does not hold"),
    ({"a": "not testable here", "b": "holds"}, "holds"),
    ({"a": "not testable here"}, "not testable here"),
    ({"a": "inconclusive", "b": "inconclusive"}, "inconclusive"),
])
def test_settings_combine(per, verdict):
    assert C.combine_settings(per) == verdict


def test_thresholds_are_named_once_with_a_reason():
    t = C.Threshold("x", 0.5, "because")
    assert float(t) == 0.5
    with pytest.raises(ValueError, match="declared twice"):
        C.declare(t, C.Threshold("x", 1.0, "other"))
    with pytest.raises(ValueError, match="rationale"):
        C.Threshold("y", 1.0, "")


def rec(a, b, na=1.0, nb=1.0, learned=(True, True)):
    return {"A": {"fid": a, "fid_noise": na, "learned": learned[0]}, "B": {"fid": b, "fid_noise": nb, "learned": learned[1]}}


def test_compare_counts_only_beyond_the_declared_noise():
    t = C.Compare("fid", "A", "B")
    assert t.judge(rec(10, 20)).value == 1      # 10 better by 10 > 2 x 1
    assert t.judge(rec(19, 20)).value == 0      # within noise
    assert t.judge(rec(30, 20)).value == -1
    assert C.Compare("fid", "A", "B", higher_is_better=True).judge(rec(30, 20)).value == 1
    m = C.Threshold("m", 5.0, "a margin")
    assert C.Compare("fid", "A", "B", margin=m).judge(rec(14, 20)).value == 0  # 6 < 2 + 5


def test_an_arm_that_has_not_learned_makes_the_seed_not_testable():
    with pytest.raises(C.NotTestable, match="B had not learned"):
        C.Compare("fid", "A", "B").judge(rec(10, 20, learned=(True, False)))
    claim = C.Claim("k", "A beats B", "doc", C.Compare("fid", "A", "B"))
    out = C.judge([claim], {0: rec(10, 20, learned=(True, False)), 1: rec(10, 20, learned=(True, False))})[0]
    assert out["verdict"] == "not testable here" and "B had not learned" in out["evidence"]["not_testable"][0]


def test_two_readers_that_disagree_tie():
    r = {"A": {"acc[cnn]": 0.9, "acc[knn]": 0.5, "learned": True}, "B": {"acc[cnn]": 0.5, "acc[knn]": 0.9, "learned": True}}
    t = C.Compare("acc", "A", "B", higher_is_better=True, noise=None, readers=("cnn", "knn"))
    o = t.judge(r)
    assert o.value == 0 and o.evidence["readers_disagree"]
    r["A"]["acc[knn]"] = 0.95
    assert t.judge(r).value == 1


def test_property_with_partly_and_noise():
    hi, lo = C.Threshold("hi", 0.8, "high"), C.Threshold("lo", 0.2, "chance x 2")
    t = C.Property("acc", "A", hi, partly=lo)
    r = lambda v: {"A": {"acc": v, "acc_noise": 0.02, "learned": True}}
    assert [t.judge(r(v)).value for v in (0.85, 0.8, 0.5, 0.1)] == [1, 1, 0.5, -1]
    tn = C.Property("acc", "A", hi, noise="{metric}_noise")
    assert [tn.judge(r(v)).value for v in (0.85, 0.79, 0.7)] == [1, 0, -1]  # 0.79 within 2 x 0.02 of 0.8
    at_most = C.Property("acc", "A", lo, at_least=False)
    assert at_most.judge(r(0.1)).value == 1 and at_most.judge(r(0.3)).value == -1


def test_paired_mcnemar():
    t = C.Paired("mc", "A", "B")
    assert t.judge({"mc": {"only_a_right": 30, "only_b_right": 5}}).value == 1
    assert t.judge({"mc": {"only_a_right": 5, "only_b_right": 30}}).value == -1
    assert t.judge({"mc": {"only_a_right": 6, "only_b_right": 5}}).value == 0


def test_all_of_and_partial():
    hi = C.Threshold("hi", 0.5, "half")
    p1, p2 = C.Property("x", None, hi), C.Property("y", None, hi)
    assert C.AllOf((p1, p2)).judge({"x": 0.9, "y": 0.1}).value == -1
    assert C.AllOf((p1, p2), partial=True).judge({"x": 0.9, "y": 0.1}).value == 0.5
    assert C.AllOf((p1, p2)).judge({"x": 0.9, "y": 0.9}).value == 1


def test_a_failed_control_makes_its_claims_not_testable_and_tables_render():
    claim = C.Claim("k", "A beats B", "doc", C.Compare("fid", "A", "B"))
    ok = C.Control("fid", "FID", "noisy", "real", 9.0, 1.0, True, "noisy > real")
    records = {s: rec(10, 20) for s in (0, 1, 2)}
    assert C.judge([claim], records, [ok])[0]["verdict"] == "holds"
    bad = C.Control("fid", "FID", "noisy", "real", 1.0, 9.0, False, "noisy > real")
    judged = C.judge([claim], records, [bad])
    assert judged[0]["verdict"] == "not testable here" and "control" in judged[0]["evidence"]["not_testable"]["fid"]
    t = C.claims_table([claim], judged)
    assert list(t.columns) == ["claim", "test", "thresholds", "per seed", "verdict"]
    assert "NO" in C.controls_table([bad]).loc[0, "passed"]
    assert C.thresholds_table([C.NOISE_FACTOR]).loc["noise_factor", "value"] == 2.0


def test_settings_claim_and_smoke_flag():
    claim = C.Claim("k", "A beats B and C", "doc",
                    settings={"B": C.Compare("fid", "A", "B"), "C": C.Compare("fid", "A", "C")})
    records = {s: {**rec(10, 20), "C": {"fid": 5.0, "fid_noise": 1.0, "learned": True}} for s in (0, 1)}
    out = C.judge([claim], records, smoke=True)[0]
    assert out["evidence"]["per_setting"] == {"B": "holds", "C": "does not hold"} and out["verdict"] == "partly"
    assert out["evidence"]["scale"] == "smoke"
    assert len(C.claims_table([claim], [out])) == 3


def test_no_threshold_literal_in_any_claims_function():
    """Every number a verdict uses is a declared Threshold: the claims functions of every experiment (the rules
    and the declarations) hold no float literal but the outcomes themselves (1, 0.5, 0, -1)."""
    import ast
    import importlib
    import inspect

    outcomes = {1.0, 0.5, 0.0, -1.0}
    for name in ("ratio_sweep", "filtering", "selftrain", "fewer_labels", "techniques"):
        mod = importlib.import_module(f"gan_helpers.experiments.{name}")
        fns = [f for n, f in inspect.getmembers(mod, inspect.isfunction) if f.__module__ == mod.__name__
               and (n.endswith("_rule") or n in ("declare_claims", "records") or n.startswith("_is_"))]
        assert fns, name
        for fn in fns:
            tree = ast.parse(inspect.getsource(fn).lstrip())
            nums = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)
                    and abs(n.value) > 1e-6}  # guards against log(0) or division by zero are not thresholds
            assert nums <= outcomes, (name, fn.__name__, nums - outcomes)


def test_the_digest_lists_every_claim_with_its_seeds_numbers_in_seed_order(tmp_path):
    import json

    multi = C.Claim("m", "A beats B and C", "doc",
                    settings={"vs B": C.Compare("fid", "A", "B"), "vs C": C.Compare("fid", "A", "C")})
    records = {s: {**rec(10 + s, 20), "C": {"fid": 5.0, "fid_noise": 1.0, "learned": True}} for s in (0, 1, 2)}
    records[2]["B"]["learned"] = False  # seed 2 is not testable where B is read
    plain = C.Claim("a", "A beats B", "doc", C.Compare("fid", "A", "B"), requires=("A", "B"))
    judged = C.judge([plain, multi], records)
    text = C.verdict_digest(judged)
    lines = text.splitlines()
    assert lines[0] == f"* **{judged[0]['verdict']}**: A beats B"
    assert "fid: A 10/11/-, B 20/20/-" in lines[1] and "not testable: seed 2:" in lines[1]
    assert lines[2] == f"* **{judged[1]['verdict']}**: A beats B and C"
    assert lines[3].startswith(f"    * vs B, **{judged[1]['evidence']['per_setting']['vs B']}**: seeds 0/1/2:")
    assert "fid: A 10/11/12, C 5/5/5" in lines[4] and len(lines) == 5
    assert "needed" not in text and "noise" not in text and "outcome" not in text
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"claims": judged}))
    assert C.verdict_digest(path) == text == C.verdict_digest(str(path))
    bad = C.Control("fid", "FID", "noisy", "real", 1.0, 9.0, False, "noisy > real")
    assert C.verdict_digest(C.judge([plain], records, [bad])).splitlines() == [
        "* **not testable here**: A beats B", "    * not testable: fid: the metric failed its control (FID)"]
