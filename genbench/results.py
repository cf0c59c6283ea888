"""The leaderboard: one CSV row per evaluation, appended under a file lock, written atomically."""
import csv
import io
import os
import tempfile
from pathlib import Path

import pandas as pd
from filelock import FileLock

# the schema's fixed columns, in order; rows may carry more (hyperparameters, training cost)
COLUMNS = ["run_id", "timestamp", "model", "dataset", "seed", "steps", "status", "params",
           "train_sec", "nfe", "sample_sec_per_1k", "sample_batch", "fd", "precision", "recall",
           "density", "coverage", "modes", "modes_total", "hq", "kl", "config_hash",
           "genbench_version", "git_commit", "torch_version", "device"]
LEADERBOARD = "leaderboard.csv"


class LeaderboardError(RuntimeError):
    pass


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`:
    readers see the old file or the new one, never a torn write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    if not path.exists():
        return [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise LeaderboardError(f"{path} is not a genbench leaderboard (missing columns: {', '.join(missing)})")
    for i, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise LeaderboardError(f"{path} line {i} has {'too many' if None in row else 'too few'} fields")
    return header, rows


def append_row(results_dir: Path, row: dict) -> Path:
    """Append one row to results_dir/leaderboard.csv; concurrent writers serialise on a lock file."""
    path = Path(results_dir) / LEADERBOARD
    with FileLock(str(path) + ".lock"):
        header, rows = _read_rows(path)
        header = header or list(COLUMNS)
        header += [c for c in row if c not in header]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows + [row])
        atomic_write(path, buf.getvalue().encode())
    return path


def load_leaderboard(results_dir: Path) -> pd.DataFrame:
    """The leaderboard as a DataFrame (validated first, so a damaged file is a clear error)."""
    path = Path(results_dir) / LEADERBOARD
    if not path.exists():
        raise LeaderboardError(f"no leaderboard at {path}")
    _read_rows(path)
    return pd.read_csv(path)
