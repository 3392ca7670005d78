"""The setup call every notebook makes: parameters collected and checked before any work, output folder."""
import json

import pytest
import torch

from gan_helpers.notebook import MARKER, ParameterError, check_parameters, collect_parameters, setup
from gan_helpers.results import write_results


def test_collects_plain_values_only():
    import os

    ns = {"iterations": 10, "seeds": [0, 1], "lr": 2e-4, "name": "x", "flag": True, "nothing": None,
          "os": os, "f": print, "_hidden": 1, "In": [], "Out": {}, "cfg": {"a": 1}}
    assert collect_parameters(ns) == {"iterations": 10, "seeds": [0, 1], "lr": 2e-4, "name": "x", "flag": True,
                                      "nothing": None, "cfg": {"a": 1}}


@pytest.mark.parametrize("name,value,message", [
    ("iterations", 0, "iterations = 0: must be an integer >= 1"),
    ("iterations", 2.5, "iterations = 2.5: must be an integer >= 1"),
    ("seeds", [-1], "seeds = \\[-1\\]: must be a list whose every entry is an integer >= 0"),
    ("seeds", [0, 0], "must be a list of distinct values"),
    ("seeds", [], "must be a non-empty list"),
    ("seed", -1, "seed = -1: must be an integer >= 0"),
    ("ratios", [1, 0], "ratios = \\[1, 0\\]"),
    ("ratios", [2.5], "ratios"),
    ("image_size", 48, "image_size = 48: must be one of \\[32, 64\\]"),
    ("lr", 0, "lr = 0: must be a number in \\(0"),
    ("device", "gpu", "device = 'gpu'"),
    ("augment", "colour", "augment = 'colour'"),
    ("ema_decay", 1.0, "ema_decay = 1.0: must be a number in \\[0"),
])
def test_bad_values_name_the_parameter_and_what_is_allowed(name, value, message):
    with pytest.raises(ParameterError, match=message):
        check_parameters({name: value})


def test_every_problem_is_listed_at_once():
    with pytest.raises(ParameterError, match="iterations = 0.*seed = -1"):
        check_parameters({"iterations": 0, "seed": -1})


def test_notebook_checks_extend_the_vocabulary():
    with pytest.raises(ParameterError, match="t_bad = 2: must be below 1"):
        check_parameters({"t_bad": 2}, {"t_bad": lambda v, params: None if v < 1 else "below 1"})


def test_setup_refuses_before_touching_the_output_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ParameterError):
        setup({"iterations": -5, "output_dir": str(out)}, verbose=False)
    assert not out.exists()


def test_an_interrupted_run_leaves_no_stale_results(tmp_path):
    out = tmp_path / "out"
    first = setup({"iterations": 2, "output_dir": str(out)}, verbose=False)
    write_results(out, first.parameters, 1.0, [])  # a previous run's results
    run = setup({"iterations": 3, "output_dir": str(out)}, verbose=False)
    assert not (out / "results.json").exists() and (out / MARKER).exists()
    assert (out / "previous" / "results.json").exists()  # set aside, not deleted
    assert run.parameters == {"iterations": 3, "output_dir": str(out)}
    write_results(out, run.parameters, 1.0, [])
    assert json.loads((out / "results.json").read_text())["parameters"]["iterations"] == 3
    assert not (out / MARKER).exists()


def test_setup_prints_threads(tmp_path, capsys):
    setup({"output_dir": str(tmp_path)})
    assert "torch threads:" in capsys.readouterr().out


def test_setup_says_whether_bf16_runs(tmp_path, capsys):
    """bf16 autocast or float32 changes a run's speed and numbers; the setup line says which this machine ran."""
    from gan_helpers.runtime import amp_enabled

    setup({"amp": True, "output_dir": str(tmp_path / "a")})
    on = amp_enabled(True, torch.device("cpu"))
    assert f"bf16 autocast: {'on' if on else 'off (float32)'}" in capsys.readouterr().out
    setup({"amp": False, "output_dir": str(tmp_path / "b")})
    assert "bf16 autocast: off (float32)" in capsys.readouterr().out


def test_notebook_checks_see_the_other_parameters():
    from gan_helpers.notebook import int_rule, list_of

    checks = {"arm_iterations": list_of(int_rule(1), length_of="ratios")}
    check_parameters({"ratios": [1, 2], "arm_iterations": [10, 20]}, checks)
    with pytest.raises(ParameterError, match="one entry per entry of ratios"):
        check_parameters({"ratios": [1, 2], "arm_iterations": [10]}, checks)
    with pytest.raises(ParameterError, match="arm_iterations = \\[0, 5\\]"):
        check_parameters({"ratios": [1, 2], "arm_iterations": [0, 5]}, checks)


def test_the_smoke_scale_wins_over_injected_parameters(tmp_path):
    # what papermill leaves in globals(): the parameters cell, then a preset injected after it
    ns = {"smoke": True, "iterations": 2000, "seeds": [0, 1, 2], "image_size": 32, "output_dir": str(tmp_path),
          "smoke_scale": {"iterations": 12, "seeds": [0]}}
    ns.update({"iterations": 40000, "image_size": 64})  # -f configs/paper/NN.yaml
    run = setup(ns, verbose=False)
    assert (ns["iterations"], ns["seeds"], ns["image_size"]) == (12, [0], 64)  # the notebook's later cells see these
    assert run.parameters["iterations"] == 12 and run.parameters["image_size"] == 64  # what ran is what is recorded
    assert "smoke_scale" not in run.parameters and run.smoke_scale == {"iterations": 12, "seeds": [0]}
    full = {**ns, "smoke": False, "iterations": 40000, "seeds": [0, 1, 2]}
    run = setup(full, verbose=False)  # outside a smoke run the scale is ignored
    assert (full["iterations"], run.smoke_scale) == (40000, {})


def test_smoke_scale_names_must_be_parameters(tmp_path):
    ns = {"smoke": True, "iterations": 5, "output_dir": str(tmp_path), "smoke_scale": {"iteration": 1}}
    with pytest.raises(ParameterError, match="smoke_scale names 'iteration'"):
        setup(ns, verbose=False)
    with pytest.raises(ParameterError, match="must be a dict"):
        setup({**ns, "smoke_scale": [1]}, verbose=False)


def test_smoke_scale_follows_the_ci_variable(tmp_path, monkeypatch):
    ns = {"iterations": 5, "output_dir": str(tmp_path), "smoke_scale": {"iterations": 1}}
    monkeypatch.delenv("CI", raising=False)
    assert setup(dict(ns), verbose=False).parameters["iterations"] == 5
    monkeypatch.setenv("CI", "1")
    assert setup(dict(ns), verbose=False).parameters["iterations"] == 1
