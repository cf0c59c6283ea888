"""Reports computed from the leaderboard alone (and, for pictures of samples, the run folders next
to it): summary.csv, table.md/.tex, trilemma.png/.pdf, nfe_sweep.png, samples.png, diffusion.png,
index.html. Nothing here recomputes a metric."""
import base64
import dataclasses
import html
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from models import MODELS  # noqa: E402

from .config import make_config  # noqa: E402

METRICS = ["fid", "fd_domain", "fd", "precision", "recall", "density", "coverage", "modes", "hq", "kl",
           "nfe", "sample_sec_per_1k", "train_sec", "images_seen", "params"]
SETTING = ["sampler", "sample_steps", "eta", "guidance"]
LOWER_IS_BETTER = {"fid", "fd_domain", "fd", "kl", "nfe", "sample_sec_per_1k", "train_sec"}
# rows, columns and legends in the family order; other names (`genbench eval` rows) next; the floor last
ORDER = {**{m: i for i, m in enumerate(MODELS)}, "real": len(MODELS) + 1}


def rank(model: str) -> int:
    return ORDER.get(model, len(MODELS))


def variant_labels(board: pd.DataFrame) -> pd.Series:
    """'ddgan (T=2)': the model plus the hyperparameters that differ between its runs on a dataset,
    so training variants (DDGAN's T ablation) get rows of their own. The device counts as one:
    sampling times from two machines must not be averaged. Real-data floors of different sample
    counts (stacked-digits: 26,000, and 10,000 for DDPM's shortened evaluation) are two floors."""
    hp = [c for c in board.columns if c.startswith("hp_")] + [c for c in ("device", "standardise") if c in board]
    labels = board["model"].astype(str).copy()
    for (model, _), rows in board.groupby(["model", "dataset"]):
        columns = ["n_samples"] if model == "real" else hp
        varying = [c for c in columns if (_teacher_config(rows[c]) if c in TEACHER_COLUMNS else rows[c]).nunique(dropna=True) > 1]
        for i, row in rows.iterrows():
            if varying:
                labels[i] += " (" + ", ".join(f"{c.removeprefix('hp_')}={_num(row[c])}"
                                              for c in varying) + ")"
    return labels


# the columns naming the run a family builds on (PD's teacher, LDM's autoencoder)
TEACHER_COLUMNS = {f"hp_{family.TEACHER_FIELD}" for family in MODELS.values() if hasattr(family, "TEACHER")}


def _teacher_config(values: pd.Series) -> pd.Series:
    """A teacher's run id names its seed (ddpm-grid25-s1-<hash>): the runs of one recipe over seeds
    have different teachers of one config, compared by that config's hash."""
    return values.map(lambda v: v.rsplit("-", 1)[-1] if isinstance(v, str) else v)


def ci95(x: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for one seed."""
    x = x.dropna()
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def current_floors(board: pd.DataFrame) -> pd.DataFrame:
    """The board without floor rows superseded by a floor of more draws for the same dataset and
    sample count (a results folder from before the floor averaged draws holds both; they are one
    floor measured twice, not two seeds)."""
    if "floor_draws" not in board:
        return board
    real, draws = board["model"] == "real", board["floor_draws"].fillna(1)
    most = draws[real].groupby([board["dataset"][real], board["n_samples"][real]]).transform("max")
    return board[~real | (draws >= most.reindex(board.index))]


def summarize(board: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × variant × sampler setting: mean, std, 95% CI over seeds of every metric, and n_seeds."""
    ok = current_floors(board[board["status"] == "ok"]).copy()
    for c in SETTING:
        ok[c] = ok[c] if c in ok else math.nan
    ok["guidance"] = ok["guidance"].fillna(0.0)  # rows from before classifier-free guidance: unguided
    ok["variant"] = variant_labels(ok)
    keys = ["dataset", "model", "variant", *SETTING]
    metrics = [m for m in METRICS if m in ok and ok[m].notna().any()]
    g = ok.groupby(keys, dropna=False, sort=False)
    out = g.size().rename("n_seeds").to_frame()
    with warnings.catch_warnings():  # kl = inf (no high-quality sample) makes std NaN, as it should
        warnings.simplefilter("ignore", RuntimeWarning)
        for m in metrics:
            out[f"{m}_mean"], out[f"{m}_std"], out[f"{m}_ci95"] = g[m].mean(), g[m].std(ddof=1), g[m].agg(ci95)
    return out.reset_index()


def quality_metric(rows: pd.DataFrame) -> str:
    """The headline quality column of a dataset: FID if there is one, else FD-domain, else FD."""
    return next(m for m in ("fid", "fd_domain", "fd") if f"{m}_mean" in rows and rows[f"{m}_mean"].notna().any())


TABLE_COLUMNS = [("precision", "Precision ↑"), ("recall", "Recall ↑"), ("coverage", "Coverage ↑"),
                 ("modes", "Modes ↑"), ("nfe", "NFE ↓"), ("sample_sec_per_1k", "Time s/1k ↓")]
# the training budget behind each row, so a 6k-step model is never read as the equal of a 60k-step one
BUDGET_COLUMNS = [("params", "Params"), ("images_seen", "Images seen"), ("train_sec", "Train s")]
LABEL = {"fid": "FID ↓", "fd_domain": "FD-domain ↓", "fd": "FD ↓"}


def _row_label(variant: str, model: str) -> str:
    if model != "real":
        return variant
    n = variant.removeprefix("real").strip(" ()")  # "n_samples=10000" where a dataset has two floors
    return f"real data (floor, {n})" if n else "real data (floor)"


def dataset_table(rows: pd.DataFrame, bold) -> pd.DataFrame:
    """DDGAN Table 1's layout for one dataset: quality, recall/coverage, modes, NFE, time; mean ± CI,
    the best model value of each column in bold, the real-data floor last."""
    q = quality_metric(rows)
    present = lambda m: f"{m}_mean" in rows and rows[f"{m}_mean"].notna().any()
    cols = [(q, LABEL[q])] + [(m, label) for m, label in TABLE_COLUMNS + BUDGET_COLUMNS if present(m)]
    rows = rows.assign(_order=rows["model"].map(rank))
    rows = rows.sort_values(["_order", "variant", "sampler", "sample_steps"], ascending=[True, True, True, False])
    models = rows["model"] != "real"
    out = pd.DataFrame({"Model": [_row_label(v, m) for v, m in zip(rows["variant"], rows["model"])],
                        "Sampler": [_setting(r) for _, r in rows.iterrows()]})
    budget = {m for m, _ in BUDGET_COLUMNS}
    for m, label in cols:
        mean, ci = rows[f"{m}_mean"], rows[f"{m}_ci95"]
        if m in budget:  # a cost, not a score: shown, never bold
            out[label] = [_budget(v) for v in mean]
            continue
        best = (mean[models].min() if m in LOWER_IS_BETTER else mean[models].max()) if models.any() else None
        out[label] = [_cell(v, c, bold if (is_model and v == best) else None)
                      for v, c, is_model in zip(mean, ci, models)]
    out["Seeds"] = [str(int(n)) if m else "–" for n, m in zip(rows["n_seeds"], models)]  # behind each mean ± CI
    return out


def _budget(v) -> str:
    """1.54M, 395k, 140: budgets to 3 significant digits."""
    if pd.isna(v):
        return "–"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def budget_text(rows: pd.DataFrame) -> str:
    """One line per model variant: parameters, images seen and training seconds (means over seeds)."""
    lines = []
    for variant, r in rows.groupby("variant", sort=False):
        r = r.iloc[0]
        if pd.isna(r.get("params_mean")) and pd.isna(r.get("train_sec_mean")):
            lines.append(f"{variant}: samples scored by genbench eval (budget unknown)")
            continue
        lines.append(f"{variant}: {_budget(r.get('params_mean'))} params, {_budget(r.get('images_seen_mean'))} images, "
                     f"{_budget(r.get('train_sec_mean'))} s")
    return "\n".join(lines)


def _point_label(r, points: pd.DataFrame) -> str:
    """What tells a point from the others of its colour (its model): the variant's hyperparameters
    where the model has several variants ("T=2"; only the values where several differ: "cosine, v"),
    the sampler setting where the variant has several."""
    same_model, same_variant = points["model"] == r["model"], points["variant"] == r["variant"]
    params = variant_params(r["variant"], r["model"])
    tag = ", ".join(v for _, v in params) if len(params) > 1 else "".join(f"{k}={v}" for k, v in params)
    parts = [tag if points.loc[same_model, "variant"].nunique() > 1 else "", _setting(r) if same_variant.sum() > 1 else ""]
    return ": ".join(p for p in parts if p)


def variant_params(variant: str, model: str) -> list[tuple[str, str]]:
    """What `variant_labels` named: 'ddgan (T=2, lr=0.001)' → [('T', '2'), ('lr', '0.001')]."""
    return [tuple(kv.split("=", 1)) for kv in variant.removeprefix(model).strip(" ()").split(", ") if "=" in kv]


def _setting(r) -> str:
    if r["model"] == "real" or pd.isna(r["sampler"]):
        return ""
    eta = f", η={r['eta']:g}" if r["sampler"] == "ddim" and r["eta"] else ""  # η = 0 is DDIM's default
    w = f", w={r['guidance']:g}" if r.get("guidance", 0) and not pd.isna(r["guidance"]) else ""
    return f"{r['sampler']} {_num(r['sample_steps'])}{eta}{w}"


def _num(v) -> str:
    """3 significant digits, but whole numbers (NFE, modes, T) whole: 1000, not 1e+03; and no
    exponent below a million (99.96 is 100, not 1e+02)."""
    if isinstance(v, str):
        return v
    if abs(v) >= 1e6 or not math.isfinite(v):
        return f"{v:.3g}"
    if float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.3g}" if abs(v) < 99.95 else f"{v:.0f}"


def _cell(v, ci, bold) -> str:
    if pd.isna(v):
        return "–"
    text = _num(v) + ("" if pd.isna(ci) or ci == 0 else f" ± {ci:.2g}")  # ci 0: every seed agrees (NFE)
    return bold(text) if bold else text


def markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def tables(summary: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """table.md and table.tex (one tabular per dataset, for \\input); returns the plain tables."""
    md, tex, plain = [], [], {}
    for dataset, rows in summary.groupby("dataset", sort=False):
        md += [f"### {dataset}", "", markdown(dataset_table(rows, lambda s: f"**{s}**")), ""]
        t = dataset_table(rows, lambda s: f"\\textbf{{{s}}}")
        t = t.map(lambda s: s.replace("±", "$\\pm$").replace("η", "$\\eta$").replace("↑", "$\\uparrow$")
                  .replace("↓", "$\\downarrow$").replace("_", "\\_"))
        t.columns = [c.replace("↑", "$\\uparrow$").replace("↓", "$\\downarrow$") for c in t.columns]
        tex += [f"% {dataset}", t.to_latex(index=False, escape=False, column_format="ll" + "r" * (t.shape[1] - 2))]
        plain[dataset] = dataset_table(rows, lambda s: f"{BOLD[0]}{s}{BOLD[1]}")  # for the HTML page
    (out / "table.md").write_text("\n".join(md))
    (out / "table.tex").write_text("\n".join(tex))
    return plain


def pareto(points: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Whether each point is non-dominated: no other point is as good on every column and better on
    one (lower is better on every column; negate a column where higher is)."""
    values = points[columns].to_numpy()
    dominated = [((values <= v).all(1) & (values < v).any(1)).any() for v in values]
    return pd.Series([not d for d in dominated], index=points.index)


def trilemma_quality(rows: pd.DataFrame) -> tuple[str, str, bool]:
    """The trilemma's quality axis (column, label, lower is better): FID or FD-domain on a log axis for
    images; precision for 2-D data, where a Fréchet distance of raw coordinates compares only means
    and covariances and cannot see samples smeared between the modes (DDPM with 10 steps on ring8:
    FD 1.6× real data's, precision 0.026)."""
    q = quality_metric(rows)
    if q == "fd" and "precision_mean" in rows and rows["precision_mean"].notna().any():
        return "precision", "precision (higher is better)", False
    return q, f"{LABEL[q][:-2]} (log, lower is better)", True


SIZES = (30, 300)  # marker areas of recall 0 and 1 in the trilemma figure


def trilemma(summary: pd.DataFrame, out: Path) -> None:
    """Sampling time (log) against quality, colour = model, size = recall; the points no other beats
    on time, quality and recall together ringed; a panel per dataset, one legend."""
    data = summary[summary["model"] != "real"]
    datasets = list(data["dataset"].unique())
    budgets = "\n".join(f"training budget, {d}\n" + budget_text(rows.assign(_order=rows["model"].map(rank))
                                                                .sort_values(["_order", "variant"]))
                         for d, rows in data.groupby("dataset", sort=False))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.6), squeeze=False)
    palette = {m: c for m, c in zip(sorted(set(data["model"]), key=rank), sns.color_palette())}  # same colours everywhere
    handles, labels = {}, {}
    for ax, dataset in zip(axes[0], datasets):
        rows, all_rows = data[data["dataset"] == dataset], summary[summary["dataset"] == dataset]
        q, label, lower = trilemma_quality(all_rows)
        points = rows.dropna(subset=["sample_sec_per_1k_mean", f"{q}_mean"])
        size = "recall" if points["recall_mean"].notna().any() else None
        sns.scatterplot(points.assign(recall=points["recall_mean"]), x="sample_sec_per_1k_mean", y=f"{q}_mean",
                        hue="model", hue_order=list(palette), palette=palette, size=size, sizes=SIZES,
                        size_norm=(0, 1), ax=ax, alpha=0.8, legend=False)
        best = points[pareto(points.assign(_q=points[f"{q}_mean"] * (1 if lower else -1), _r=-points["recall_mean"].fillna(0)),
                             ["sample_sec_per_1k_mean", "_q", "_r"])]
        ax.scatter(best["sample_sec_per_1k_mean"], best[f"{q}_mean"], s=420, facecolors="none", edgecolors="k",
                   linewidths=1, label="not beaten on time, quality and recall together")
        floor = all_rows[all_rows["model"] == "real"][f"{q}_mean"]
        if len(floor):
            ax.axhline(floor.iloc[0], color="0.5", lw=1, ls=":", label="real-data floor")
        ax.set(xscale="log", yscale="log" if lower else "linear", xlabel="sampling time (s per 1,000 samples, log)",
               ylabel=label, title=dataset)
        first = points.index.isin(best.index)  # the ringed points' labels claim their places first
        labels[ax] = [(text, r["sample_sec_per_1k_mean"], r[f"{q}_mean"])
                      for _, r in pd.concat([points[first], points[~first]]).iterrows() if (text := _point_label(r, points))]
        for h, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, h)
    # one legend for every panel: the colours, the recall scale (the same in every panel), the ring, the floor
    dot = lambda colour, area: Line2D([], [], ls="", marker="o", markersize=math.sqrt(area), color=colour, alpha=0.8)
    entries = {m: dot(c, 80) for m, c in palette.items()}
    entries.update({f"recall {r:g}": dot("0.4", SIZES[0] + r * (SIZES[1] - SIZES[0])) for r in (0.25, 0.5, 0.75, 1)})
    fig.legend([*entries.values(), *handles.values()], [*entries, *handles], loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=8, labelspacing=1.1)
    fig.suptitle("Generative learning trilemma: quality vs sampling time (marker size = recall)")
    fig.tight_layout()
    # every panel's budget in one block under the first panel's x label, added after the layout (long
    # variant names would squeeze the panels), inside the saved picture (bbox_inches="tight")
    axes[0][0].annotate(budgets, (0, 0), xycoords="axes fraction", xytext=(0, -34), textcoords="offset points", va="top",
                        ha="left", fontsize=7, family="monospace")
    for ax, spots in labels.items():  # after the layout, which moves the points
        place_labels(ax, spots)
    for suffix in (".png", ".pdf"):
        fig.savefig(out / f"trilemma{suffix}", dpi=130, bbox_inches="tight")
    plt.close(fig)


LABEL_SPOTS = ((12, 6, "left"), (12, -12, "left"), (-12, 6, "right"), (-12, -12, "right"),  # clear of the ring
               (0, 13, "center"), (0, -19, "center"))


def place_labels(ax, labels: list[tuple[str, float, float]], ring_pt: float = 11) -> None:
    """Each (text, x, y) beside its point at the first of six spots inside the panel where it
    overlaps neither a label placed before it nor any labelled point's ring (`ring_pt`, in points),
    so points that nearly coincide (DDPM's 250 and 1000 steps) keep legible labels; a label with no
    free spot is left out (the tables hold every point). Call it after the figure's layout."""
    renderer = ax.figure.canvas.get_renderer()
    r = ring_pt * ax.figure.dpi / 72
    taken = [Bbox.from_extents(px - r, py - r, px + r, py + r)
             for px, py in ax.transData.transform([(x, y) for _, x, y in labels] or np.empty((0, 2)))]
    for text, x, y in labels:
        for spot in LABEL_SPOTS:
            label = _label(ax, text, x, y, spot)
            box = label.get_window_extent(renderer)
            inside = ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1
            if inside and not any(box.overlaps(b) for b in taken):
                taken.append(box)
                break
            label.remove()


def _label(ax, text, x, y, spot):
    dx, dy, ha = spot
    return ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=6, color="0.3",
                       bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))


def corners(summary: pd.DataFrame, out: Path) -> None:
    """The three corners in one view: coverage (recall) across, quality up, sampling time as colour
    (log), a marker shape per model; a panel per dataset, the real-data floor as a star."""
    data = summary.dropna(subset=["recall_mean"])
    datasets = list(data["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.6 * len(datasets) + 1.5, 5), squeeze=False, layout="constrained")
    times = data["sample_sec_per_1k_mean"].dropna()
    norm = matplotlib.colors.LogNorm(times.min(), max(times.max(), times.min() * 1.01)) if len(times) else None
    models = sorted(set(data["model"]) - {"real"}, key=rank)
    shapes = dict(zip(models, "osD^vP<>Xph"))
    labels = {}
    for ax, dataset in zip(axes[0], datasets):
        rows = data[data["dataset"] == dataset]
        q, label, lower = trilemma_quality(summary[summary["dataset"] == dataset])
        for _, r in rows.iterrows():
            if r["model"] == "real":
                ax.scatter(r["recall_mean"], r[f"{q}_mean"], marker="*", s=220, color="0.5", zorder=3)
                continue
            timed = pd.notna(r["sample_sec_per_1k_mean"])
            ax.scatter(r["recall_mean"], r[f"{q}_mean"], marker=shapes[r["model"]], s=90, zorder=3, edgecolors="k",
                       c=[r["sample_sec_per_1k_mean"]] if timed else "white", cmap="viridis", norm=norm if timed else None)
        models_rows = rows[rows["model"] != "real"]  # a label tells a point from the others of its shape
        labels[ax] = [(text, r["recall_mean"], r[f"{q}_mean"]) for _, r in models_rows.iterrows()
                      if (text := _point_label(r, models_rows))]
        ax.set(yscale="log" if lower else "linear", xlim=(-0.02, 1.05), xlabel="recall (coverage; higher is better)",
               ylabel=label, title=dataset)
    if norm is not None:
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes[0].tolist(),
                     label="sampling time, s per 1,000 samples (log; white: not measured)")
    fig.legend([Line2D([], [], ls="", marker=shapes[m], color="0.6", markeredgecolor="k") for m in models]
               + [Line2D([], [], ls="", marker="*", color="0.5", markersize=12)], [*models, "real data (floor)"],
               loc="outside lower center", ncol=len(models) + 1, fontsize=8)
    fig.suptitle("All three corners: quality against coverage, coloured by sampling time (the best: top right, dark)")
    fig.draw_without_rendering()  # the layout first, then fixed: labels go where the points end up
    fig.set_layout_engine("none")
    for ax, spots in labels.items():
        place_labels(ax, spots, ring_pt=6)
    fig.savefig(out / "corners.png", dpi=130, bbox_inches="tight")
    plt.close(fig)


def sweep_curves(summary: pd.DataFrame) -> pd.Series:
    """The NFE-sweep curve of each row: its variant's sampler sweep ("ddpm, ddim"); or, where each of a
    model's variants has one point under a sampler and the points' NFEs differ (DDGAN's T ablation,
    NFE = T), one curve across those variants, named by what varies ("ddgan across T, posterior")."""
    sampler = lambda s, e, w: f"{s}" + (f" η={e:g}" if s == "ddim" and e else "") + (f" w={w:g}" if w else "")
    curves = pd.Series([f"{v}, {sampler(s, e, w)}" for v, s, e, w in zip(
        summary["variant"], summary["sampler"], summary["eta"], summary["guidance"].fillna(0))], index=summary.index)
    for (model, s, e, w), rows in summary.groupby(["model", "sampler", "eta", "guidance"], dropna=False):
        for _, points in rows.groupby("dataset"):
            if (points["variant"].nunique() > 1 and not points["variant"].duplicated().any()
                    and points["nfe_mean"].nunique() == len(points)):
                varied = dict.fromkeys(k for v in points["variant"] for k, _ in variant_params(v, model))
                curves[points.index] = f"{model} across {', '.join(varied)}, {sampler(s, e, w)}"
    return curves


def sweep_points(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the NFE sweep draws, with their `curve`: every curve that reaches past 1 NFE (a
    curve's own 1-NFE end, PD's 1-step student or DDGAN T=1, stays); a guided row only where its
    weight was scored at several step counts (guidance.png draws the weights)."""
    data = summary.assign(curve=sweep_curves(summary))
    curve = data.groupby(["dataset", "curve"])["nfe_mean"]
    return data[(curve.transform("max") > 1) & ((data["guidance"].fillna(0) == 0) | (curve.transform("size") > 1))]


def nfe_sweep(summary: pd.DataFrame, out: Path) -> bool:
    """Quality and recall against NFE for every model that samples in several steps: their sampler
    sweeps, and their variants' sweep where each variant is one point (DDGAN's T)."""
    data = sweep_points(summary)
    if data.empty:  # one-step models only
        return False
    datasets = list(data["dataset"].unique())
    # one colour per curve in every panel, and one legend that lists them all
    curves = sorted(data["curve"].unique(), key=lambda c: (rank(c.split()[0].rstrip(",")), c))
    palette = dict(zip(curves, sns.color_palette(n_colors=len(curves))))
    fig, axes = plt.subplots(2, len(datasets), figsize=(5 * len(datasets), 7), squeeze=False)
    for j, dataset in enumerate(datasets):
        rows = data[data["dataset"] == dataset].sort_values("nfe_mean")
        q, q_label, log = trilemma_quality(summary[summary["dataset"] == dataset])
        for i, (metric, label) in enumerate([(q, q_label), ("recall", "recall (higher is better)")]):
            ax = axes[i][j]
            sns.lineplot(rows, x="nfe_mean", y=f"{metric}_mean", hue="curve", palette=palette, marker="o", ax=ax,
                         legend=False)
            ax.set(xscale="log", yscale="log" if log and i == 0 else "linear", xlabel="network evaluations per sample (NFE, log)",
                   ylabel=label, title=dataset if i == 0 else "")
            ticks = sorted(rows["nfe_mean"].round().unique())  # the NFEs measured, as whole numbers (no 3×10⁰)
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7 if len(ticks) > 8 else None)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    fig.legend([Line2D([], [], color=c, marker="o") for c in palette.values()], list(palette), loc="upper left",
               bbox_to_anchor=(1.0, 0.95), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "nfe_sweep.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return True


def guidance_figure(summary: pd.DataFrame, out: Path) -> bool:
    """Classifier-free guidance's trade-off: quality and coverage against the guidance weight w for
    every run scored under several weights (mean ± 95% CI over seeds)."""
    data = summary[summary["guidance"].notna()]
    data = data.groupby(["dataset", "variant", "sampler", "sample_steps", "eta"], dropna=False).filter(
        lambda rows: rows["guidance"].nunique() > 1)
    if data.empty:
        return False
    datasets = list(data["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = data[data["dataset"] == dataset].sort_values("guidance")
        for (variant, sampler, steps, eta), curve in rows.groupby(["variant", "sampler", "sample_steps", "eta"], dropna=False):
            name = f"{variant}, {_setting(curve.iloc[0].to_dict() | {'guidance': 0})}"
            for metric, style in [("precision", "-"), ("recall", "--"), ("coverage", ":")]:
                ax.errorbar(curve["guidance"], curve[f"{metric}_mean"], yerr=curve[f"{metric}_ci95"].fillna(0),
                            ls=style, marker="o", capsize=2, label=f"{metric} ({name})")
        ax.set(xlabel="guidance weight w (0: the conditional model unguided)", ylabel="precision (quality) / "
               "recall, coverage (diversity)", ylim=(-0.02, 1.05), title=dataset)
        ax.legend(fontsize=7)
    fig.suptitle("Classifier-free guidance: quality against coverage as w grows")
    fig.tight_layout()
    fig.savefig(out / "guidance.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return True


def sample_grid(board: pd.DataFrame, results_dir: Path, out: Path) -> bool:
    """Each model's saved samples (first seed, its default sampler setting: the first row a run
    appends) side by side, a row per dataset."""
    from .runner import samples_png
    runs = board[(board["status"] == "ok") & (board["model"] != "real")].copy()
    runs["variant"] = variant_labels(runs)
    runs["_order"] = runs["model"].map(rank)
    pick = runs.sort_values("seed", kind="stable").groupby(["dataset", "variant"], sort=False).head(1)
    pick = pick.sort_values(["_order", "variant"], kind="stable")  # columns in model order
    images = {}
    for r in pick.itertuples():
        if not isinstance(r.sampler, str) or pd.isna(r.sample_steps):  # rows from before sampler settings
            continue
        eta, w = (0.0 if pd.isna(v) else v for v in (r.eta, getattr(r, "guidance", 0.0)))
        png = results_dir / "runs" / r.run_id / samples_png(r.sampler, r.sample_steps, eta, w)
        if png.exists():
            images[r.dataset, r.variant] = plt.imread(png)
    if not images:
        return False
    datasets = list(dict.fromkeys(d for d, _ in images))
    variants = list(dict.fromkeys(v for _, v in images))
    fig, axes = plt.subplots(len(datasets), len(variants), figsize=(2.6 * len(variants), 2.7 * len(datasets)), squeeze=False)
    for i, d in enumerate(datasets):
        for j, v in enumerate(variants):
            ax = axes[i][j]
            ax.axis("off")
            if (d, v) in images:
                ax.imshow(images[d, v])
            if i == 0:
                ax.set_title(v, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "samples.png", dpi=150)
    plt.close(fig)
    return True


def chains(board: pd.DataFrame, results_dir: Path, n: int, columns: int = 5) -> tuple[str | None, list]:
    """The first 2-D dataset with saved runs, and for each family there whose sampler reports its
    chain (`sample(..., on_step=...)`): (model, config, [(t, ᾱ_t, x_t)] at `columns` evenly spaced
    steps of one recorded chain, in the model's standardised space)."""
    import torch
    from .runner import load_run
    ok = board[(board["status"] == "ok") & board["image_size"].isna() & (board["model"] != "real")]
    saved = [r for r in ok.itertuples() if (results_dir / "runs" / r.run_id / "checkpoint.pt").exists()]
    if not saved:
        return None, []
    dataset, out = saved[0].dataset, []
    here = [r for r in saved if r.dataset == dataset]
    for model_name in dict.fromkeys(r.model for r in here):
        run_id = default_run([r for r in here if r.model == model_name], model_name, dataset).run_id
        cfg, model = load_run(results_dir / "runs" / run_id)
        states = []
        model.sample(n, generator=torch.Generator().manual_seed(0),
                     on_step=lambda t, ab, x: states.append((t, ab, x.clone())))
        if len(states) > 1:  # one-step samplers have no chain to show
            pick = sorted({round(i * (len(states) - 1) / (columns - 1)) for i in range(columns)})
            out.append((model_name, cfg, [states[i] for i in pick]))
    return dataset, out


def default_run(runs: list, model: str, dataset: str):
    """Of a model's runs (board rows), the first at the family's default recipe in every hyperparameter
    that differs between them (DDGAN's T = 4 of its T ablation, not T = 1); else the first."""
    defaults = dataclasses.asdict(make_config(model, dataset).hparams)
    hp = [c for c in runs[0]._fields if c.startswith("hp_") and c.removeprefix("hp_") in defaults]
    varying = [c for c in hp if len({str(getattr(r, c)) for r in runs}) > 1]
    same = lambda v, d: str(v) == str(d) or (_is_number(v) and _is_number(d) and float(v) == float(d))
    return next((r for r in runs if all(same(getattr(r, c), defaults[c.removeprefix("hp_")]) for c in varying)), runs[0])


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def diffusion_figure(board: pd.DataFrame, results_dir: Path, out: Path, n: int = 2000) -> bool:
    """For each family with a reverse chain (on the first 2-D dataset with saved runs), two rows: the
    forward process q(x_t | x_0) at the ᾱ_t of the steps shown, and the family's reverse
    trajectory at those steps, recorded from its sampler."""
    import torch
    from models.diffusion import q_sample
    from .runner import load_data
    dataset, families = chains(board, results_dir, n)
    if not families:
        return False
    data = load_data(families[0][1])
    x_0 = data.to_model(data.reference[:n])  # the standardised space the models diffuse in
    columns = max(len(states) for _, _, states in families)
    fig, axes = plt.subplots(2 * len(families), columns, figsize=(2.8 * columns, 3.4 * 2 * len(families)),
                             sharex=True, sharey=True, squeeze=False)
    for k, (model_name, _, states) in enumerate(families):
        g = torch.Generator().manual_seed(0)
        for j, (t, ab, x) in enumerate(states):
            forward = q_sample(x_0, torch.tensor(ab).expand(len(x_0)), torch.randn(x_0.shape, generator=g))
            reverse = x[:len(x_0)]  # as many points as the forward row, so densities compare
            for i, (points, name) in enumerate([(forward, "forward q(x_t | x_0)"), (reverse, f"reverse p_θ ({model_name})")]):
                ax = axes[2 * k + i][j]
                ax.scatter(*points[:, :2].T, s=1, alpha=0.4, c="tab:blue" if i == 0 else "tab:orange", rasterized=True)
                ax.set_title(f"{name}\nt = {t}, ᾱ = {ab:.3g}", fontsize=9)
        for j in range(len(states), columns):  # a shorter chain (DDGAN T=2) leaves its row's last panels empty
            axes[2 * k][j].axis("off")
            axes[2 * k + 1][j].axis("off")
    for ax in axes.flat:
        ax.set(aspect="equal", xlim=(-3.5, 3.5), ylim=(-3.5, 3.5))
    fig.suptitle(f"Diffusion on {dataset} (standardised coordinates): noising, and each trained model's denoising chain")
    fig.tight_layout()
    fig.savefig(out / "diffusion.png", dpi=130)
    plt.close(fig)
    return True


BOLD = ("\x02", "\x03")  # marks of a best value in the tables index.html escapes, then bolds
CAPTIONS = {
    "trilemma.png": "The trilemma per dataset: quality up, sampling time left is better, bigger markers cover more "
                    "of the data (recall). Ringed points are not beaten on all three at once; the dotted line is what "
                    "real data scores. Read a model's ring and its distance to the floor together.",
    "corners.png": "The trilemma in one view: quality up, coverage (recall) right, sampling time as colour (dark is "
                   "fast). The best models sit top right in dark colours; the grey star is real data.",
    "nfe_sweep.png": "Quality and recall against network evaluations per sample for every multi-step sampler: where "
                     "a curve flattens, more steps buy nothing; DDGAN's and the distilled students' few steps sit at the left.",
    "guidance.png": "Classifier-free guidance: precision (solid), recall (dashed) and coverage (dotted) against the "
                    "guidance weight w. Guidance buys quality with diversity: precision rises and coverage falls.",
    "samples.png": "Samples of each model (its first seed and sampler setting) over held-out real data (grey) or as "
                   "image grids: what the numbers above describe.",
    "diffusion.png": "The forward noising of real data above each model's reverse chain at the same ᾱ_t: a good "
                     "chain's states match the row above it.",
}
SORT_SCRIPT = """document.querySelectorAll('table').forEach(t => t.querySelectorAll('th').forEach((th, i) => {
  th.style.cursor = 'pointer'; th.title = 'sort';
  th.onclick = () => { const rows = [...t.tBodies[0].rows], up = th.dataset.up !== '1'; th.dataset.up = up ? '1' : '0';
    const scale = {k: 1e3, M: 1e6, G: 1e9};  // the budget columns' 154k, 1.54M
    const key = r => { const s = r.cells[i].innerText.trim(), v = parseFloat(s);
      return isNaN(v) ? null : v * (scale[s.replace(/^[-0-9.e+]+/, '')[0]] || 1); };
    rows.sort((a, b) => { const x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? a.cells[i].innerText.localeCompare(b.cells[i].innerText) : x === null ? 1 : -1;
      return up ? x - y : y - x; });
    rows.forEach(r => t.tBodies[0].appendChild(r)); }; }));"""


def machines_note(board: pd.DataFrame, spread: float = 1.5) -> str | None:
    """A warning when the runs' seconds come from machines, loads or thread counts whose measured matrix-product
    rates differ by more than `spread`×: their time columns do not compare then."""
    if "host_gflops" not in board:
        return None
    rates = pd.to_numeric(board.loc[board["model"] != "real", "host_gflops"], errors="coerce").dropna()
    if len(rates) < 2 or rates.max() <= spread * rates.min():
        return None
    return (f"the runs' seconds come from machines, loads or thread counts whose float32 matrix-product rates differ "
            f"{rates.max() / rates.min():.1f}× (host_gflops {rates.min():g}–{rates.max():g}): compare "
            "train and sampling times of rows measured alike")


def index_html(plain: dict[str, pd.DataFrame], figures: list[str], out: Path, source: Path,
               note: str | None = None) -> None:
    """One self-contained page: the tables (best values bold, sortable by a click on a column's
    head, no network), and every figure embedded as base64 with a caption saying what to read from it."""
    parts = [f"<h1>genbench report</h1><p>From <code>{html.escape(str(source))}</code>. Mean ± 95% CI over seeds; "
             "bold: the best model value of a column; the real-data floor is what real training data score against the "
             "held-out set (the mean of up to 10 draws where that set is small). "
             "Click a column's head to sort. On 2-D data the quality axis of the figures is precision: a Fréchet "
             "distance of raw points compares only means and covariances.</p>"]
    if note:
        parts.append(f"<p><b>Note:</b> {html.escape(note)}.</p>")
    for dataset, table in plain.items():
        cells = table.map(lambda v: html.escape(str(v)).replace(BOLD[0], "<b>").replace(BOLD[1], "</b>"))
        parts.append(f"<h2>{html.escape(dataset)}</h2>" + cells.to_html(index=False, border=0, escape=False))
    for name in figures:
        data = base64.b64encode((out / name).read_bytes()).decode()
        parts.append(f'<h2>{name}</h2><figure><img src="data:image/png;base64,{data}" style="max-width:100%">'
                     f"<figcaption>{html.escape(CAPTIONS.get(name, ''))}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;text-align:right}"
             "td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}figcaption{color:#444;max-width:900px}")
    (out / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>genbench report</title>"
                                    f"<style>{style}</style></head><body>{''.join(parts)}<script>{SORT_SCRIPT}</script>"
                                    "</body></html>")


# PacGAN, Lin et al. 2018, Table 1 (10 trials, mean ± standard error; 2,500 samples, 3σ high quality):
# (dataset, pack) -> (modes, se, high-quality %, se, reverse KL, se)
PACGAN_TABLE1 = {
    ("pacgan-ring", 1): (6.3, 0.5, 98.2, 0.2, 0.45, 0.09), ("pacgan-ring", 2): (7.9, 0.1, 95.6, 2.0, 0.07, 0.03),
    ("pacgan-ring", 3): (7.8, 0.1, 97.7, 0.3, 0.10, 0.02), ("pacgan-ring", 4): (7.8, 0.1, 95.9, 1.4, 0.07, 0.02),
    ("grid25", 1): (17.3, 0.8, 94.8, 0.7, 0.70, 0.07), ("grid25", 2): (23.8, 0.7, 91.3, 0.8, 0.13, 0.04),
    ("grid25", 3): (24.6, 0.4, 94.2, 0.4, 0.06, 0.02), ("grid25", 4): (24.8, 0.2, 93.6, 0.6, 0.04, 0.01),
}


def pacgan_table(board: pd.DataFrame) -> str | None:
    """PacGAN's Table 1 beside genbench's runs of its protocol (`genbench suite paper-pacgan`), in
    its units (mean ± standard error over trials); None when there are no such runs."""
    if "hp_arch" not in board:
        return None
    runs = board[(board["model"] == "gan") & (board["status"] == "ok") & (board["hp_arch"] == "pacgan")]
    if runs.empty:
        return None
    se = lambda x: x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    lines = ["| Data | D | modes (paper) | modes (here) | high quality % (paper) | high quality % (here) | "
             "KL (paper) | KL (here) | trials here |", "|" + "---|" * 9]
    for (dataset, pack), rows in runs.groupby(["dataset", "hp_pack"], sort=True):
        paper = PACGAN_TABLE1.get((dataset, int(pack)))
        here = [(rows["modes"], 1), (rows["hq"], 100), (rows["kl"], 1)]
        cells = []
        for i, (x, k) in enumerate(here):
            cells.append(f"{paper[2 * i]:g} ± {paper[2 * i + 1]:g}" if paper else "–")
            cells.append(f"{k * x.mean():.3g}" + ("" if math.isnan(se(x)) else f" ± {k * se(x):.2g}"))
        name = {"pacgan-ring": "2D-ring", "grid25": "2D-grid"}.get(dataset, dataset)
        lines.append(f"| {name} | {'GAN' if int(pack) == 1 else f'PacGAN{int(pack)}'} | " + " | ".join(cells) + f" | {len(rows)} |")
    return "\n".join(lines) + "\n"


def report(results_dir: Path, out: Path, log=print) -> list[str]:
    """Write every report file into `out`, built in a temporary folder beside it and moved into
    place only when complete (a failure leaves the previous report, or none); returns their names."""
    import shutil
    import tempfile
    from .results import LeaderboardError, load_leaderboard, umask
    board = load_leaderboard(results_dir)
    if not ((board["model"] != "real") & (board["status"] == "ok")).any():  # a suite's first minutes: the floor alone
        raise LeaderboardError(f"{results_dir / 'leaderboard.csv'} has no finished model run to report on yet")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        names = _write_report(board, results_dir, build, log)
        build.chmod(0o777 & ~umask())  # mkdtemp's folder is private; a report folder is shared like any other
        old = out.with_name(build.name + ".old")
        if out.exists():
            out.rename(old)
        build.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        return names
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def _write_report(board: pd.DataFrame, results_dir: Path, out: Path, log) -> list[str]:
    summary = summarize(board)
    summary.to_csv(out / "summary.csv", index=False)
    plain = tables(summary, out)
    trilemma(summary, out)
    corners(summary, out)
    figures = ["trilemma.png", "corners.png"]
    missing = {"nfe_sweep.png": "multi-step sampler rows", "guidance.png": "runs scored under several guidance weights"}
    for name, made in [("nfe_sweep.png", nfe_sweep(summary, out)), ("guidance.png", guidance_figure(summary, out)),
                       ("samples.png", sample_grid(board, results_dir, out)),
                       ("diffusion.png", diffusion_figure(board, results_dir, out))]:
        if made:
            figures.append(name)
        else:
            log(f"{name} skipped: no {missing.get(name, 'saved runs')} to draw it from")
    note = machines_note(board)
    if note:
        log(f"note: {note}")
    index_html(plain, figures, out, results_dir / "leaderboard.csv", note)
    papers = []
    pacgan = pacgan_table(board)
    if pacgan:
        (out / "pacgan.md").write_text("### PacGAN Table 1 (published) beside this benchmark\n\n" + pacgan)
        papers.append("pacgan.md")
    return ["summary.csv", "table.md", "table.tex", "trilemma.pdf", *figures, "index.html", *papers]
