"""Model families from installed packages (entry-point group `genbench.models`): the example plugin
examples/genbench-gmmn, "installed" by a dist-info folder on PYTHONPATH as pip would leave it, is
listed, trained and checked; broken plugins are one line and break nothing else."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genbench.results import load_leaderboard

EXAMPLE = Path(__file__).parents[1] / "examples" / "genbench-gmmn"


def install(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """What `pip install` leaves for a package: its modules and a dist-info folder naming its entry points."""
    info = site / f"{dist}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[genbench.models]\n{lines}")
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)


def genbench(site: Path, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "genbench", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    shutil.copy(EXAMPLE / "genbench_gmmn.py", site)
    install(site, "genbench_gmmn", {"gmmn": "genbench_gmmn:GMMN"}, {})
    install(site, "genbench_broken", {"broken": "genbench_broken:Family", "notafamily": "genbench_broken:helper",
                                      "gan": "genbench_gmmn:GMMN"},
            {"genbench_broken": "def helper():\n    pass\n\nraise_at_import = None\nfrom nowhere import Family\n"})
    install(site, "genbench_lazy", {"lazy": "genbench_lazy:Lazy"},
            {"genbench_lazy": "from genbench_gmmn import GMMN\n\n\nclass Lazy(GMMN):\n"
                              "    '''Its loss does not reach its generator.'''\n"
                              "    def train_step(self, x, noise, regularise=True, y=None):\n"
                              "        for player, loss, logs in super().train_step(x, noise, regularise, y):\n"
                              "            yield player, loss.detach().requires_grad_(), logs\n"})
    return site


def test_the_example_pyproject_declares_the_entry_point_used_here():
    text = (EXAMPLE / "pyproject.toml").read_text()
    assert '[project.entry-points."genbench.models"]' in text and 'gmmn = "genbench_gmmn:GMMN"' in text


def test_list_shows_a_plugin_and_why_others_did_not_load(site):
    r = genbench(site, "list")
    assert r.returncode == 0, r.stderr
    assert "  gmmn     GMMN: a generative moment matching network" in r.stdout
    assert "'broken' (genbench_broken:Family) failed to import: ModuleNotFoundError: No module named 'nowhere'" in r.stdout
    assert "'gan' (genbench_gmmn:GMMN) is not loaded: 'gan' is a built-in family" in r.stdout
    # the built-in GAN is still the GAN
    assert "  gan      GAN: the standard non-saturating GAN" in r.stdout


def test_a_plugin_trains_and_scores_like_a_built_in_family(site, tmp_path):
    r = genbench(site, "run", "--model", "gmmn", "--results", str(tmp_path), "--steps", "20", "--n-eval", "200",
                 "--no-progress")
    assert r.returncode == 0, r.stderr
    board = load_leaderboard(tmp_path)
    row = board[board["model"] == "gmmn"].iloc[0]
    assert row["status"] == "ok" and row["nfe"] == 1 and row["steps"] == 20 and row["hp_nz"] == 8


def test_check_model_passes_the_example_and_fails_a_broken_family(site):
    r = genbench(site, "check-model", "gmmn")
    assert r.returncode == 0 and "gmmn keeps the model contract" in r.stdout and "FAIL" not in r.stdout, r.stdout
    assert r.stdout.count(" ok ") == 2 * 11  # every check on grid25 and on digits
    r = genbench(site, "check-model", "lazy", "--dataset", "grid25")
    assert r.returncode == 1 and "FAIL every_player_learns: player generator did not change" in r.stdout, r.stdout
    assert r.stderr.strip() == f"genbench: error: lazy breaks the model contract: {r.stdout.count('FAIL')} checks failed"


@pytest.mark.parametrize("args", [("run", "--model", "broken"), ("check-model", "broken")])
def test_a_plugin_that_failed_to_load_is_one_line(site, tmp_path, args):
    r = genbench(site, *args, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "failed to import" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_check_model_refuses_a_dataset_that_needs_a_download(site):
    r = genbench(site, "check-model", "gmmn", "--dataset", "mnist")
    assert r.returncode == 2 and "'mnist' is not one of grid25" in r.stderr
