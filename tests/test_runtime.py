import pytest
import torch

from gan_helpers.runtime import resolve_device, seed_everything, set_threads


def test_auto_device_is_available():
    dev = resolve_device("auto")
    assert dev.type in ("cpu", "cuda", "mps")
    assert resolve_device("cpu") == torch.device("cpu")


def test_missing_accelerator_is_a_clear_error():
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_set_threads_respects_omp_num_threads(monkeypatch):
    n = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert set_threads() == 1
    assert set_threads(2) == 2
    torch.set_num_threads(n)


def test_seed_everything_is_reproducible():
    g1 = seed_everything(7)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = seed_everything(7)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_run_tasks_in_worker_processes_keeps_task_order():
    import operator

    from gan_helpers.runtime import run_tasks

    tasks = [(1, 2), (3, 4), (5, 6)]
    assert run_tasks(operator.add, tasks, workers=2, cost=[1, 3, 2]) == [3, 7, 11]
    assert run_tasks(operator.add, tasks, workers=1) == [3, 7, 11]


def test_worker_count_honours_the_environment(monkeypatch):
    from gan_helpers.runtime import default_workers

    monkeypatch.setenv("GAN_WORKERS", "1")
    assert default_workers(5) == 1
    monkeypatch.delenv("GAN_WORKERS")
    assert 1 <= default_workers(5) <= 5 and default_workers(1) == 1
