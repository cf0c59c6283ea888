"""The `genbench` command line: parses, calls, prints. Bad input is one line on stderr, exit 2."""
import dataclasses
import json
import math
import signal
import sys
from pathlib import Path

import click

from . import first_line
from .names import DATASETS, EMBEDDED, MODELS, PRECISIONS  # torch, pandas and the models only once there is work to do


class Terminated(Exception):
    """SIGTERM (a scheduler's or `kill`'s stop): unwinds like Ctrl-C, so nothing is half-written."""


def _on_sigterm(signum, frame):
    raise Terminated()


class Cli(click.Group):
    """A group whose errors are a single `genbench: error: ...` line instead of usage and traceback.
    Ctrl-C exits 130 and SIGTERM 143 (128 + the signal), each with one line; a run keeps its last
    checkpoint, and the same command resumes it."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            rv = super().main(args, prog_name or "genbench", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.UsageError as e:
            click.echo(f"genbench: error: {e.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"genbench: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("genbench: aborted", err=True)
            sys.exit(130)
        except Terminated:
            click.echo("genbench: terminated (SIGTERM); the last checkpoint is kept, the same command resumes", err=True)
            sys.exit(143)
        sys.exit(rv if isinstance(rv, int) else 0)


def parse_assignments(ctx, param, values) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", ctx, param)
        if name.strip() in out:
            raise click.BadParameter(f"{name.strip()} is set twice; give each hyperparameter once", ctx, param)
        out[name.strip()] = value.strip()
    return out


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genbench")
def cli():
    """genbench: VAE, GAN, DDPM and DDGAN on one harness (quality, coverage, speed)."""


@cli.command()
@click.option("--model", required=True, type=click.Choice(list(MODELS)), help="Model family.")
@click.option("--dataset", default="grid25", show_default=True, callback=lambda c, p, v: _dataset(c, p, v),
              metavar="NAME|PATH.npz", help=f"One of {', '.join(DATASETS)}, or your own 2-D points: an .npz with "
              "'train' (N×2), optional 'test' (else a seeded 90/10 split), optional 'modes' (K×2) and 'sigma'.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--steps", type=click.IntRange(min=1), help="Training steps [default: the model's].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Training batch [default: the model's].")
@click.option("--set", "assignments", multiple=True, callback=parse_assignments, metavar="NAME=VALUE",
              help="Override a model hyperparameter (repeatable); `genbench list` shows them.")
@click.option("--n-eval", type=click.IntRange(min=10),
              help="Generated and held-out real samples for the metrics [default: 26,000 on stacked data "
                   "(PacGAN), else 10,000, capped at the held-out images there are].")
@click.option("--sample-batch", type=click.IntRange(min=1),
              help="Batch size for sampling and its timing [default: 1000 for 2-D, 100 for images, as DDGAN's "
                   "seconds per 100 images].")
@click.option("--sampler", "samplers", callback=lambda c, p, v: _csv(c, p, v, str), metavar="NAME[,NAME...]",
              help="Sampler(s) to evaluate, one row each [default: the model's own]; ddpm: ancestral, ddim.")
@click.option("--sample-steps", callback=lambda c, p, v: _csv(c, p, v, int), metavar="S[,S...]",
              help="Sampler steps, one row each, e.g. 1000,250,50,10 [default: the model's].")
@click.option("--eta", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="DDIM's η: 0 is deterministic, 1 with all steps is ancestral with the posterior variance.")
@click.option("--guidance", callback=lambda c, p, v: _csv(c, p, v, float, minimum=0), metavar="W[,W...]",
              help="Classifier-free guidance weights, one row each (ddpm with --set conditional=true) [default: 0].")
@click.option("--image-size", type=click.IntRange(min=8), help="Images: resample to this side (e.g. 16, 32).")
@click.option("--standardise/--no-standardise", default=True, show_default=True,
              help="2-D: train on standardised points (--no-standardise: raw coordinates, as PacGAN's protocol).")
@click.option("--data-root", type=click.Path(file_okay=False), help="torchvision datasets live here "
              "[default: $GENBENCH_DATA or ~/.cache/genbench/data].")
@click.option("--download", is_flag=True, help="Allow downloading the dataset and the FID Inception weights.")
@click.option("--inception-weights", type=click.Path(), help="pt_inception-2015-12-05-6726825d.pth for FID "
              "[default: $GENBENCH_INCEPTION_WEIGHTS or the torch hub cache]; without it FID is skipped.")
@click.option("--fid-ref", type=click.Path(dir_okay=False), metavar="FILE.npz",
              help="Images: FID against these statistics (pytorch-fid's --save-stats file, e.g. from `genbench stats`).")
@click.option("--fid-protocol", default="genbench", show_default=True, type=click.Choice(["genbench", "paper"]),
              help="Images: FID of as many samples as --n-eval against the held-out reference, or the papers' "
                   "50,000 samples against the training set.")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda (under torchrun: "
              "cuda means each rank's own GPU).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(PRECISIONS),
              help="Training arithmetic: bf16 autocast with fp32 master weights (for GPUs; part of the run's identity).")
@click.option("--compile", is_flag=True, help="torch.compile the networks (opt-in: compiling takes minutes).")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads of this process [default: torch's, all cores]; "
              "on a machine shared with other torch processes use fewer (see the README).")
@click.option("--checkpoint-every", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Training steps between checkpoints (one is always written at the end).")
@click.option("--resume", is_flag=True,
              help="Require an interrupted run to continue (re-running the same command continues one anyway).")
@click.option("--dry-run", is_flag=True, help="Print the full config and exit.")
@click.option("--progress/--no-progress", default=True, help="Progress bar (on a terminal).")
def run(model, dataset, seed, steps, batch_size, assignments, results_dir, checkpoint_every, resume, dry_run,
        progress, **options):
    """Train one model, evaluate it under each sampler setting, and append one row per setting.

    The same command on the same results folder continues an interrupted run from its last
    checkpoint, and evaluates only the sampler settings not yet in the leaderboard.
    """
    _loaded(model)
    if steps is not None:
        assignments["steps"] = str(steps)
    if batch_size is not None:
        assignments["batch_size"] = str(batch_size)
    from .config import make_config
    try:
        cfg = make_config(model, dataset, seed, assignments, **options)
    except ValueError as e:
        raise click.UsageError(first_line(e)) from None
    if dry_run:
        from .runner import RunError, link_teacher
        try:
            cfg = link_teacher(cfg, results_dir)[0]  # pd, ldm: the run it builds on, named
        except RunError as e:
            raise click.ClickException(str(e)) from None
        click.echo(json.dumps(cfg.to_dict(), indent=2))
        return
    import torch
    from .data.vision import DataError
    from .results import LeaderboardError
    from .runner import RunError, run as run_one
    from .train import join_torchrun
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world, device = join_torchrun(cfg.device)  # one process, or this rank of a torchrun job
    if cfg.hparams.batch_size % world.size:
        raise click.UsageError(f"the batch ({cfg.hparams.batch_size}) must split evenly over {world.size} ranks")
    log = (lambda m: click.echo(m, err=True)) if world.main else (lambda m: None)
    try:
        rows = run_one(dataclasses.replace(cfg, device=device), results_dir, progress=progress and world.main, log=log,
                       every=checkpoint_every, resume=resume, world=world)
    except (OSError, LeaderboardError, RunError, DataError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        if world.size > 1:
            torch.distributed.destroy_process_group()
    if not world.main:
        return
    for row in rows:
        click.echo(summary(row))
    click.echo(f"leaderboard {results_dir / 'leaderboard.csv'}, run folder {results_dir / 'runs' / rows[0]['run_id']}")


def _loaded(model: str) -> None:
    """A plugin family that is installed but failed to load: one line saying why."""
    from models import PLUGIN_ERRORS
    if model in PLUGIN_ERRORS:
        raise click.ClickException(PLUGIN_ERRORS[model])


def _dataset(ctx, param, value: str) -> str:
    if value in DATASETS or value.endswith(".npz"):
        return value
    raise click.BadParameter(f"{value!r} is not one of {', '.join(map(repr, DATASETS))}, nor an .npz file", ctx, param)


def _csv(ctx, param, value, kind, minimum=1) -> tuple | None:
    """A comma-separated option as a tuple of `kind` (numbers >= minimum), None when absent."""
    if value is None:
        return None
    try:
        items = tuple(kind(v.strip()) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}", ctx, param) from None
    if kind is not str and not all(math.isfinite(v) and v >= minimum for v in items):
        raise click.BadParameter(f"values must be >= {minimum} (finite numbers), got {value!r}", ctx, param)
    return items


def summary(row: dict) -> str:
    head = (f"{row['model']} on {row['dataset']} (seed {row['seed']}, {int(row['steps'])} training steps), "
            f"sampler {row.get('sampler')} with {_count(row['sample_steps'], 'step')}"
            + (f", guidance {row['guidance']:g}" if _present(row.get("guidance")) and row["guidance"] else ""))
    if row["status"] != "ok":
        return f"{head}: {row['status']}"

    def show(names, fmt="{:.3f}"):
        return "  ".join(f"{n} {fmt.format(row[n])}" for n in names if _present(row.get(n)))

    modes = f"modes {row['modes']:.0f}/{row['modes_total']:.0f}  " if _present(row.get("modes")) else ""
    return (f"{head}\n  quality   {show(['fid', 'fd_domain', 'fd'], '{:.4f}')}  {show(['precision', 'density', 'hq'])}\n"
            f"  coverage  {modes}{show(['kl', 'recall', 'coverage'])}\n"
            f"  speed     nfe {row['nfe']:g}  {row['sample_sec_per_1k']:.4f} s / 1k samples (batch {int(row['sample_batch'])})"
            f"  train {row['train_sec']:.0f} s")


def _count(n, noun: str) -> str:
    return f"{int(n)} {noun}" + ("" if int(n) == 1 else "s")


def _present(v) -> bool:
    return v is not None and v == v  # not None, not NaN


@cli.command()
@click.argument("name")
@click.option("--seeds", default="0,1,2", show_default=True, callback=lambda c, p, v: _csv(c, p, v, int, minimum=0))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Independent runs in parallel processes (the cores are shared out between them).")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--device", default="cpu", show_default=True)
@click.option("--dry-run", is_flag=True, help="List the runs, what is done, and the estimated cost; run nothing.")
@click.option("--print-commands", is_flag=True, help="Print one `genbench run` command per run still to do, for a "
              "scheduler (a SLURM array, GNU parallel) to run across machines on a shared results folder; run nothing.")
def suite(name, seeds, workers, results_dir, device, dry_run, print_commands):
    """Run a declared grid of runs (`genbench list` shows the suites), skipping what is done.

    Interrupted, the same command continues where it stopped: runs already in the leaderboard
    are skipped and an unfinished run resumes from its checkpoint.
    """
    from .data.vision import DataError
    from .results import LeaderboardError
    from .runner import RunError
    from .suites import plan, run_suite
    try:
        cfgs = plan(name, list(seeds), results_dir, device=device)
        if dry_run:
            click.echo(cost_table(cfgs, results_dir, workers))
            return
        if print_commands:
            from .suites import command, is_done
            for c in cfgs:
                if not is_done(c, results_dir):
                    click.echo(command(c, results_dir))
            return
        failures = run_suite(cfgs, results_dir, workers, log=lambda m: click.echo(m, err=True))
    except BrokenPipeError:  # `--print-commands | head`: click stops quietly (exit 1), as for any command
        raise
    except (ValueError, OSError, LeaderboardError, RunError, DataError) as e:
        raise click.ClickException(first_line(e)) from None
    if failures:
        raise click.ClickException(f"{len(failures)} run(s) failed: " + "; ".join(failures))
    click.echo(f"suite {name} complete in {results_dir / 'leaderboard.csv'}; `genbench report --results {results_dir}` next")


def cost_table(cfgs, results_dir: Path, workers: int = 1) -> str:
    """One line per run: done or to do, sampler settings, training images and the training time
    still to go (steps timed with a worker's share of the cores; a trained run missing only sampler
    settings costs no training)."""
    import os
    from .config import settings
    from .runner import run_name, teacher_of
    from .suites import is_done, trained_steps, train_step_seconds
    threads = max(1, (os.cpu_count() or 1) // workers)
    step_sec, lines, total = {}, [], 0.0
    for c in cfgs:
        done = is_done(c, results_dir)
        left = 0 if done else c.hparams.steps - min(trained_steps(c, results_dir), c.hparams.steps)
        if left and c.config_hash() not in step_sec:  # a trained run costs no timing either
            step_sec[c.config_hash()] = train_step_seconds(c, threads)
        est = step_sec[c.config_hash()] * left if left else 0.0
        total += est
        sets = settings(c)
        sets = f"{sets[0].sampler}:{sets[0].steps}" if len(sets) == 1 else f"{len(sets)} sampler settings"
        state = "done" if done else "todo" if left == c.hparams.steps else "eval" if left == 0 else "part"
        after = f"  after {Path(teacher_of(c)).name}" if teacher_of(c) else ""
        lines.append(f"{state}  {run_name(c):<34} {sets:<20} "
                     f"{c.hparams.steps * c.hparams.batch_size:>12,} images  ~{est / 60:8.1f} min train{after}")
    lines.append(f"{len(cfgs)} runs, {sum(not l.startswith('done') for l in lines)} to do (todo: train, part: resume, "
                 f"eval: trained, sampler settings missing); ~{total / 3600:.1f} h of training "
                 + (f"over {workers} workers, ~{total / workers / 3600:.1f} h of wall time, " if workers > 1 else "")
                 + f"estimated on this machine ({c.device}) from timed steps with {threads} thread(s) each; "
                 "sampling and evaluation come on top")
    return "\n".join(lines)


@cli.command()
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder holding leaderboard.csv (and runs/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="[default: RESULTS/reports]")
def report(results_dir, out):
    """Tables and figures from the leaderboard: summary.csv, table.md/.tex, trilemma.png/.pdf, corners.png,
    nfe_sweep.png, samples.png, diffusion.png, index.html."""
    from .report import report as make_report
    from .results import LeaderboardError
    from .runner import RunError
    out = out or results_dir / "reports"
    try:
        names = make_report(results_dir, out, log=lambda m: click.echo(m, err=True))
    except (OSError, LeaderboardError, RunError) as e:
        raise click.ClickException(first_line(e)) from None
    click.echo(f"report in {out}: {', '.join(names)}")


@cli.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A run directory, results/runs/<run_id>.")
@click.option("--n", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .pt, .npy or .png.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--sampler", help="The sampler [default: the run's first]; ddpm: ancestral, ddim.")
@click.option("--sample-steps", type=click.IntRange(min=1), help="Sampler steps [default: the run's first].")
@click.option("--eta", default=0.0, show_default=True, type=click.FloatRange(min=0), help="DDIM's η.")
@click.option("--guidance", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Classifier-free guidance weight w (a conditional ddpm).")
def sample(run_dir, n, out, seed, sampler, sample_steps, eta, guidance):
    """Write N samples from a saved run."""
    if out.suffix not in (".pt", ".npy", ".png"):
        raise click.BadParameter(f"{out.name}: the output must end in .pt, .npy or .png", param_hint="'--out'")
    from .config import settings
    from .runner import RunError, load_run, write_samples
    try:
        cfg, model = load_run(run_dir)
        if eta and sampler != "ddim":
            raise click.UsageError("--eta applies to --sampler ddim")
        if sampler or sample_steps or eta or guidance:  # one setting, checked by the family like a run's
            cfg = dataclasses.replace(cfg, samplers=(sampler,) if sampler else cfg.samplers[:1] if cfg.samplers else None,
                                      sample_steps=(sample_steps,) if sample_steps else None, eta=eta,
                                      guidance=(guidance,) if guidance else None)
            try:
                settings(cfg)
            except ValueError as e:
                raise click.UsageError(first_line(e)) from None
        write_samples(cfg, model, n, seed, out)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write {out}: {e.strerror or e}") from None
    click.echo(f"{n} samples from {cfg.model} ({run_dir.name}) written to {out}")


@cli.command(name="eval")
@click.option("--samples", "samples_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="An .npy/.npz/.pt array (N×2 points; N×C×H×W or N×H×W×C images, uint8 or floats in [0, 1] "
                   "or [−1, 1]) or a folder of .png/.jpg images.")
@click.option("--dataset", required=True, callback=lambda c, p, v: _dataset(c, p, v), metavar="NAME|PATH.npz",
              help="The dataset whose held-out set the samples are scored against.")
@click.option("--name", help="The row's model column [default: the file's or folder's name].")
@click.option("--nfe", type=click.FloatRange(min=0), help="Network evaluations per sample, if known.")
@click.option("--sec-per-1k", type=click.FloatRange(min=0), help="Sampling seconds per 1,000 samples, if measured.")
@click.option("--n-eval", type=click.IntRange(min=10), help="Samples scored [default: as `run`, capped at those given].")
@click.option("--image-size", type=click.IntRange(min=8), help="Images: the size the dataset is evaluated at.")
@click.option("--data-root", type=click.Path(file_okay=False), help="As for `run`.")
@click.option("--download", is_flag=True, help="As for `run`.")
@click.option("--inception-weights", type=click.Path(), help="As for `run`.")
@click.option("--fid-ref", type=click.Path(dir_okay=False), metavar="FILE.npz", help="As for `run`.")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--device", default="cpu", show_default=True)
def eval_(samples_path, dataset, name, nfe, sec_per_1k, results_dir, **options):
    """Score samples genbench did not make, with the same metrics and floor, as one leaderboard row."""
    from .data.vision import DataError
    from .external import ExternalError, eval_config, evaluate_external
    from .results import LeaderboardError
    from .runner import RunError
    name = name or samples_path.stem
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise click.BadParameter(f"{name!r}: use letters, digits, '-', '_' and '.'", param_hint="'--name'")
    if name in MODELS or name == "real":
        raise click.BadParameter(f"{name!r} names genbench's own rows; choose another", param_hint="'--name'")
    try:
        cfg = eval_config(dataset, **options)
    except ValueError as e:  # a bad --dataset file or --image-size: a usage error, as for `run`
        raise click.UsageError(first_line(e)) from None
    try:
        row = evaluate_external(cfg, samples_path, name, results_dir, nfe, sec_per_1k,
                                log=lambda m: click.echo(m, err=True))
    except (OSError, LeaderboardError, RunError, DataError, ExternalError) as e:
        raise click.ClickException(first_line(e)) from None
    if row is None:
        return
    metrics = ["fid", "fd_domain", "fd", "precision", "recall", "density", "coverage", "modes", "hq", "kl"]
    click.echo(f"{name} on {row['dataset']}: " + "  ".join(f"{k} {row[k]:.4g}" for k in metrics if _present(row.get(k))))


@cli.command()
@click.option("--dataset", required=True, callback=lambda c, p, v: _dataset(c, p, v), help="An image dataset.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.npz")
@click.option("--split", default="train", show_default=True, type=click.Choice(["train", "reference"]),
              help="The training images (the papers' FID reference) or genbench's held-out reference set.")
@click.option("--n", type=click.IntRange(min=2), help="The first N images of the split [default: all].")
@click.option("--image-size", type=click.IntRange(min=8), help="As for `run`.")
@click.option("--data-root", type=click.Path(file_okay=False), help="As for `run`.")
@click.option("--download", is_flag=True, help="As for `run`.")
@click.option("--inception-weights", type=click.Path(), help="As for `run` (required: there is nothing to do without it).")
@click.option("--device", default="cpu", show_default=True)
def stats(dataset, out, split, n, **options):
    """Write FID reference statistics (mu, sigma) of a dataset's images exactly as `python -m
    pytorch_fid --save-stats` writes them for the same images; `run --fid-ref` reads such files."""
    if out.suffix != ".npz":
        raise click.BadParameter(f"{out.name}: the statistics file must end in .npz", param_hint="'--out'")
    from .data.vision import DataError
    from .external import eval_config
    from .runner import RunError, write_fid_stats
    try:
        cfg = eval_config(dataset, n_eval=10**9 if split == "reference" else None, **options)
    except ValueError as e:
        raise click.UsageError(first_line(e)) from None
    try:
        count = write_fid_stats(cfg, split, n, out, log=lambda m: click.echo(m, err=True))
    except (OSError, RunError, DataError) as e:
        raise click.ClickException(first_line(e)) from None
    click.echo(f"FID statistics of {count} {split} images of {cfg.dataset} written to {out}")


@cli.command(name="check-model")
@click.argument("name", type=click.Choice(list(MODELS)))
@click.option("--dataset", "datasets", default="grid25,digits", show_default=True, metavar="D[,D...]",
              callback=lambda c, p, v: _csv(c, p, v, str), help=f"Embedded datasets: {', '.join(EMBEDDED)}.")
def check_model(name, datasets):
    """Run the model contract's checks on a family (a plugin's too): the battery the tests run on
    the built-in ones, three training steps per dataset; exit 1 if any check fails."""
    bad = [d for d in datasets if d not in EMBEDDED]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not one of {', '.join(EMBEDDED)}", param_hint="'--dataset'")
    _loaded(name)
    from .contract import battery
    from models import MODELS as FAMILIES
    family = FAMILIES[name]
    click.echo(f"checking {name} ({family.__module__}.{family.__qualname__})")
    failed = 0
    for data, check, error in battery(family, datasets):
        failed += error is not None
        click.echo(f"  {data:<15} {'FAIL' if error else 'ok  '} {check}" + (f": {error}" if error else ""))
    if failed:
        raise click.ClickException(f"{name} breaks the model contract: {_count(failed, 'check')} failed")
    click.echo(f"{name} keeps the model contract")


@cli.command(name="list")
def list_():
    """Show the models (with their hyperparameters), datasets and metrics."""
    from .metrics import METRICS
    from models import MODELS as FAMILIES
    click.echo("models:")
    for name, family in FAMILIES.items():
        doc = (sys.modules[family.__module__].__doc__ or family.__doc__ or "(undocumented)").strip().splitlines()[0]
        click.echo(f"  {name:<8} {doc}")
        hp = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(family.Config))
        click.echo(f"           2-D:    {hp}")
        image = family.IMAGE_CONFIG
        changed = ", ".join(f"{f.name}={getattr(image, f.name)}" for f in dataclasses.fields(image)
                            if getattr(image, f.name) != f.default)
        click.echo(f"           images: {changed} (the rest as for 2-D)")
    from models import PLUGIN_ERRORS
    for error in PLUGIN_ERRORS.values():
        click.echo(f"  (not loaded) {error}")
    click.echo("datasets:\n  " + ", ".join(DATASETS) + ", or PATH.npz (your own 2-D points: train, test, modes, sigma)")
    from .suites import SUITES
    click.echo("suites:\n  " + ", ".join(SUITES))
    click.echo("metrics:")
    for name, meaning in METRICS.items():
        click.echo(f"  {name:<18} {meaning}")


def main():
    cli.main(prog_name="genbench")
