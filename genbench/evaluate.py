"""sample → metrics → one dict. Knows the model only through `sample` and its child networks."""
import statistics

import torch

from .data.images import quantize
from .metrics import (class_modes, inception_score, kid, frechet_distance_samples, frechet_distance_to,
                      mixture_modes, prdc, timed)


class NonFiniteSamples(ValueError):
    """The model produced NaN or inf samples (a diverged model)."""


class _RowCounter:
    """Counts rows passed through the model's networks (its children, and the members of a child
    ModuleList: one network per stage): NFE per sample = rows / samples drawn."""

    def __init__(self, model: torch.nn.Module):
        self.rows = 0
        nets = [n for m in model.children() for n in (m if isinstance(m, torch.nn.ModuleList) else [m])]
        self.handles = [m.register_forward_hook(self._hook) for m in nets]

    def _hook(self, module, args, output):
        self.rows += args[0].shape[0]

    def close(self):
        for h in self.handles:
            h.remove()


def sample_batches(model, n: int, batch: int, seed: int, setting=None, seconds: list | None = None):
    """n samples in batches (on the CPU) from one seeded generator: the same n samples whatever
    consumes them, held all at once by nobody. `setting`: a SamplerSetting, None = the default.
    `seconds`, if given, receives the wall time of each full-size batch."""
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    for i in range(0, n, batch):
        chunk, sec = timed(lambda: model.sample(min(batch, n - i), generator=g, setting=setting), device)
        if seconds is not None and len(chunk) == batch:
            seconds.append(sec)
        yield chunk.cpu()


def draw_samples(model, n: int, batch: int, seed: int, setting=None) -> tuple[torch.Tensor, float, list]:
    """n samples (on the CPU) drawn in batches from a seeded generator under one SamplerSetting,
    the NFE counted with forward hooks, and the wall seconds of each full-size batch."""
    counter, seconds = _RowCounter(model), []
    try:
        chunks = list(sample_batches(model, n, batch, seed, setting, seconds))
    finally:
        counter.close()
    return torch.cat(chunks), counter.rows / n, seconds


def sample_metrics(samples: torch.Tensor, data, features=None) -> dict:
    """Every quality and coverage metric of generated samples against the held-out real ones:
    on raw coordinates for 2-D data, on quantised images' features for images."""
    if not torch.isfinite(samples).all():
        raise NonFiniteSamples("the model produced non-finite samples")
    if data.is_image:
        return image_metrics(quantize(samples), data, features)
    out = {"fd": frechet_distance_samples(samples, data.reference), **prdc(data.reference, samples)}
    if data.means is not None:
        out.update(mixture_modes(samples, data.means, data.sigma))
    return out


def image_metrics(x: torch.Tensor, data, features) -> dict:
    """FD-domain, PRDC and class modes in the domain classifier's space; FID when Inception is there.
    Under the paper protocol x holds more samples than the reference: FID, KID and IS read all of
    them, the domain metrics the first as many as the reference has."""
    x_inception, x = x, x[:len(features.reference)]
    f = features.domain.features(x)
    out = {"fd_domain": frechet_distance_samples(f, features.reference), "kid_domain": kid(f, features.reference)[0],
           **prdc(features.reference, f), **class_modes(features.domain.classes(x), data.num_classes)}
    if features.inception is not None:
        g = features.inception(x_inception)
        out["fid"] = frechet_distance_to(g, *features.inception_stats)
        out["kid"], out["kid_std"] = kid(g, features.inception_reference)
        out["is"], out["is_std"] = inception_score(features.inception.logits(g))
    return out


def evaluate(model, data, batch: int, seed: int, setting=None, repeats: int = 5,
             features=None) -> tuple[dict, torch.Tensor]:
    """Quality, coverage and speed of `model` on `data` (as many samples as reference points, or the
    FID protocol's number) under one sampler setting; returns (metrics, samples in data space).

    Speed is timed on the evaluation pass itself: the median wall time of its full-size batches
    after the first (the warm-up), the same calls a user makes; when n / batch leaves fewer than
    `repeats` of them, further calls at `batch` are timed until there are `repeats`."""
    n = getattr(features, "fid_samples", None) or len(data.reference)  # the paper's FID protocol: 50,000
    samples, nfe, seconds = draw_samples(model, max(n, len(data.reference)), batch, seed, setting)
    seconds = seconds[1:]
    device = next(model.parameters()).device
    if len(seconds) < repeats:
        more = lambda: model.sample(batch, setting=setting)
        if not seconds:
            more()  # the warm-up
        seconds += [timed(more, device)[1] for _ in range(repeats - len(seconds))]
    samples = data.to_data(samples)
    metrics = sample_metrics(samples, data, features)
    sec = statistics.median(seconds)
    return {**metrics, "nfe": nfe, "sample_sec_per_1k": sec * 1000 / batch, "sample_batch": batch}, samples
