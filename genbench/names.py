"""The names the command line offers, importable without torch, so that `genbench --help` and an
argument error answer at once; tests/test_cli.py checks them against the real registries."""
MODELS = ("vae", "gan", "ddpm", "ddgan", "pd", "ldm")
DATASETS = ("grid25", "ring8", "swissroll", "pacgan-ring", "digits", "stacked-digits", "mnist", "fashion-mnist",
            "cifar10", "stacked-mnist")
PRECISIONS = ("fp32", "bf16")
