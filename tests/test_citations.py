"""Every document is cited by author, title and public address, in its notebook's first cell and in the README;
no file of the repository points at a path outside it (the documents were received as ../shared/seeds/*.txt,
which is not part of a clone)."""
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
README = " ".join((ROOT / "README.md").read_text().split())  # line breaks as spaces

# notebook -> what its first cell and the README must name: the author, the title and the public address of its
# document, and the upstream files it ports (linked to their repositories)
DOCUMENTS = {
    "01": ["Weaver", "Robot vs. Robot: Evening the Field in Deep Convolutional GANs for Small Datasets",
           "No public copy", "https://github.com/morganjweaver/DCGAN-tensorflow"],
    "02": ["Avery Gnolek", "ThisEmoteDoesNotExist: Training a GAN for Twitch Emotes", "2019",
           "https://blog.twitch.tv/en/2019/07/24/thisemotedoesnotexist-training-a-gan-for-twitch-emotes/"],
    "03": ["Eric Antoine Scuccimarra", "Creating a Dataset of Faces for my Autoencoder with Semi-supervised Learning",
           "2019", "http://ericscuccimarra.com/blog/autoencoder-face-dataset"],
    "04": ["Lučić", "Ritter", "Reducing the Need for Labeled Data in Generative Adversarial Networks", "2019",
           "https://ai.googleblog.com/2019/03/reducing-need-for-labeled-data-in.html",
           "High-Fidelity Image Generation With Fewer Labels", "https://arxiv.org/abs/1903.02271",
           "https://github.com/google/compare_gan/blob/master/compare_gan/gans/s3gan.py"],
    "05": ["Salimans", "Improved Techniques for Training GANs", "2016", "https://arxiv.org/abs/1606.03498",
           "https://rajatsharma2204.github.io/AML_Tutorial_GANs/improvedtraining/",
           "https://github.com/openai/improved-gan/blob/master/inception_score/model.py"],
}
OUTSIDE_PATH = re.compile(r"shared/seeds|\.\./shared/|\b00\d_[0-9a-f]{16}\.txt")


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        path = ROOT / name
        if path.suffix in {".png", ".jpg", ".npz", ".pth", ".pt"} or not path.is_file():
            continue
        try:
            yield name, path.read_text()
        except UnicodeDecodeError:
            continue


def test_no_file_points_at_the_documents_outside_the_repository():
    hits = [(name, m.group(0)) for name, text in tracked_text_files() if name != "tests/test_citations.py"
            for m in [OUTSIDE_PATH.search(text)] if m]
    assert not hits, f"paths outside the repository (cite the document by title, author and address): {hits}"


@pytest.mark.parametrize("number", sorted(DOCUMENTS))
def test_the_first_cell_of_each_notebook_cites_its_document(number):
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    text = " ".join(first.source.split())
    missing = [item for item in DOCUMENTS[number] if item not in text]
    assert not missing, f"{path.name}'s first cell does not name {missing}"


def test_the_readme_cites_every_document():
    missing = [item for items in DOCUMENTS.values() for item in items if item not in README]
    assert not missing, f"the README does not name {missing}"
