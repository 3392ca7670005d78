import matplotlib

matplotlib.use("Agg")

import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    """Unit tests are small: one thread avoids oversubscription on the 2-core CI machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def standins(tmp_path_factory):
    """Every stand-in data set and weights file (gan_helpers.datasets.standins), written once per session."""
    from gan_helpers.datasets.standins import write_all

    return write_all(tmp_path_factory.mktemp("standins"))
