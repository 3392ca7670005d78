"""The bounded kernel poll behind `make reproduce` and `gan_helpers.tools.normalize`."""
import asyncio
from queue import Empty

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel
from nbformat.v4 import new_code_cell, new_notebook

from gan_helpers.tools import nbexec


class FakeSocket:
    """Reports a message ready on the n-th poll; records each poll's timeout (ms)."""

    def __init__(self, ready_on_poll):
        self.ready_on_poll, self.timeouts = ready_on_poll, []

    async def poll(self, timeout_ms):
        self.timeouts.append(timeout_ms)
        if len(self.timeouts) == self.ready_on_poll:
            return 1
        await asyncio.sleep(timeout_ms / 1000)
        return 0


class FakeChannel:
    get_msg = nbexec._sliced_get_msg

    def __init__(self, socket):
        self.socket = socket

    async def _recv(self):
        return {"msg_type": "execute_reply"}


def test_without_timeout_the_wait_is_cut_into_slices_until_a_message_comes(monkeypatch):
    monkeypatch.setattr(nbexec, "POLL_SLICE_S", 0.01)
    channel = FakeChannel(FakeSocket(ready_on_poll=4))
    assert asyncio.run(channel.get_msg(timeout=None)) == {"msg_type": "execute_reply"}
    assert channel.socket.timeouts == [10, 10, 10, 10]  # never an unbounded poll(None)


def test_with_a_timeout_it_still_raises_empty_when_nothing_comes(monkeypatch):
    monkeypatch.setattr(nbexec, "POLL_SLICE_S", 0.02)
    channel = FakeChannel(FakeSocket(ready_on_poll=-1))
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.05))
    assert 3 <= len(channel.socket.timeouts) <= 4 and all(t <= 20 for t in channel.socket.timeouts)


def test_the_patch_is_undone_after_the_block():
    original = AsyncZMQSocketChannel.get_msg
    with nbexec.bounded_kernel_polls():
        assert AsyncZMQSocketChannel.get_msg is nbexec._sliced_get_msg
    assert AsyncZMQSocketChannel.get_msg is original


def test_cli_executes_a_widget_notebook_with_parameters(tmp_path, capsys):
    params = new_code_cell("lo = -50  # low threshold")
    params.metadata["tags"] = ["parameters"]
    widget = new_code_cell("import ipywidgets as w\nw.interact(lambda lo: print('lo is', lo), lo=w.IntSlider(lo, -100, 100));")
    nb = new_notebook(cells=[params, widget])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    (tmp_path / "p.yaml").write_text("lo: 10\n")
    assert nbexec.main([str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), "-f", str(tmp_path / "p.yaml"),
                        "-p", "lo", "20"]) == 0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    texts = [o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in out.cells for o in c.get("outputs", [])]
    assert any("IntSlider(value=20" in t for t in texts)  # -p wins over -f, and the widget cell ran
    assert "wrote" in capsys.readouterr().out


def test_cli_names_a_missing_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit):
        nbexec.main([str(tmp_path / "nope.ipynb"), str(tmp_path / "out.ipynb")])
    assert "no notebook at" in capsys.readouterr().err


def _params_notebook(path):
    params = new_code_cell('import os\n\nsmoke = "CI" in os.environ\niterations = 5  # n\nlr = 2e-4  # rate\n'
                           'output_dir = "out"  # folder\nif smoke: iterations = 1')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("print(type(lr).__name__, lr, output_dir)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_misspelled_parameter_is_an_error_naming_it(tmp_path, capsys):
    _params_notebook(tmp_path / "in.ipynb")
    assert nbexec.parameter_names(tmp_path / "in.ipynb") == {"smoke", "iterations", "lr", "output_dir"}
    with pytest.raises(SystemExit):
        nbexec.main([str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), "-p", "iteration", "3"])
    err = capsys.readouterr().err
    assert "has no parameter 'iteration' (did you mean 'iterations'?)" in err
    assert not (tmp_path / "out.ipynb").exists(), "nothing ran"
    with pytest.raises(nbexec.UnknownParameterError, match="'seed'"):
        nbexec.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", parameters={"seed": 1})


def test_values_are_read_as_papermill_reads_them(tmp_path):
    p = nbexec.read_parameters(plain=[("lr", "1e-3"), ("iterations", "20"), ("flag", "True"), ("out", "a #b/c")],
                               raw=[("name", "007")])
    assert p == {"lr": 0.001, "iterations": 20, "flag": True, "out": "a #b/c", "name": "007"}
    (tmp_path / "p.yaml").write_text("- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        nbexec.read_parameters(files=[tmp_path / "p.yaml"])
    with pytest.raises(ValueError, match="does not exist"):
        nbexec.read_parameters(files=[tmp_path / "none.yaml"])


def test_cli_passes_a_float_and_a_path_with_a_hash(tmp_path):
    _params_notebook(tmp_path / "in.ipynb")
    assert nbexec.main([str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), "-p", "lr", "1e-3",
                        "-p", "output_dir", "runs/a #1"]) == 0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "float 0.001 runs/a #1" in out.cells[-1].outputs[0]["text"]


def test_the_output_folder_is_made_and_the_kernel_knows_where_the_command_ran(tmp_path, monkeypatch, capfd):
    """nbexec failed when the output notebook's folder did not exist; the kernel warned of TCP without encryption."""
    import os

    params = new_code_cell('x = 1  # a value')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import os; print(os.environ['GAN_HELPERS_CALLER_CWD'], os.getcwd())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "in.ipynb")
    (tmp_path / "caller").mkdir()
    monkeypatch.chdir(tmp_path / "caller")
    monkeypatch.delenv("GAN_HELPERS_CALLER_CWD", raising=False)
    assert nbexec.main([str(tmp_path / "nbs" / "in.ipynb"), str(tmp_path / "new" / "deep" / "out.ipynb")]) == 0
    out = nbformat.read(tmp_path / "new" / "deep" / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].split() == [str(tmp_path / "caller"), str(tmp_path / "nbs")]
    assert "without encryption" not in capfd.readouterr().err
    assert "GAN_HELPERS_CALLER_CWD" not in os.environ  # set for the kernel only
