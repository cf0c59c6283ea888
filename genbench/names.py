"""The names the command line offers, importable without torch, so that `genbench --help` and an
argument error answer at once; tests/test_cli.py checks them against the real registries.

Installed packages add model families through the entry-point group `genbench.models` (name ->
family class, e.g. `mmd = genbench_mmd:MMD` in their pyproject's
`[project.entry-points."genbench.models"]`); their names are read here from the packages' metadata,
and the classes are imported only by `models` (see `models.PLUGIN_ERRORS`)."""
from importlib.metadata import EntryPoint, entry_points

PLUGIN_GROUP = "genbench.models"
BUILTIN_MODELS = ("vae", "gan", "ddpm", "ddgan", "pd", "ldm")
DATASETS = ("grid25", "ring8", "swissroll", "pacgan-ring", "digits", "stacked-digits", "mnist", "fashion-mnist",
            "cifar10", "stacked-mnist")
EMBEDDED = ("grid25", "ring8", "swissroll", "pacgan-ring", "digits", "stacked-digits")  # DATASETS that need no download
PRECISIONS = ("fp32", "bf16")


def plugin_entry_points() -> dict[str, EntryPoint]:
    """Every installed family plugin by name, sorted; a name the built-ins hold is listed too (and
    refused by `models`), so that the clash is reported rather than silently shadowed."""
    return {ep.name: ep for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name)}


MODELS = BUILTIN_MODELS + tuple(name for name in plugin_entry_points() if name not in BUILTIN_MODELS)
