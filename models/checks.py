"""Range checks for the families' Config dataclasses, so a bad `--set` fails before any work."""


def check_ranges(cfg, positive=(), non_negative=(), fraction=()) -> None:
    """Raise ValueError naming the first field out of range (fraction: None or 0 <= v < 1)."""
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")
    for name in non_negative:
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    for name in fraction:
        v = getattr(cfg, name)
        if v is not None and not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1) or None, got {v}")
