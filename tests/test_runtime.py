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
