"""Every paper preset (configs/paper/NN.yaml) executes end to end, at smoke scale, on stand-ins for the data sets
and weights that need the internet, in their real on-disk formats (gan_helpers.tools.presets, which says how:
CI=1 nbexec -f the preset, the preset's own data set, image size, widths, feature network and device, a tighter
smoke_scale applied by setup() after the injected preset, torchvision's MD5 check skipped in the kernel only)."""
import pytest
import yaml

from gan_helpers.tools.presets import ROOT, TIGHT, run_preset, write_standins


@pytest.fixture(scope="module")
def standin_files(tmp_path_factory):
    return write_standins(tmp_path_factory.mktemp("standins"))


@pytest.mark.parametrize("nn", sorted(TIGHT))
def test_paper_preset_runs_at_smoke_scale_on_standins(nn, standin_files, tmp_path):
    report = run_preset(nn, standin_files, tmp_path)
    assert report["rc"] == 0, report["error"]
    ran, scale = report["ran"], report["smoke_scale"]
    for k, v in report["preset"].items():  # the preset's values ran, except what the smoke scale shrinks
        if k not in scale and k not in report["stand_ins"] and k != "output_dir":
            assert ran[k] == v, (k, ran[k], v)
    for k, v in {**scale, **report["stand_ins"]}.items():
        if k != "smoke_scale":
            assert ran[k] == v, (k, ran[k], v)
    assert "smoke_scale" not in ran


@pytest.mark.parametrize("nn", sorted(TIGHT))
def test_preset_values_pass_the_shared_parameter_rules(nn):
    """YAML 1.1 reads ``8e-4`` (no dot) as a string: the notebooks would refuse it only after a GPU started."""
    from gan_helpers.notebook import check_parameters

    check_parameters(yaml.safe_load((ROOT / "configs" / "paper" / f"{nn}.yaml").read_text()))
