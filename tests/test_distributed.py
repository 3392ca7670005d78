"""The trainer under torchrun (gloo, 2 CPU processes): ranks in lockstep, batch norm over the global batch, the same
run as one process at the same global batch, and checkpoints that resume on any number of processes.

Tolerance (float32, stated in gan_helpers.distributed and the README): with batch norm synchronised, a 2-process
run and a 1-process run at the same global batch differ only in the order of float sums: parameters within
``TOL`` = 1e-5 and losses within 1e-5 relative after a few iterations (measured: 4e-7). DiffAugment, the joint
batch and S3GAN's rotations are per slice under torchrun (each process transforms / rotates its own images), so
those runs are compared rank against rank (identical), not against one process.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).parents[1]
TOL = 1e-5
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def launch(args: list[str], nproc: int, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=nproc ARGS`` (``python ARGS`` for one process)."""
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 \
        else [sys.executable]
    done = subprocess.run(head + args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def lockstep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lockstep")
    for n in (2, 1):
        launch([str(ROOT / "tests" / "distributed_worker.py"), str(folder / f"p{n}.json"), "4"], n, folder)
    return folder


def test_sync_batch_norm_equals_batch_norm_on_the_whole_batch(lockstep):
    diffs = json.loads((lockstep / "p2.json").read_text())["syncbn"]
    assert max(diffs.values()) < 1e-5, diffs  # outputs, input and weight gradients, running statistics


@pytest.mark.parametrize("kind", ["dcgan", "dcgan_plain", "s3gan"])
def test_ranks_hold_identical_weights_after_every_iteration(lockstep, kind):
    two = json.loads((lockstep / "p2.json").read_text())
    assert two["world_size"] == 2 and two[kind]["local_batch"] == 8
    assert two[kind]["max_rank_difference"] == 0.0  # gathered after each of 4 iterations, parameters and buffers


def test_two_processes_and_one_agree_at_the_same_global_batch(lockstep):
    two, one = (json.loads((lockstep / f"p{n}.json").read_text())["dcgan_plain"] for n in (2, 1))
    for key in ("d_loss", "g_loss"):
        assert two["history"][key] == pytest.approx(one["history"][key], rel=TOL)
    a, b = (torch.load(lockstep / f"p{n}_dcgan_plain.pt") for n in (2, 1))
    for net in ("G", "D"):
        for name, v in a[net].items():
            assert torch.allclose(v.float(), b[net][name].float(), atol=TOL, rtol=0), (net, name)


def test_a_process_that_joined_a_group_ends_with_its_code_and_keeps_its_output(tmp_path):
    """distributed.exit skips Python's shutdown (where gloo's threads can abort the process) with os._exit; what the
    process printed without a flush still comes out, and its exit code is kept."""
    script = tmp_path / "ends.py"
    script.write_text("import sys, torch\nfrom gan_helpers import distributed\n"
                      "w = distributed.init_from_env(torch.device('cpu'))\n"
                      "t = torch.ones(3)\ntorch.distributed.all_reduce(t)\n"
                      "print(f'[rank {w.rank} of {w.size}: {int(t[0])}]', end='')\n"  # no newline, no flush
                      "distributed.exit(int(sys.argv[1]))\n")
    done = launch([str(script), "0"], 2, tmp_path)
    assert "[rank 0 of 2: 2]" in done.stdout and "[rank 1 of 2: 2]" in done.stdout
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), "3"]
    failed = subprocess.run(head, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "exitcode  : 3" in failed.stderr, failed.stderr[-2000:]


def test_outside_a_process_group_exit_is_sys_exit():
    from gan_helpers import distributed

    with pytest.raises(SystemExit) as stop:
        distributed.exit(4)
    assert stop.value.code == 4


# ----------------------------------------------------------------------------- python -m gan_helpers.tools.train
# amp off: TOL is float32's (on a CPU with AVX512-BF16, bf16 autocast put a 1-process resume outside it; on one
# without, amp fell back to float32 and the test passed, so it depended on the host)
CONFIG = dict(dataset="mice", n_train=48, image_size=32, nz=16, ngf=8, ndf=8, batch_size=16, checkpoint_every=3,
              sample_at=[2], n_samples=4, amp=False)


def train(folder: Path, nproc: int, iterations: int, out: str) -> dict:
    cfg = folder / "config.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    launch(["-m", "gan_helpers.tools.train", "-f", str(cfg), "-p", "iterations", str(iterations),
            "-p", "output_dir", str(folder / out)], nproc, folder)
    return json.loads((folder / out / "results.json").read_text())


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    return folder, train(folder, 2, 6, "straight")


def weights(path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    return {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}


def test_torchrun_entry_point_writes_checkpoint_samples_and_results(straight):
    folder, results = straight
    assert results["world_size"] == 2 and results["local_batch"] == 8 and results["iterations"] == 6
    assert results["parameters"]["batch_size"] == 16 and len(results["history"]["d_loss"]) == 6
    out = folder / "straight"
    assert (out / "checkpoint.pt").is_file() and not (out / "INCOMPLETE").exists()
    assert sorted(p.name for p in (out / "samples").glob("grid_*.png")) == ["grid_000002.png", "grid_000006.png"]
    assert len(list((out / "samples" / "final").glob("*.png"))) == 4


def test_an_interrupted_run_resumes_on_any_number_of_processes(straight):
    folder, results = straight
    first = train(folder, 2, 3, "interrupted")  # stopped after iteration 3 (its checkpoint is what a kill leaves)
    assert first["iterations"] == 3
    (folder / "on_one").mkdir()
    (folder / "on_one" / "checkpoint.pt").write_bytes((folder / "interrupted" / "checkpoint.pt").read_bytes())
    same = train(folder, 2, 6, "interrupted")  # resumed on 2 processes: the very same run
    one = train(folder, 1, 6, "on_one")  # resumed on 1 process: the same run up to float rounding
    assert same["resumed_from"] == 3 and one["resumed_from"] == 3 and one["world_size"] == 1
    assert same["history"]["d_loss"] == results["history"]["d_loss"]
    straight_w, same_w, one_w = (weights(folder / d / "checkpoint.pt") for d in ("straight", "interrupted", "on_one"))
    assert all(torch.equal(v, same_w[k]) for k, v in straight_w.items())
    assert all(torch.allclose(v.float(), one_w[k].float(), atol=TOL, rtol=0) for k, v in straight_w.items())
    assert one["history"]["d_loss"] == pytest.approx(results["history"]["d_loss"], rel=TOL)


def test_a_checkpoint_of_other_settings_is_refused(straight, tmp_path):
    folder, _ = straight
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes((folder / "straight" / "checkpoint.pt").read_bytes())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, "lr": 1e-3, "output_dir": str(tmp_path / "run"), "iterations": 8}))
    done = subprocess.run([sys.executable, "-m", "gan_helpers.tools.train", "-f", str(cfg)], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "checkpoint.pt was written with other settings (lr_d" in done.stderr


def test_unknown_parameters_and_bad_values_are_refused_before_any_work(tmp_path, capsys):
    from gan_helpers.tools.train import main

    for args, message in ((["-p", "iteration", "5"], "unknown parameter 'iteration'"),
                          (["-p", "batch_size", "0"], "batch_size = 0"),
                          (["-p", "lr", "8e-4x"], "lr = '8e-4x'")):
        with pytest.raises(SystemExit) as stop:
            main(["-p", "output_dir", str(tmp_path / "o"), *args])
        assert stop.value.code == 2 and message in capsys.readouterr().err
        assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- notebook 03's pool, sharded by rank
def test_pool_scores_from_two_processes_equal_one(standins, tmp_path):
    import csv
    import shutil

    from gan_helpers.models import Discriminator
    from gan_helpers.selftrain import replace_head, save_classifier

    pool = tmp_path / "pool"
    shutil.copytree(Path(standins["faces"]) / "unlabelled", pool)
    (pool / "broken.png").write_bytes(b"not a png")  # a file that cannot be read: skipped on whichever rank has it
    torch.manual_seed(0)
    clf = save_classifier(replace_head(Discriminator(8, 3, 32)), tmp_path / "classifier.pt", ndf=8, image_size=32)
    rows = {}
    for n in (1, 2):
        launch(["-m", "gan_helpers.tools.score_pool", "--classifier", str(clf), "--pool", str(pool),
                "--out", str(tmp_path / f"scores{n}.csv"), "--batch-size", "64"], n, tmp_path)
        with open(tmp_path / f"scores{n}.csv", newline="") as f:
            rows[n] = list(csv.DictReader(f))
    assert [r["path"] for r in rows[1]] == [r["path"] for r in rows[2]] and len(rows[1]) == 201
    assert [r["skipped"] != "" for r in rows[2]] == [r["path"].endswith("broken.png") for r in rows[2]]
    one = [float(r["p_good"]) for r in rows[1] if r["p_good"]]
    two = [float(r["p_good"]) for r in rows[2] if r["p_good"]]
    assert len(one) == 200 and two == pytest.approx(one, abs=1e-6)  # per file, whichever process scored it
