"""Where a stacked-digits KL comes from: each channel's digit histogram against the joint one.

    python benchmarks/stacked.py RUN_DIR [RUN_DIR ...] [--n N]

A stacked image's code is three digits, one per channel, read by the digits classifier; the row's
KL is KL(p ‖ uniform) of the 1,000-code histogram. When the three digits are independent it is the
sum of the three channels' KL(p_c ‖ uniform over 10), so a model whose samples the classifier reads
as "8" too often pays in every channel. Prints, for the real reference set and for each run (one
draw with the run's seed, as many samples as the reference), each channel's histogram and KL,
their sum and the joint KL; the rest (joint minus the sum) is dependence between the channels.
A plain digits run gets its one histogram, the same comparison without the stacking. `--n N`
draws N samples with seed 100 instead of the row's draw (359 digits are a noisy histogram).
"""
import argparse
from pathlib import Path

import torch

from genbench.data.images import quantize
from genbench.evaluate import draw_samples
from genbench.metrics.modes import class_modes
from genbench.runner import RunError, image_features, load_data, load_run


def report(name: str, codes: torch.Tensor, stacked: bool) -> None:
    digits = torch.stack([codes // 100, codes // 10 % 10, codes % 10], dim=1) if stacked else codes[:, None]
    kls = []
    print(name)
    for c in range(digits.shape[1]):
        counts = torch.bincount(digits[:, c], minlength=10)
        kls.append(class_modes(digits[:, c], 10)["kl"])
        print(f"  channel {c}: KL {kls[-1]:.3f}  % of 0-9: " + " ".join(f"{100 * v:.0f}" for v in counts / counts.sum()))
    if stacked:
        joint = class_modes(codes, 1000)
        print(f"  channels' KL summed {sum(kls):.3f}, joint KL {joint['kl']:.3f}, codes {joint['modes']}/1000")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, help="samples to draw (seed 100) instead of the row's own draw")
    args = ap.parse_args()
    real_done = set()
    for run in args.runs:
        try:
            cfg, model = load_run(run)
        except RunError as e:
            raise SystemExit(f"stacked: error: {e}") from None
        data = load_data(cfg)
        features = image_features(cfg, data, log=lambda *a: None, progress=False)
        if features is None:
            raise SystemExit(f"stacked: error: {run} is a {cfg.dataset} run, not an image dataset with classes")
        stacked = features.domain.stacked
        if cfg.dataset not in real_done:
            real_done.add(cfg.dataset)
            report(f"real reference ({cfg.dataset}, n={len(data.reference)})",
                   features.domain.classes(quantize(data.reference)), stacked)
        x = (draw_samples(model, args.n, 1000, 100) if args.n else  # else the row's own draw
             draw_samples(model, len(data.reference), cfg.sample_batch, cfg.seed))[0]
        report(f"{run.name} (n={len(x)})", features.domain.classes(quantize(data.to_data(x))), stacked)


if __name__ == "__main__":
    main()
