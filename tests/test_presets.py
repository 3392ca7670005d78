"""Every paper preset (configs/paper/NN.yaml) executes end to end, at smoke scale, on stand-ins for the data sets
and weights that need the internet, in their real on-disk formats (gan_helpers.datasets.standins).

Each notebook runs as a user would run a preset (``CI=1 python -m gan_helpers.tools.nbexec NN.ipynb out.ipynb -f
configs/paper/NN.yaml``), in a copy of the notebook in a temporary folder (its outputs and ``data/cache`` go
there). The preset's own values (data set, image size, widths, feature network, ``amp``, ``device: auto``,
moving average, ...) stay; what is shrunk is the notebook's ``smoke_scale``, which setup() applies after the
injected preset, tightened here with ``batch_size`` and fewer iterations, arms and samples so that the five take
about a minute or two on two cores (full-width networks at 64 px cost ~1 s an iteration at batch 64 there).
The kernel skips torchvision's MD5 check of the stand-in files through an IPython startup file (the test's patch,
not the loader's). One worker process (GAN_WORKERS=1): the path a GPU run takes.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gan_helpers.datasets.standins import write_kernel_startup

ROOT = Path(__file__).parents[1]
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}

# per notebook: (parameters pointing at stand-ins, a tighter smoke_scale); `None` stands for a stand-in path
TIGHT = {
    "01": ({"dataset": "mousehead", "inception_weights": "inception"},
           dict(ratios=[1, 2], arm_iterations=[2, 1], sample_at=[1, 2], seeds=[0], eval_every=2, n_eval_samples=16,
                n_reference=16, batch_size=16)),
    "02": ({}, dict(iterations=2, seeds=[0], n_train=200, reweight_from=1, reweight_every=1, eval_every=2,
                    n_reference=64, n_eval_samples=64, batch_size=16)),
    "03": ({"dataset": "faces"}, dict(seeds=[0], gan_iterations=2, gan_pool_images=50, max_rounds=1, seed_epochs=1,
                                      eval_every=2, n_eval_samples=32, batch_size=16)),
    "04": ({}, dict(n_train=500, n_reference=300, seeds=[0], iterations=2, eval_every=2, n_eval_samples=50,
                    rotation_steps=2, scratch_steps=2, evaluator_epochs=1, probe_fractions=[0.1, 1.0],
                    label_fractions=[0.1, 0.2], batch_size=16)),
    "05": ({"dataset": "classes", "inception_weights": "inception"},
           dict(iterations=5, seeds=[0], variants=["baseline", "all"], eval_every=1, n_eval_samples=20,
                n_final_samples=20, is_splits=2, classifier_epochs=1, batch_size=16)),
}


def run_preset(nn: str, standins: dict, folder: Path, timeout: float = 600) -> tuple[dict, dict]:
    """Run notebook ``nn`` with its paper preset in ``folder`` on the stand-ins; returns (preset, results.json)."""
    nb = folder / NOTEBOOKS[nn].name
    shutil.copy(NOTEBOOKS[nn], nb)
    (folder / "data").mkdir()
    (folder / "data" / "cache").symlink_to(standins["cache"])  # where the notebooks' torchvision root points
    params, scale = TIGHT[nn]
    env = {**os.environ, "CI": "1", "GAN_WORKERS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           **write_kernel_startup(folder / "ipython")}
    preset = ROOT / "configs" / "paper" / f"{nn}.yaml"
    cmd = [sys.executable, "-m", "gan_helpers.tools.nbexec", str(nb), str(folder / "out.ipynb"), "-f", str(preset),
           "-y", yaml.safe_dump({"smoke_scale": scale, **{k: standins[v] for k, v in params.items()}})]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    values = yaml.safe_load(preset.read_text())
    out = folder / values.get("output_dir", f"outputs/{nn}")
    return values, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("nn", sorted(TIGHT))
def test_paper_preset_runs_at_smoke_scale_on_standins(nn, standins, tmp_path):
    preset, results = run_preset(nn, standins, tmp_path)
    ran = results["parameters"]
    _, scale = TIGHT[nn]
    for k, v in preset.items():  # the preset's values ran, except what the smoke scale shrinks
        if k not in scale and k != "output_dir":
            assert ran[k] == v, (k, ran[k], v)
    for k, v in scale.items():
        assert ran[k] == v, (k, ran[k], v)
    assert "smoke_scale" not in ran
    params, _ = TIGHT[nn]
    for k, v in params.items():
        assert ran[k] == standins[v]


@pytest.mark.parametrize("nn", sorted(TIGHT))
def test_preset_values_pass_the_shared_parameter_rules(nn):
    """YAML 1.1 reads ``8e-4`` (no dot) as a string: the notebooks would refuse it only after a GPU started."""
    from gan_helpers.notebook import check_parameters

    check_parameters(yaml.safe_load((ROOT / "configs" / "paper" / f"{nn}.yaml").read_text()))
