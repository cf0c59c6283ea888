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
           "train_sec", "nfe", "sampler", "sample_steps", "eta", "guidance", "sample_sec_per_1k", "sample_batch", "fid", "fd_domain", "fd", "precision",
           "recall", "density", "coverage", "modes", "modes_total", "hq", "kl", "feature_extractor",
           "n_samples", "image_size", "config_hash", "genbench_version", "git_commit", "torch_version", "device"]
# what a file must have to be read as a leaderboard (files from before a column was added still are)
REQUIRED = ["run_id", "model", "dataset", "seed", "status", "config_hash"]
LEADERBOARD = "leaderboard.csv"
# the columns genbench computes with: empty, or a number (inf and nan included)
NUMERIC = ["seed", "steps", "params", "train_sec", "nfe", "sample_steps", "eta", "guidance", "sample_sec_per_1k", "sample_batch",
           "fid", "is", "is_std", "kid", "kid_std", "kid_domain", "fd_domain", "fd", "precision", "recall", "density",
           "coverage", "modes", "modes_total", "hq", "kl", "n_samples", "image_size", "fid_samples", "host_gflops"]


class LeaderboardError(RuntimeError):
    pass


def umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode(path: Path) -> int:
    """The mode `path` keeps: its own if it exists, else what the umask gives a new file (results
    folders are shared; mkstemp's private 0600 must not leak into them)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~umask()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`:
    readers see the old file or the new one, never a torn write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError) and not e.filename:
            e.filename = str(path)  # "No space left on device" alone does not say where
        raise


def _read(path: Path) -> tuple[list[str], list[dict]]:
    if not path.exists():
        return [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a file saved by Excel starts with a BOM
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise LeaderboardError(f"{path} is not a readable CSV ({e})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise LeaderboardError(f"{path} is not a genbench leaderboard (missing columns: {', '.join(missing)})")
    for i, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise LeaderboardError(f"{path} line {i} has {'too many' if None in row else 'too few'} fields")
        for col in NUMERIC:
            value = row.get(col) or ""
            try:
                if value:
                    float(value)
            except ValueError:
                raise LeaderboardError(f"{path} line {i}: {col} is {value!r}, not a number") from None
    return header, rows


def read_rows(results_dir: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of results_dir/leaderboard.csv, validated; ([], []) when there is none yet."""
    return _read(Path(results_dir) / LEADERBOARD)


def check_writable(results_dir: Path) -> None:
    """Fail now, before any training, if results cannot be written there; creates nothing (the
    folder is made when the first result is written)."""
    results_dir = Path(results_dir).absolute()
    existing = next(p for p in (results_dir, *results_dir.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is not a folder")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise LeaderboardError(f"cannot write results to {results_dir}: {e.strerror or e}") from None


def append_row(results_dir: Path, row: dict, unique: tuple[str, ...] = ()) -> bool:
    """Append one row to results_dir/leaderboard.csv; concurrent writers serialise on a lock file.
    A row that agrees with one already there on every `unique` column (e.g. run_id and the sampler
    setting) is not added: checked under the lock, so two processes never both add it.
    Returns whether the row was written."""
    path = Path(results_dir) / LEADERBOARD
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        # leaderboard temporaries are only written under this lock: any found now is a dead writer's
        for stale in path.parent.glob(f".{LEADERBOARD}.*.tmp"):
            stale.unlink(missing_ok=True)
        header, rows = _read(path)
        key = ["" if row.get(c) is None else str(row[c]) for c in unique]  # as the CSV writer writes them
        if unique and any([r.get(c, "") for c in unique] == key for r in rows):
            return False
        header = header or list(COLUMNS)
        header += [c for c in row if c not in header]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows + [row])
        atomic_write(path, buf.getvalue().encode())
    return True


def load_leaderboard(results_dir: Path) -> pd.DataFrame:
    """The leaderboard as a DataFrame (validated first, so a damaged file is a clear error)."""
    path = Path(results_dir) / LEADERBOARD
    if not path.exists():
        raise LeaderboardError(f"no leaderboard at {path}")
    _read(path)
    return pd.read_csv(path, encoding="utf-8-sig")
