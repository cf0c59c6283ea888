"""Attack genbench's command line and count what breaks.

    python benchmarks/reliability.py [--run-kills 20] [--append-kills 20] [--suite-kills 10] [--seed 0]
                                     [--keep DIR]

Attack classes (each a real subprocess; signals are real):
  run kill      `genbench run` (vae, gan, ddpm, ddgan in turn, tiny budgets) SIGKILLed at a seeded random
                moment (start-up, training, evaluation, the append), then the same command again
  append kill   a process appending rows to a leaderboard in a loop, SIGKILLed at a random moment; a
                row counts as written once append_row returned in that process
  suite kill    `genbench suite` of a tiny suite with --workers 2, SIGKILLed at a random moment; its
                workers must die with it, and the same command again must finish the suite
  disk full     a 2 MiB tmpfs (root only; skipped otherwise) nearly filled, then every output kind
                written into it: a run's results, `genbench sample` to .npy/.pt/.png, `genbench report`
  malformed     the bad inputs of the reliability issue: repeated settings, duplicate --set, out-of-range
                schedules, --device meta, huge --dry-run networks, damaged checkpoints and leaderboards
After each attack every file under the results folder is checked: the leaderboard loads, config.json
parses, checkpoints load with weights_only=True, pictures and sample files read back, and no
temporary of a dead writer is left once the next write has happened. Prints one table; exits 1 unless
rows lost, rows duplicated, files half-written, tracebacks (and orphan workers) are all 0.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from genbench.results import load_leaderboard

TINY = ["--n-eval", "200", "--sample-batch", "100", "--no-progress"]
MODELS = ("vae", "gan", "ddpm", "ddgan")
TINY_SUITE = """
from genbench import suites
from genbench.cli import main
tiny = {"n_eval": 100, "sample_batch": 50}
suites.SUITES["reliability"] = [suites.Entry("vae", ("grid25", "ring8"), {"steps": "150"}, tiny),
                                suites.Entry("gan", ("grid25",), {"steps": "150"}, tiny),
                                suites.Entry("ddpm", ("ring8",), {"steps": "150", "T": "50"},
                                             {**tiny, "samplers": ("ancestral", "ddim"), "sample_steps": (50, 5)})]
main()
"""
APPENDER = """
import sys
from genbench.results import append_row
i = 0
while True:
    append_row(sys.argv[1], {"run_id": f"append-{sys.argv[2]}-{i}", "model": "vae", "dataset": "grid25",
                             "status": "ok", "sampler": "decoder", "sample_steps": 1, "eta": 0.0})
    print(i, flush=True)
    i += 1
"""


class Tally:
    def __init__(self):
        self.rows = {}

    def add(self, attack: str, tried=0, lost=0, duplicated=0, half_written=0, tracebacks=0, orphans=0, note=""):
        row = self.rows.setdefault(attack, Counter())
        row.update(tried=tried, lost=lost, duplicated=duplicated, half_written=half_written, tracebacks=tracebacks,
                   orphans=orphans)
        if note:
            row["note"] = note

    def failed(self) -> bool:
        return any(r[k] for r in self.rows.values() for k in ("lost", "duplicated", "half_written", "tracebacks", "orphans"))

    def print(self) -> None:
        cols = ("tried", "lost", "duplicated", "half_written", "tracebacks", "orphans")
        print("| attack | " + " | ".join(cols) + " | note |")
        print("|---|" + "---|" * len(cols) + "---|")
        for name, r in self.rows.items():
            print(f"| {name} | " + " | ".join(str(r[c]) for c in cols) + f" | {r.get('note', '')} |")
        total = {c: sum(r[c] for r in self.rows.values()) for c in cols}
        print("| **all** | " + " | ".join(str(total[c]) for c in cols) + " | |")


def genbench(*args, python=None, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-c", python, *args] if python else [sys.executable, "-m", "genbench", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(p: subprocess.Popen) -> tuple[int, str]:
    out, err = p.communicate()
    return p.returncode, out + err


def half_written(folder: Path, allow_temporaries: bool = False) -> list[str]:
    """Files under `folder` that do not read back whole (and leftover temporaries)."""
    bad = []
    for f in folder.rglob("*") if folder.exists() else []:
        if not f.is_file() or f.name.endswith(".lock"):
            continue
        try:
            if f.name == "leaderboard.csv":
                load_leaderboard(f.parent)
            elif f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".pt":
                torch.load(f, weights_only=True)
            elif f.suffix == ".npy":
                np.load(f)
            elif f.suffix == ".png":
                import matplotlib.image
                matplotlib.image.imread(f)
            elif "tmp" in f.name and not allow_temporaries:
                raise ValueError("a temporary left behind")
        except Exception as e:  # noqa: BLE001 -- anything that does not read back counts
            bad.append(f"{f}: {type(e).__name__}: {str(e)[:80]}")
    return bad


def leaderboard_counts(results: Path) -> Counter:
    if not (results / "leaderboard.csv").exists():
        return Counter()
    board = load_leaderboard(results)
    return Counter(zip(board["run_id"], board["sampler"], board["sample_steps"], board["eta"]))


def run_kills(tally: Tally, n: int, rng: random.Random, root: Path) -> None:
    results = root / "run-kills"
    for i in range(n):
        cmd = ["run", "--model", MODELS[i % 4], "--seed", str(i), "--steps", "200", "--checkpoint-every", "20",
               *TINY, "--results", str(results)]
        p = genbench(*cmd)
        time.sleep(rng.uniform(0.5, 12))
        p.send_signal(signal.SIGKILL)
        _, out = finish(p)
        tb = "Traceback" in out
        bad = half_written(results, allow_temporaries=True)  # a killed appender's temporary: removed by the next
        code, out = finish(genbench(*cmd))
        tally.add("run kill + rerun", tried=1, tracebacks=tb + ("Traceback" in out) + (code != 0),
                  half_written=len(bad) + len(half_written(results)))
    counts = leaderboard_counts(results)
    run_ids = {rid for rid, *_ in counts if not rid.startswith("real")}  # one row each: one setting per run
    tally.add("run kill + rerun", lost=n - len(run_ids),
              duplicated=sum(c - 1 for c in counts.values()), note=f"{n} runs, 4 models")


def append_kills(tally: Tally, n: int, rng: random.Random, root: Path) -> None:
    results = root / "append-kills"
    results.mkdir()
    acknowledged = set()
    for i in range(n):
        p = genbench(str(results), str(i), python=APPENDER)
        time.sleep(rng.uniform(1.5, 4))  # start-up takes ~1 s; then appends of a growing file
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        acknowledged |= {f"append-{i}-{line}" for line in out.split()}
    code, out = finish(genbench(str(results), "final", python=APPENDER.replace("while True", "for _ in range(1)")))
    board = load_leaderboard(results)
    ids = Counter(board["run_id"])
    tally.add("append kill", tried=n, lost=len(acknowledged - set(ids)), duplicated=sum(c - 1 for c in ids.values()),
              half_written=len(half_written(results)), tracebacks=("Traceback" in out) + (code != 0),
              note=f"{len(acknowledged)} acknowledged appends")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie is dead, only not yet reaped
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def suite_kills(tally: Tally, n: int, rng: random.Random, root: Path) -> None:
    results = root / "suite-kills"
    cmd = ["suite", "reliability", "--seeds", "0,1", "--workers", "2", "--results", str(results)]
    for i in range(n):
        p = genbench(*cmd, python=TINY_SUITE)
        deadline, workers = time.time() + rng.uniform(3, 20), []
        while time.time() < deadline and p.poll() is None:
            workers = sorted(set(workers) | set(_children(p.pid)))
            time.sleep(0.2)
        p.send_signal(signal.SIGKILL)
        _, out = finish(p)
        time.sleep(5)
        orphans = sum(_alive(w) for w in workers)
        tally.add("suite kill (--workers 2) + rerun", tried=1, orphans=orphans, tracebacks="Traceback" in out,
                  half_written=len(half_written(results, allow_temporaries=True)))
        if i == n - 1 or rng.random() < 0.3:  # finish the suite now and then, and at the end
            code, out = finish(genbench(*cmd, python=TINY_SUITE))
            tally.add("suite kill (--workers 2) + rerun", tracebacks=("Traceback" in out) + (code != 0),
                      half_written=len(half_written(results)))
    counts = leaderboard_counts(results)
    model_rows = [k for k in counts if not k[0].startswith("real")]
    expected = 2 * (2 + 1 + 4)  # seeds × (vae on 2 datasets, gan, ddpm's 2 samplers × 2 step counts)
    tally.add("suite kill (--workers 2) + rerun", lost=expected - len(model_rows),
              duplicated=sum(c - 1 for c in counts.values()), note=f"{expected} rows expected")


def disk_full(tally: Tally, root: Path) -> None:
    if os.geteuid() != 0:
        tally.add("disk full", note="skipped: mounting a tmpfs needs root")
        return
    mount = root / "tmpfs"
    mount.mkdir()
    source = root / "disk-source"
    code, out = finish(genbench("run", "--model", "gan", "--steps", "20", *TINY, "--results", str(source)))
    run_dir = next((source / "runs").iterdir())
    attacks = {"run": lambda d: ["run", "--model", "gan", "--steps", "20", *TINY, "--results", str(d)],
               **{f"sample {suf}": (lambda suf: lambda d: ["sample", "--run", str(run_dir), "--n", "20000",
                                                           "--out", str(d / f"s.{suf}")])(suf)
                  for suf in ("npy", "pt", "png")},
               "report": lambda d: ["report", "--results", str(source), "--out", str(d / "reports")]}
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        for name, make in attacks.items():
            for free_kib in (0, 16, 128, 512):
                for f in mount.iterdir():
                    if f.is_dir():
                        shutil.rmtree(f)
                    else:
                        f.unlink()
                filler = mount / "filler"
                with open(filler, "wb") as f:
                    try:
                        f.write(b"\0" * max(0, 2 * 1024 * 1024 - free_kib * 1024))
                    except OSError:
                        pass
                target = mount / "out" if free_kib else mount  # with no room at all, not even a folder
                target.mkdir(exist_ok=True)
                code, out = finish(genbench(*make(target)))
                lines = [line for line in out.strip().splitlines() if line.startswith("genbench:")]
                tb = "Traceback" in out or (code != 0 and len(lines) != 1)
                filler.unlink()
                if tb:
                    print(f"disk full {name} ({free_kib} KiB free): exit {code}, output: {out[-300:]}", file=sys.stderr)
                tally.add(f"disk full: {name}", tried=1, tracebacks=tb,
                          half_written=len([b for b in half_written(mount) if "filler" not in b]),
                          note="free 0/16/128/512 KiB")
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def malformed(tally: Tally, root: Path) -> None:
    """Each bad input: one line, exit != 0 (or a clean success where the input is legitimate), no traceback,
    and the results folder exactly as before."""
    results = root / "malformed"
    code, _ = finish(genbench("run", "--model", "gan", "--steps", "20", *TINY, "--results", str(results)))
    run_dir = next((results / "runs").iterdir())
    ckpt = run_dir / "checkpoint.pt"
    good = ckpt.read_bytes()
    state = torch.load(ckpt, weights_only=True)
    board = (results / "leaderboard.csv").read_text()

    def damaged_ckpt(change):
        def setup():
            s = {**state}
            change(s)
            torch.save(s, ckpt)
        return setup

    def write(path, data):
        return lambda: path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)

    run = ["run", "--model", "gan", "--steps", "20", *TINY, "--results", str(results)]
    cases = {
        "zero-byte checkpoint": (write(ckpt, b""), run),
        "random-bytes checkpoint": (write(ckpt, os.urandom(4096)), run),
        "checkpoint without rng": (damaged_ckpt(lambda s: s.pop("rng")), run),
        "checkpoint step past the run": (damaged_ckpt(lambda s: s.update(step=10 ** 6)), run),
        "checkpoint config not a dict": (damaged_ckpt(lambda s: s.update(config=[1, 2])), run),
        "duplicate --set": (None, [*run, "--set", "lr=1e-3", "--set", "lr=2e-3"]),
        "--set beta_T=5": (None, ["run", "--model", "ddpm", "--set", "beta_T=5", "--results", str(results)]),
        "--set hidden=2000000 --dry-run": (None, ["run", "--model", "ddpm", "--set", "hidden=2000000", "--dry-run",
                                                   "--results", str(results)]),
        "--device meta": (None, ["run", "--model", "vae", "--device", "meta", "--results", str(results)]),
        "--sample-steps 5,5": (None, ["run", "--model", "ddpm", "--steps", "5", "--set", "T=20", "--sample-steps", "5,5",
                                      *TINY, "--results", str(results)]),
        "unknown dataset": (None, ["run", "--model", "vae", "--dataset", "nope", "--results", str(results)]),
        "negative steps": (None, ["run", "--model", "vae", "--steps", "-3", "--results", str(results)]),
        "sample --n 0": (None, ["sample", "--run", str(run_dir), "--n", "0", "--out", str(results / "x.npy")]),
        "sample of a missing run": (None, ["sample", "--run", str(results / "none"), "--out", str(results / "x.npy")]),
    }
    lines = board.splitlines()
    cells = lines[-1].split(",")
    cells[lines[0].split(",").index("sample_steps")] = "five"  # a row whose sample_steps is not a number
    cases["leaderboard non-numeric sample_steps"] = (write(results / "leaderboard.csv", "\n".join([*lines, ",".join(cells)]) + "\n"), run)
    floor_only = "\n".join(line for line in lines if ",gan," not in line) + "\n"  # so that the run reads its checkpoint
    for name, (setup, args) in cases.items():
        ckpt.write_bytes(good)
        (results / "leaderboard.csv").write_text(floor_only if "checkpoint" in name else board)
        if setup:
            setup()
        before = {f: f.stat().st_mtime_ns for f in results.rglob("*") if f.is_file()}
        code, out = finish(genbench(*args))
        after = {f: f.stat().st_mtime_ns for f in results.rglob("*") if f.is_file() and not f.name.endswith(".lock")}
        errors = [line for line in out.splitlines() if line.startswith("genbench: error") or "Traceback" in line]
        ok = code == 0 and not errors  # a legitimate input (the repeated setting: one row)
        one_line = code != 0 and len(errors) == 1 and "Traceback" not in out
        changed = [f for f in after if before.get(f) != after[f] and f.name != "leaderboard.csv"] if not ok else []
        if not (ok or one_line) or changed:
            print(f"malformed input {name!r}: exit {code}, changed {changed}, output: {out[-300:]}", file=sys.stderr)
        duplicated = sum(c - 1 for c in leaderboard_counts(results).values()) if ok else 0
        tally.add("malformed input", tried=1, tracebacks=not (ok or one_line), half_written=len(changed),
                  duplicated=duplicated, note=f"{len(cases)} inputs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-kills", type=int, default=20)
    ap.add_argument("--append-kills", type=int, default=20)
    ap.add_argument("--suite-kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    rng, tally = random.Random(args.seed), Tally()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        start = time.time()
        for attack in (lambda: malformed(tally, root), lambda: disk_full(tally, root),
                       lambda: append_kills(tally, args.append_kills, rng, root),
                       lambda: run_kills(tally, args.run_kills, rng, root),
                       lambda: suite_kills(tally, args.suite_kills, rng, root)):
            attack()
        print(f"{time.time() - start:.0f} s")
    tally.print()
    return 1 if tally.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
