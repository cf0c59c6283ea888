"""sample → metrics → one dict. Knows the model only through `sample` and its child networks."""
import torch

from .metrics import density_coverage, frechet_distance_samples, median_seconds, mixture_modes, precision_recall


class NonFiniteSamples(ValueError):
    """The model produced NaN or inf samples (a diverged model)."""


class _RowCounter:
    """Counts rows passed through the model's networks: NFE per sample = rows / samples drawn."""

    def __init__(self, model: torch.nn.Module):
        self.rows = 0
        self.handles = [m.register_forward_hook(self._hook) for m in model.children()]

    def _hook(self, module, args, output):
        self.rows += args[0].shape[0]

    def close(self):
        for h in self.handles:
            h.remove()


def draw_samples(model, n: int, batch: int, seed: int, steps=None) -> tuple[torch.Tensor, float]:
    """n samples (on the CPU) drawn in batches from a seeded generator, and the counted NFE."""
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    counter = _RowCounter(model)
    try:
        chunks = [model.sample(min(batch, n - i), generator=g, steps=steps).cpu() for i in range(0, n, batch)]
    finally:
        counter.close()
    return torch.cat(chunks), counter.rows / n


def sample_metrics(samples: torch.Tensor, reference: torch.Tensor, means=None, sigma=None) -> dict:
    """Every quality and coverage metric of generated samples against held-out real ones."""
    if not torch.isfinite(samples).all():
        raise NonFiniteSamples("the model produced non-finite samples")
    precision, recall = precision_recall(reference, samples, k=3)
    density, coverage = density_coverage(reference, samples, k=5)
    out = {"fd": frechet_distance_samples(samples, reference), "precision": precision,
           "recall": recall, "density": density, "coverage": coverage}
    if means is not None:
        out.update(mixture_modes(samples, means, sigma))
    return out


def evaluate(model, data, n: int, batch: int, seed: int, steps=None, repeats: int = 5) -> tuple[dict, torch.Tensor]:
    """Quality, coverage and speed of `model` on `data`; returns (metrics, samples in data space)."""
    samples, nfe = draw_samples(model, n, batch, seed, steps)
    metrics = sample_metrics(samples, data.reference, data.means, data.sigma)
    device = next(model.parameters()).device
    sec = median_seconds(lambda: model.sample(batch, steps=steps), repeats=repeats, device=device)
    return {**metrics, "nfe": nfe, "sample_sec_per_1k": sec * 1000 / batch, "sample_batch": batch}, samples
