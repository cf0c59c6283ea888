"""The model registry: name -> family class. Every family follows the contract in the README's
"Adding a model" (checked by `genbench check-model NAME`); installed packages add families through
the entry-point group `genbench.models`, loaded here after the built-ins."""
from genbench import first_line
from genbench.names import plugin_entry_points

from .ddgan import DDGAN
from .ddpm import DDPM
from .gan import GAN
from .ldm import LDM
from .pd import PD
from .vae import VAE

MODELS = {"vae": VAE, "gan": GAN, "ddpm": DDPM, "ddgan": DDGAN, "pd": PD, "ldm": LDM}
PLUGIN_ERRORS: dict[str, str] = {}   # plugin name -> why it is not in MODELS (one line)


def _load_plugins() -> None:
    for name, ep in plugin_entry_points().items():
        where = f"model plugin {name!r} ({ep.value}"
        if name in MODELS:
            PLUGIN_ERRORS[name] = f"{where}) is not loaded: {name!r} is a built-in family"
            continue
        try:
            family = ep.load()
        except Exception as e:  # noqa: BLE001 (a broken plugin must not break genbench; say why it is missing)
            PLUGIN_ERRORS[name] = f"{where}) failed to import: {type(e).__name__}: {first_line(e)}"
            continue
        missing = [a for a in ("Config", "IMAGE_CONFIG", "SAMPLERS", "SAMPLING_NETS", "resolve", "sample", "players",
                               "train_step") if not hasattr(family, a)]
        if not isinstance(family, type) or missing:
            PLUGIN_ERRORS[name] = f"{where}) is not a model family: missing {', '.join(missing) or 'a class'}"
            continue
        MODELS[name] = family


_load_plugins()


def default_config(family, data_shape):
    """The family's (a registered name or a class) tuned defaults for this kind of data: its
    Config() for 2-D points, its IMAGE_CONFIG for (C, H, W) images."""
    family = MODELS[family] if isinstance(family, str) else family
    return family.IMAGE_CONFIG if len(data_shape) == 3 else family.Config()
