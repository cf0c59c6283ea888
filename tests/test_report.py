"""Reports: aggregates against a hand-made leaderboard, and every file from a real tiny leaderboard."""
import math
import re
import shutil
import subprocess

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from click.testing import CliRunner

from genbench.cli import cli
from genbench.report import (_num, _point_label, chains, machines_note, pacgan_table, pareto, place_labels, summarize,
                             sweep_curves, sweep_points, variant_labels)
from genbench.results import COLUMNS, append_row, load_leaderboard


def row(model, seed, fd, T=4, steps=10, **extra):
    return {**{c: "" for c in COLUMNS}, "run_id": f"{model}-T{T}-s{seed}-{steps}", "model": model, "dataset": "grid25",
            "seed": seed, "status": "ok", "fd": fd, "recall": 0.5, "nfe": steps, "sampler": "posterior",
            "sample_steps": steps, "eta": 0.0, "sample_sec_per_1k": 0.1, "config_hash": "h", "hp_T": T, **extra}


def test_means_and_95_percent_intervals_over_seeds(tmp_path):
    for seed, fd in enumerate([1.0, 2.0, 3.0]):
        append_row(tmp_path, row("ddgan", seed, fd, T=4))
        append_row(tmp_path, row("ddgan", seed, 10 * fd, T=1))
    append_row(tmp_path, row("ddgan", 9, 5.0, T=2, status="diverged"))  # not averaged
    s = summarize(load_leaderboard(tmp_path)).set_index("variant")
    assert set(s.index) == {"ddgan (T=4)", "ddgan (T=1)"} and (s["n_seeds"] == 3).all()
    t4 = s.loc["ddgan (T=4)"]
    assert (t4["fd_mean"], t4["fd_std"]) == (2.0, 1.0)
    assert t4["fd_ci95"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)  # t(0.975, 2) · s / √n
    assert s.loc["ddgan (T=1)", "fd_mean"] == 20.0


def test_a_floor_of_more_draws_replaces_the_one_draw_floor_of_an_older_folder(tmp_path):
    append_row(tmp_path, row("ddgan", 0, 2.0))
    floor = {"model": "real", "sampler": "", "sample_steps": "", "nfe": "", "n_samples": 359}
    append_row(tmp_path, {**row("real", 0, 9.5), **floor, "run_id": "real-old"})  # written before floor_draws existed
    append_row(tmp_path, {**row("real", 0, 9.2), **floor, "run_id": "real-new", "floor_draws": 10})
    append_row(tmp_path, {**row("real", 0, 4.0), **floor, "run_id": "real-other-n", "n_samples": 26000})
    real = summarize(load_leaderboard(tmp_path)).query("model == 'real'")  # two sample counts: two floors
    assert sorted(zip(real["fd_mean"], real["variant"])) == [(4.0, "real (n_samples=26000)"), (9.2, "real (n_samples=359)")]
    assert (real["n_seeds"] == 1).all()


def test_variant_labels_name_only_what_differs(tmp_path):
    append_row(tmp_path, row("vae", 0, 1.0, T=""))
    for T in (1, 8):
        append_row(tmp_path, row("ddgan", 0, 1.0, T=T))
    assert list(variant_labels(load_leaderboard(tmp_path))) == ["vae", "ddgan (T=1)", "ddgan (T=8)"]
    for seed, device in enumerate(["cpu", "cuda"]):  # sampling times from two machines are never averaged
        append_row(tmp_path / "mixed", row("gan", seed, 1.0, T="", device=device))
    assert list(variant_labels(load_leaderboard(tmp_path / "mixed"))) == ["gan (device=cpu)", "gan (device=cuda)"]


def test_trilemma_labels_tell_apart_the_points_of_one_colour_and_do_not_overlap():
    points = pd.DataFrame({"model": ["ddgan", "ddgan", "ddpm", "ddpm", "gan"],
                           "variant": ["ddgan (T=1)", "ddgan (T=2)", "ddpm", "ddpm", "gan"],
                           "sampler": ["posterior", "posterior", "ancestral", "ddim", "generator"],
                           "sample_steps": [1, 2, 1000, 1000, 1], "eta": [0, 0, 0, 0.5, 0], "guidance": [0] * 5})
    assert [_point_label(r, points) for _, r in points.iterrows()] == ["T=1", "T=2", "ancestral 1000", "ddim 1000, η=0.5", ""]
    fig, ax = plt.subplots()
    ax.set(xlim=(0, 10), ylim=(0, 10))
    place_labels(ax, [(f"label {i}", 5, 5) for i in range(4)] + [("alone", 1, 1)])  # four points at one place
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in ax.texts]
    assert len(boxes) == 5 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)


def test_nfe_sweep_joins_variants_that_are_one_point_each_into_one_curve(tmp_path):
    """DDGAN's T ablation (T=1, 2, 4, 8: one run, one NFE each) is one curve across T; DDPM's sampler
    sweep stays a curve per variant; a variant sampled twice is never joined."""
    for T in (1, 2, 4, 8):
        append_row(tmp_path, row("ddgan", 0, 1.0, T=T, steps=T))
    for steps in (10, 100):
        for T in (100, 1000):
            append_row(tmp_path, row("ddpm", 0, 1.0, T=T, steps=steps, sampler="ddim"))
    s = summarize(load_leaderboard(tmp_path))
    curves = dict(zip(s["variant"] + " " + s["sample_steps"].astype(str), sweep_curves(s)))
    assert {curves[f"ddgan (T={T}) {T}"] for T in (1, 2, 4, 8)} == {"ddgan across T, posterior"}
    assert curves["ddpm (T=100) 10"] == curves["ddpm (T=100) 100"] == "ddpm (T=100), ddim"
    assert curves["ddpm (T=1000) 10"] == "ddpm (T=1000), ddim"
    for w in (1.0, 2.0):  # guidance weights at one step count: no NFE curve (guidance.png draws them)
        append_row(tmp_path, row("ddpm", 0, 1.0, T=100, steps=10, sampler="ddim", guidance=w))
    append_row(tmp_path, row("gan", 0, 1.0, T="", steps=1, sampler="generator"))
    drawn = sweep_points(summarize(load_leaderboard(tmp_path)))
    assert (drawn["guidance"] == 0).all() and "gan" not in set(drawn["model"])
    assert sorted(drawn.loc[drawn["model"] == "ddgan", "nfe_mean"]) == [1, 2, 4, 8]  # T=1 on the curve


def test_the_chain_figure_shows_the_default_recipe_of_a_family(tmp_path):
    """Of DDGAN's T = 1 (run first) and its default T = 4, the chain figure takes T = 4."""
    for extra in (["--set", "T=1"], []):
        r = CliRunner().invoke(cli, ["run", "--model", "ddgan", *extra, "--steps", "3", "--n-eval", "100",
                                     "--sample-batch", "100", "--no-progress", "--results", str(tmp_path)])
        assert r.exit_code == 0, r.output + r.stderr
    dataset, families = chains(load_leaderboard(tmp_path), tmp_path, n=50)
    (name, cfg, states), = families
    assert (dataset, name, cfg.hparams.T, len(states)) == ("grid25", "ddgan", 4, 5)  # x_4, ..., x_1, x_0


def test_table_numbers_have_no_exponent_below_a_million():
    """A noisy time's CI of 99.96 printed as "1e+02" once (3 significant digits)."""
    assert [_num(v) for v in (99.96, 99.94, 1234.5, 1000.0, 0.001234, 2.5e7)] == ["100", "99.9", "1234", "1000",
                                                                                 "0.00123", "2.5e+07"]


def test_pacgan_table_sits_beside_the_published_numbers(tmp_path):
    assert pacgan_table(load_leaderboard_of(tmp_path / "none", [])) is None
    rows = [row("gan", seed, 1.0, T="", modes=m, hq=0.9, kl=0.05, hp_arch="pacgan", hp_pack=4)
            for seed, m in enumerate([24, 25, 25])]
    line = next(r for r in pacgan_table(load_leaderboard_of(tmp_path / "runs", rows)).splitlines() if r.startswith("| 2D-grid"))
    # PacGAN4 on 2D-grid: the paper's 24.8 ± 0.2 modes beside ours, mean ± standard error of 3 trials
    assert line.startswith("| 2D-grid | PacGAN4 | 24.8 ± 0.2 | 24.7 ± 0.33 | 93.6 ± 0.6 | 90 ") and line.endswith("| 3 |")


def test_times_from_machines_of_different_speeds_are_flagged(tmp_path):
    alike = [row("gan", s, 1.0, T="", host_gflops=g) for s, g in enumerate([100, 120])]
    assert machines_note(load_leaderboard_of(tmp_path / "a", alike)) is None
    apart = alike + [row("gan", 2, 1.0, T="", host_gflops=34)]
    assert "differ 3.5× (host_gflops 34–120)" in machines_note(load_leaderboard_of(tmp_path / "b", apart))
    assert machines_note(load_leaderboard_of(tmp_path / "c", [])) is None  # leaderboards from before the column


def load_leaderboard_of(folder, rows):
    append_row(folder, row("vae", 0, 1.0, T=""))
    for r in rows:
        append_row(folder, r)
    return load_leaderboard(folder)


def test_pareto_set_over_several_objectives():
    """Non-dominated over every column: a point worse on time but better on recall stays in the set,
    so a fast collapsed model cannot be the whole frontier."""
    import pandas as pd
    pts = pd.DataFrame({"time": [1, 2, 4, 3, 1], "quality": [5, 3, 1, 4, 5], "neg_recall": [-0.1, -0.5, -0.9, -0.4, -0.1]})
    assert pareto(pts, ["time", "quality"]).tolist() == [True, True, True, False, True]  # ties: neither beats the other
    pts.loc[0, "neg_recall"] = -0.05  # now point 4 beats point 0 on recall, equal elsewhere
    assert pareto(pts, ["time", "quality", "neg_recall"]).tolist() == [False, True, True, False, True]


def test_report_writes_every_file_from_a_real_leaderboard(tmp_path):
    runner = CliRunner()
    tiny = ["--steps", "3", "--n-eval", "100", "--sample-batch", "100", "--no-progress", "--results", str(tmp_path)]
    for seed in ("0", "1"):
        for args in (["--model", "vae"], ["--model", "ddpm", "--set", "T=20", "--sampler", "ancestral,ddim",
                                           "--sample-steps", "20,5"], ["--model", "ddgan", "--set", "T=2"]):
            assert runner.invoke(cli, ["run", *args, "--seed", seed, *tiny]).exit_code == 0
    r = runner.invoke(cli, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output + r.stderr
    for name in ["summary.csv", "table.md", "table.tex", "trilemma.png", "trilemma.pdf", "corners.png", "nfe_sweep.png",
                 "samples.png", "diffusion.png", "index.html"]:
        assert (tmp_path / "rep" / name).stat().st_size > 0, name
        if name.endswith(".png"):
            assert plt.imread(tmp_path / "rep" / name).ndim == 3
    md = (tmp_path / "rep" / "table.md").read_text()
    assert "| ddpm | ddim 5 |" in md and "real data (floor)" in md and "**" in md
    models = [line.split(" | ")[0].strip("| ") for line in md.splitlines() if line.startswith("| ") and "Model" not in line]
    assert models[:6] == ["vae", "ddpm", "ddpm", "ddpm", "ddpm", "ddgan"] and models[6] == "real data (floor)"
    assert "| ddpm | ancestral 20 |" in md and "| 20 |" in md and "e+" not in md  # NFE whole, no ± 0
    assert "\\textbf{" in (tmp_path / "rep" / "table.tex").read_text()
    page = (tmp_path / "rep" / "index.html").read_text()  # bold best values, captions, a sort script, no raw marks
    assert "<b>" in page and page.count("<figcaption>") == 5 and "th.onclick" in page and "\x02" not in page
    # every row carries its training budget (3 steps × batch 512 = 1.54k images for DDPM), never bold
    head = next(line for line in md.splitlines() if line.startswith("| Model"))
    assert head.endswith("| Params | Images seen | Train s | Seeds |")
    ddpm_row = next(line for line in md.splitlines() if line.startswith("| ddpm | ancestral 20 |"))
    assert ddpm_row.split(" | ")[-3] == "1.54k" and "**" not in "".join(ddpm_row.split(" | ")[-4:])
    assert ddpm_row.endswith("| 2 |")  # the two seeds behind its mean ± CI


def test_report_without_a_leaderboard_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "no leaderboard" in r.stderr


def test_report_before_any_model_finished_is_one_line(tmp_path):
    append_row(tmp_path, {**{c: "" for c in COLUMNS}, "run_id": "real-grid25-h", "model": "real", "dataset": "grid25",
                          "seed": 0, "status": "ok", "fd": 0.001, "config_hash": "h"})
    append_row(tmp_path, row("gan", 0, 19.0, status="diverged"))
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "no finished model run" in r.stderr
    assert not (tmp_path / "rep").exists()


def test_a_leaderboard_saved_with_a_bom_still_loads(tmp_path):
    """Excel saves UTF-8 CSV with a byte-order mark; the first column must still read as run_id."""
    append_row(tmp_path, row("vae", 0, 1.0, T=""))
    path = tmp_path / "leaderboard.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    append_row(tmp_path, row("gan", 0, 2.0, T=""))
    assert list(load_leaderboard(tmp_path)["run_id"]) == ["vae-T-s0-10", "gan-T-s0-10"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium here")
def test_the_page_renders_and_sorts_in_headless_chromium(tmp_path):
    """index.html in a real browser: a screenshot that is not blank, and a click on "Params" sorts
    the rows by the number the cell shows with its k/M suffix (76.8k < 154k < 1.54M), again reversed."""
    for model, params in [("ddpm", 1.54e6), ("vae", 76_800), ("gan", 154_000)]:
        append_row(tmp_path, row(model, 0, 1.0, T="", params=params, precision=0.5))
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output + r.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    clicks = """<script>
      const t = document.querySelector('table'), head = [...t.tHead.rows[0].cells].find(c => c.innerText === 'Params');
      const order = () => [...t.tBodies[0].rows].map(r => r.cells[0].innerText).join(',');
      head.click(); const up = order(); head.click();
      document.body.insertAdjacentHTML('beforeend', `<pre id="result">${up};${order()}</pre>`);
    </script></body>"""
    (tmp_path / "rep" / "clicked.html").write_text(page.replace("</body>", clicks))
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000"]
    dom = subprocess.run([*browser, "--dump-dom", (tmp_path / "rep" / "clicked.html").as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    # the last match: the first is the script's own source
    assert re.findall(r'<pre id="result">([^<]*)</pre>', dom)[-1] == "vae,gan,ddpm;ddpm,gan,vae", dom[-500:]
    shot = tmp_path / "page.png"
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1200,900", (tmp_path / "rep" / "index.html").as_uri()],
                   capture_output=True, timeout=120)
    pixels = plt.imread(shot)
    assert pixels.shape[:2] == (900, 1200) and len({tuple(p) for p in pixels[::10, ::10].reshape(-1, pixels.shape[2])}) > 2
