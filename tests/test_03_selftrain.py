import dataclasses
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from gan_helpers.experiments.selftrain import consensus, mcnemar, selftrain_claims
from gan_helpers.images import ImageSet, read_image
from gan_helpers.images import from_uint8 as to_float
from gan_helpers.images import to_uint8
from gan_helpers.models import Discriminator, Generator
from gan_helpers.plots import plot_methods, plot_rounds, show_pool_thresholds
from gan_helpers.results import VERDICTS
from gan_helpers.runtime import CheckpointError
from gan_helpers.selftrain import (BAD, GOOD, UNREADABLE, UNSURE, GoodBadClassifier, ImagePool, SelfTrainConfig,
                                   SelfTraining, check_nothing_lost, compare_methods, load_discriminator, outcome_by_kind,
                                   read_lists, replace_head, threshold_effect, write_lists)
from gan_helpers.train import GANTrainer, TrainConfig
from gan_helpers.widgets import threshold_explorer


def toy(n, seed, bad_fraction=0.3):
    """An easy good/bad task on 8-bit images: good = a bright square in the centre, bad = a dark one."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) > bad_fraction).long()
    x = torch.randint(60, 120, (n, 3, 32, 32), generator=g).float()
    x[:, :, 8:24, 8:24] = torch.where(y.bool(), 230.0, 10.0)[:, None, None, None]
    return ImageSet(images=x / 127.5 - 1, labels=y, label_names=["bad", "good"])


def save_pngs(s: ImageSet, folder):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(to_uint8(s.images)):
        p = folder / f"{i:04d}.png"
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(p)
        paths.append(str(p))
    return paths


CFG = SelfTrainConfig(max_rounds=4, seed_epochs=10, round_epochs=1, batch_size=16, lr=5e-3, device="cpu")


@pytest.fixture(scope="module")
def runs():
    seed_set, pool, test = toy(96, 0, 0.1), toy(160, 1), toy(64, 2)
    torch.manual_seed(0)
    gan = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_images(pool.images), CFG, test,
                       pool.labels.numpy(), name="a").run(progress=False)
    torch.manual_seed(1)
    scr = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_images(pool.images),
                       dataclasses.replace(CFG, lr=0.0, seed_epochs=1), test, pool.labels.numpy(), name="b").run(progress=False)
    return gan, scr, pool


def test_replace_head_copies_the_body_and_leaves_the_discriminator_alone():
    D = Discriminator(8, 3, 32)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    m = replace_head(D)
    assert isinstance(m, GoodBadClassifier) and m.head.in_features == D.feature_dim
    for k, v in m.body.state_dict().items():
        assert torch.equal(v, D.body.state_dict()[k])
    x = torch.randn(5, 3, 32, 32)
    assert m(x).shape == (5,)
    torch.nn.functional.binary_cross_entropy_with_logits(m(x), torch.ones(5)).backward()
    torch.optim.SGD(m.parameters(), lr=1.0).step()
    assert all(torch.equal(v, before[k]) for k, v in D.state_dict().items())
    with pytest.raises(TypeError, match="Discriminator"):
        replace_head(torch.nn.Linear(2, 2))


def test_uint8_roundtrip_is_exact_for_8bit_images():
    u = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(u)), u)


def test_disk_pool_streams_the_same_images_and_reports_unreadable_files(tmp_path):
    s = toy(10, 3)
    paths = save_pngs(s, tmp_path / "pool")
    (tmp_path / "pool" / "0003.png").write_bytes(b"not a png")
    pool = ImagePool.from_paths(paths, 32)
    seen = {}
    for idx, ims in pool.batches(np.arange(10), batch_size=4):
        assert len(ims) <= 4
        for i, im in zip(idx, ims):
            seen[int(i)] = im
    assert sorted(seen) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert 3 in pool.skipped and "identify" in pool.skipped[3]
    assert torch.allclose(seen[5], read_image(paths[5], 32)) and torch.allclose(seen[5], s.images[5], atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        ImagePool.from_paths([], 32)


def test_loop_sorts_an_easy_pool_correctly(runs):
    gan, _, pool = runs
    r = gan.rounds
    assert r[0]["round"] == 0 and r[0]["moved_to_good"] == 0 and r[0]["labelled"] == gan.n_seed == 96 - len(gan.val_y)
    assert gan.stop_reason == "pool sorted" and r[-1]["pool_left"] == 0
    assert all(x["precision_moved"] == 1.0 for x in r[1:])
    sizes = [x["labelled"] for x in r]
    assert sizes == sorted(sizes) and sizes[-1] == gan.n_seed + 160
    assert (gan.status[pool.labels.numpy() == 1] == GOOD).all() and (gan.status[pool.labels.numpy() == 0] == BAD).all()
    assert r[-1]["test_accuracy"] == 1.0 and r[-1]["test_auc"] == 1.0


def test_moves_respect_the_thresholds(runs):
    gan, _, _ = runs
    first = gan.moved_round == 1
    p = gan.last_p
    assert (p[first & (gan.status == GOOD)] > CFG.t_good).all()
    assert (p[first & (gan.status == BAD)] < CFG.t_bad).all()


def test_a_classifier_that_is_never_sure_moves_nothing_and_stops(runs):
    _, scr, _ = runs  # lr = 0: the fresh head outputs p = 0.5 for everything
    assert scr.stop_reason == "nothing moved" and len(scr.rounds) == 2
    assert scr.rounds[1]["moved_to_good"] == scr.rounds[1]["moved_to_bad"] == 0
    assert (scr.status == UNSURE).all()


def test_disk_and_memory_pools_give_the_same_run(tmp_path):
    seed_set, pool, test = toy(64, 5, 0.1), toy(40, 6), toy(16, 7)
    paths = save_pngs(pool, tmp_path / "u")
    cfg = dataclasses.replace(CFG, max_rounds=2)
    out = []
    for p in (ImagePool.from_images(pool.images), ImagePool.from_paths(paths, 32)):
        torch.manual_seed(0)
        out.append(SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, p, cfg, test).run(progress=False))
    assert np.array_equal(out[0].status, out[1].status)
    assert np.allclose(out[0].last_p, out[1].last_p, atol=1e-5, equal_nan=True)


def test_unreadable_pool_files_are_set_aside_not_lost(tmp_path):
    seed_set, pool = toy(64, 5, 0.1), toy(12, 6)
    paths = save_pngs(pool, tmp_path / "u")
    (tmp_path / "u" / "0000.png").write_bytes(b"")
    run = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_paths(paths, 32),
                       dataclasses.replace(CFG, max_rounds=1)).run(progress=False)
    assert run.status[0] == UNREADABLE
    lists = write_lists(tmp_path / "out", run)
    assert "0000.png" in lists["unreadable"].read_text()
    listed = sum((lists[k].read_text().split() for k in ("good", "bad", "unsure")), [])
    assert sorted(listed) == sorted(paths[1:])


def test_write_lists_covers_every_image_once_and_never_moves_files(tmp_path):
    seed_set, pool = toy(64, 8, 0.1), toy(30, 9)
    paths = save_pngs(pool, tmp_path / "pool")
    before = sorted(p.name for p in (tmp_path / "pool").iterdir())
    run = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_paths(paths, 32),
                       dataclasses.replace(CFG, max_rounds=1)).run(progress=False)
    seed_ids = [f"seed/{i}" for i in range(64)]
    lists = write_lists(tmp_path / "out", run, seed_ids, seed_set.labels.tolist(), links=True)
    good, bad, unsure = (lists[k].read_text().split() for k in ("good", "bad", "unsure"))
    assert len(good) + len(bad) == 64 + int((run.status != UNSURE).sum())
    assert sorted(p for p in good + bad + unsure if not p.startswith("seed/")) == sorted(paths)
    assert sum(g.startswith("seed/") for g in good) == int(seed_set.labels.sum())
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == before
    links = list((tmp_path / "out" / "sorted").rglob("*.png"))
    assert len(links) == 30 and all(p.is_symlink() and p.resolve().parent == (tmp_path / "pool").resolve() for p in links)
    rows = lists["scores"].read_text().splitlines()
    assert rows[0] == "id,list,round_moved,last_p_good" and len(rows) == 31


def test_mcnemar_matches_the_exact_binomial_test():
    from gan_helpers.claims import Paired

    a = np.array([True] * 10 + [True] * 5 + [False] * 5)
    b = np.array([False] * 10 + [True] * 5 + [False] * 5)
    out = mcnemar(a, b)
    assert out["only_a_right"] == 10 and out["only_b_right"] == 0
    o = Paired("mc", "a", "b").judge({"mc": out})
    assert o.evidence["p_value"] == pytest.approx(2 * 0.5 ** 10) and o.value == 1
    assert Paired("mc", "a", "a").judge({"mc": mcnemar(a, a)}).evidence["p_value"] == 1.0
    with pytest.raises(ValueError, match="paired"):
        mcnemar(a, b[:3])


def test_early_stopping_restores_the_best_epoch_and_records_both_accuracies(runs):
    gan, _, _ = runs
    r0 = gan.rounds[0]
    assert 1 <= r0["epochs"] <= r0["epochs_run"] <= CFG.seed_epochs
    assert r0["val_accuracy"] is not None and r0["train_accuracy"] is not None
    from gan_helpers.fit import Fitter

    net = torch.nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 32)[:, None]
    f = Fitter(net, lambda idx, g: (x[idx], 2 * x[idx]), torch.nn.functional.mse_loss, lr=0.05, seed=0)
    losses = iter([5.0, 3.0, 1.0, 2.0, 2.5, 3.0, 0.5])  # improves until epoch 3, then not for 3 epochs
    states = []

    def validate():
        states.append(net.weight.detach().clone())
        return {"loss": next(losses), "accuracy": 0.0}
    out = f.run_until(32, 8, validate, max_epochs=7, patience=3)
    assert out["best_epoch"] == 3 and out["epochs_run"] == 6 and out["stopped"] == "patience"
    assert torch.equal(net.weight, states[2])  # the weights of the best epoch, not the last


def test_claims_from_the_toy_runs(runs):
    gan, scr, _ = runs
    two = {s: {"gan_run": gan, "random_run": scr} for s in (0, 1)}  # a verdict never rests on one seed
    claims = {c["claim"][:30]: c for c in selftrain_claims(two)[1]}
    assert all(c["verdict"] in VERDICTS for c in claims.values())
    by = lambda start: next(c for k, c in claims.items() if k.startswith(start))
    assert by("The images which are moved")["verdict"] == "holds"
    assert by("After each iteration")["verdict"] == "holds"
    assert by("The whole pool")["verdict"] == "holds"
    # the random start never learned (lr = 0): the GAN start wins in the loop and once
    assert by("Starting from a GAN")["verdict"] == "holds"
    # and reversed, the claim does not hold
    rev = next(c for c in selftrain_claims({s: {"gan_run": scr, "random_run": gan} for s in (0, 1)})[1]
               if c["claim"].startswith("Starting from a GAN"))
    assert rev["verdict"] == "does not hold"


def test_claim_on_moved_precision_fails_when_moves_are_wrong(runs):
    gan, scr, pool = runs
    flipped = SelfTraining.__new__(SelfTraining)
    flipped.__dict__.update(gan.__dict__)
    flipped.pool_truth = 1 - gan.pool_truth
    flipped.rounds = [dict(r, precision_moved=None if r["precision_moved"] is None else 0.0,
                           wrong_moved=r["moved_to_good"] + r["moved_to_bad"]) for r in gan.rounds]
    c = selftrain_claims({s: {"gan_run": flipped, "random_run": scr} for s in (0, 1)})[1][0]
    assert c["verdict"] == "does not hold" and c["evidence"]["values"][0]["precision_per_round"][0] == 0.0


def test_controls_of_the_paired_test_and_the_moves(runs):
    from gan_helpers.experiments.selftrain import controls

    gan, scr, _ = runs
    cs = {c.metric: c for c in controls({0: {"gan_run": gan, "random_run": scr}})}
    assert cs["held_out_accuracy"].passed and cs["precision_moved"].passed


def test_compare_methods_and_one_pass_baselines(runs):
    gan, scr, pool = runs
    m = compare_methods(gan, scr)
    assert set(m) == {"gan_selftrain", "random_init_selftrain", "gan_once", "scratch_seed_only"}
    assert m["gan_selftrain"]["sorted_fraction"] == 1.0 and m["gan_selftrain"]["good_precision"] == 1.0
    assert m["gan_once"]["good_set"] == gan.rounds[1]["moved_to_good"]
    assert m["gan_once"]["test_accuracy"] == gan.rounds[0]["test_accuracy"]
    assert m["scratch_seed_only"]["good_set"] == 0 and m["scratch_seed_only"]["good_precision"] is None
    plt.close(plot_methods(m))
    plt.close(plot_rounds({"gan": gan, "random": scr}))


def test_threshold_effect_counts_and_precision():
    p = np.array([0.001, 0.02, 0.5, 0.995, 0.999, 0.4])
    truth = np.array([0, 1, 1, 1, 0, 0])
    e = threshold_effect(p, truth, 0.03, 0.99)
    assert (e["to_bad"], e["to_good"], e["left"]) == (2, 2, 2)
    assert e["precision_to_bad"] == 0.5 and e["precision_to_good"] == 0.5
    assert threshold_effect(p, None, 0.03, 0.99)["precision_to_good"] is None
    assert show_pool_thresholds(p, truth, 0.03, 0.99).get_title().startswith("t_bad=0.03")
    plt.close("all")
    assert threshold_explorer(p, truth) is None  # a slider view returns nothing (nothing printed under it)
    plt.close("all")


def test_config_and_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="t_bad < t_good"):
        SelfTrainConfig(t_bad=0.5, t_good=0.4)
    with pytest.raises(ValueError, match="both present"):
        SelfTraining(replace_head(Discriminator(8, 3, 32)), toy(8, 0, 0.0), ImagePool.from_images(torch.zeros(2, 3, 32, 32)))
    with pytest.raises(ValueError, match="none.pt' does not exist"):
        load_discriminator(tmp_path / "none.pt", 8, 32)


def test_load_discriminator_from_a_gan_checkpoint_and_a_state_dict(tmp_path):
    tr = GANTrainer(torch.rand(8, 3, 32, 32) * 2 - 1, Generator(8, 8, 3, 32), Discriminator(8, 3, 32),
                    config=TrainConfig(batch_size=4, amp=False))
    tr.fit(1)
    tr.save(tmp_path / "ck.pt")
    D = load_discriminator(tmp_path / "ck.pt", ndf=8, image_size=32)
    assert D.ndf == 8 and all(torch.equal(v, tr.D.state_dict()[k]) for k, v in D.state_dict().items())
    with pytest.raises(ValueError, match="32 px images; this run uses image_size = 64"):
        load_discriminator(tmp_path / "ck.pt", ndf=8, image_size=64)
    # another width: the random start (built with the run's ndf) would not match the GAN start
    with pytest.raises(CheckpointError, match="ck.pt' holds a discriminator of width ndf = 8; this run uses ndf = 64"):
        load_discriminator(tmp_path / "ck.pt", ndf=64, image_size=32)
    torch.save(tr.D.state_dict(), tmp_path / "d.pt")
    assert load_discriminator(tmp_path / "d.pt", 8, 32).ndf == 8
    with pytest.raises(ValueError, match="does not hold a Discriminator"):
        load_discriminator(tmp_path / "d.pt", 16, 32)


def test_consensus_takes_the_majority_of_the_seeds(runs):
    gan, scr, pool = runs
    import copy

    others = [copy.copy(gan) for _ in range(2)]
    others[0].status = np.full_like(gan.status, UNSURE)
    out = consensus({0: {"gan_run": gan}, 1: {"gan_run": others[0]}, 2: {"gan_run": others[1]}})
    np.testing.assert_array_equal(out.status, gan.status)  # two of three agree
    out = consensus({0: {"gan_run": gan}, 1: {"gan_run": others[0]}})
    assert (out.status[gan.status != UNSURE] == UNSURE).all()  # one of two: a tie is unsure


def test_outcome_by_kind_shares(runs):
    gan, _, pool = runs
    gan.pool_kind = np.where(pool.labels.numpy() == 1, "good", "drawing")
    try:
        out = outcome_by_kind(gan)
    finally:
        gan.pool_kind = None
    assert list(out) == ["good", "drawing"]  # good first
    assert out["good"]["good"] == 1.0 and out["drawing"]["bad"] == 1.0
    assert out["good"]["n"] + out["drawing"]["n"] == len(pool)
    assert all(abs(v["good"] + v["bad"] + v["unsure"] - 1) < 1e-9 for v in out.values())


def test_parallel_decoding_streams_the_same_images_and_reports_unreadable_files(tmp_path):
    s = toy(12, 5)
    paths = save_pngs(s, tmp_path / "pool")
    (tmp_path / "pool" / "bad.png").write_bytes(b"not a png")
    pool = ImagePool.from_paths(paths[:6] + [str(tmp_path / "pool" / "bad.png")] + paths[6:], 32)
    serial = list(pool.batches(np.arange(len(pool)), batch_size=5))
    parallel = list(pool.batches(np.arange(len(pool)), batch_size=5, workers=2))
    assert np.concatenate([i for i, _ in serial]).tolist() == np.concatenate([i for i, _ in parallel]).tolist()
    assert torch.equal(torch.cat([x for _, x in serial]), torch.cat([x for _, x in parallel]))
    assert list(pool.skipped) == [6] and "not an image" in pool.skipped[6]


def test_the_experiment_runs_both_starts_under_every_seed(tmp_path):
    from gan_helpers.datasets.faces import load_face_folder, make_face_split, write_face_folder
    from gan_helpers.experiments import selftrain as experiment

    split = make_face_split(n_seed_good=40, n_seed_bad=8, n_pool=40, pool_bad_fraction=0.3, n_test=20, image_size=32)
    faces = load_face_folder(write_face_folder(split, tmp_path / "faces"), 32)
    pool = ImagePool.from_paths(faces.pool_paths, 32)
    cfg = SelfTrainConfig(max_rounds=1, seed_epochs=1, round_epochs=1, batch_size=16, device="cpu")
    from gan_helpers.evaluate import Evaluator
    from gan_helpers.features import train_domain_classifier

    ev = Evaluator(train_domain_classifier(faces.seed.images, faces.seed.labels, epochs=1), faces.seed.images, n_samples=16)
    gan = dict(iterations=2, pool_images=10, model=dict(nz=8, ngf=4, ndf=4), train=dict(batch_size=8, amp=False),
               evaluator=ev, eval_every=1)
    runs = experiment.run([0, 1], faces, pool, cfg, "", gan, workers=1)
    assert sorted(runs) == [0, 1]
    for s in (0, 1):
        assert {"gan", "gan_run", "random_run"} <= set(runs[s])
        assert runs[s]["gan_run"].name == "gan" and runs[s]["random_run"].name == "random_init"
        assert runs[s]["gan"]["d_x_late"] is not None and runs[s]["gan_run"].model is None  # detached
    declared, judged = experiment.selftrain_claims(runs)
    assert len(judged) == len(declared) == 5


def test_any_file_name_survives_the_lists_and_a_lost_file_is_named(tmp_path):
    """A pool file name with a line break split a line of unsure.txt, and the run then died on a bare
    AssertionError; lists.csv keeps every name whole and the check names the file it lost."""
    seed_set, pool = toy(64, 5, 0.1), toy(6, 6)
    folder = tmp_path / "pool"
    paths = save_pngs(pool, folder)
    odd = ["a\nb.png", "comma, \"quote\".png", "tab\tx.png", "caf\u00e9.png", "cr\rlf.png"]
    for p, name in zip(paths, odd):
        os.rename(p, folder / name)
    paths = [str(folder / n) for n in odd] + paths[len(odd):]
    run = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_paths(paths, 32),
                       dataclasses.replace(CFG, max_rounds=1)).run(progress=False)
    seed_ids = [f"seed/{i}\n.png" if i == 0 else f"seed/{i}" for i in range(64)]
    write_lists(tmp_path / "out", run, seed_ids, seed_set.labels.tolist())
    listed = read_lists(tmp_path / "out")
    assert sorted(sum(listed.values(), [])) == sorted(seed_ids + paths)  # every name exactly as written
    assert check_nothing_lost(tmp_path / "out", seed_ids + paths) == 64 + 6
    for name in ("good", "bad", "unsure"):  # the one-per-line lists hold every one-line name, and no broken line
        lines = (tmp_path / "out" / f"{name}.txt").read_text().split("\n")[:-1]
        assert lines == [x for x in listed[name] if "\n" not in x and "\r" not in x]
    with pytest.raises(AssertionError, match="in no list of .*lists.csv.*'.*missing.png'"):
        check_nothing_lost(tmp_path / "out", seed_ids + paths + [str(folder / "missing.png")])


def test_links_never_replace_what_is_already_there(tmp_path):
    """make_links deleted the user's own link sorted/good/mine.png: links are only added."""
    seed_set, pool = toy(64, 8, 0.1), toy(10, 9)
    paths = save_pngs(pool, tmp_path / "pool")
    run = SelfTraining(replace_head(Discriminator(8, 3, 32)), seed_set, ImagePool.from_paths(paths, 32),
                       dataclasses.replace(CFG, max_rounds=1)).run(progress=False)
    (tmp_path / "out" / "sorted" / "good").mkdir(parents=True)
    (tmp_path / "out" / "sorted" / "good" / "mine.png").symlink_to(paths[0])
    write_lists(tmp_path / "out", run, links=True)
    assert (tmp_path / "out" / "sorted" / "good" / "mine.png").is_symlink()


def test_classifier_file_round_trip_and_score_pool_in_one_process(tmp_path):
    from gan_helpers.models import Discriminator
    from gan_helpers.selftrain import ImagePool, load_classifier, replace_head, save_classifier, score_pool

    torch.manual_seed(0)
    clf = replace_head(Discriminator(8, 3, 32)).eval()
    path = save_classifier(clf, tmp_path / "c.pt", ndf=8, image_size=32)
    back = load_classifier(path)  # the file carries its width and size
    x = torch.rand(10, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert back.image_size == 32 and torch.equal(back(x), clf(x))
    torch.save(clf.state_dict(), tmp_path / "bare.pt")
    assert load_classifier(tmp_path / "bare.pt", ndf=8, image_size=32).image_size == 32
    with pytest.raises(ValueError, match="does not hold a good/bad classifier on Discriminator\\(ndf=16"):
        load_classifier(tmp_path / "bare.pt", ndf=16, image_size=32)
    p, skipped = score_pool(clf, ImagePool.from_images(x), index=[7, 2, 5], batch_size=2)
    with torch.no_grad():
        assert np.allclose(p, torch.sigmoid(clf(x[[7, 2, 5]])).numpy(), atol=1e-6) and skipped == {}
