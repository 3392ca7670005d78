"""The README's links and commands point at things that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_relative_links_exist():
    for target in re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", README):
        assert (ROOT / target.split("#")[0]).exists(), f"README links to a missing file: {target}"


def test_no_link_to_a_repository_that_does_not_exist():
    assert "colab.research.google.com/github/" not in README, "Colab links must not name a repository address"
    assert "gan-reproductions/gan-reproductions" not in README


def test_module_commands_name_real_modules():
    import importlib

    for module in set(re.findall(r"python -m (gan_helpers[\w.]*)", README)):
        importlib.import_module(module)


def test_no_placeholder_is_left():
    assert not re.search(r"\b[A-Z]+_(TABLE|SECTION|SCORING)\b", README)
