"""What the EMA of the sampling networks does, and how long its window should be: one training run
per seed (exactly the default `genbench run`), scored at several steps with the raw weights, the
recipe's EMA and EMAs of other windows, each on K sample draws.

    python benchmarks/ema.py [--model ddgan] [--dataset digits] [--seeds 0,1,2] [--steps 3000]
                             [--at 1000,2000,3000] [--windows 0.025,0.05,0.25,0.5] [--draws 10]
                             [--set KEY=VALUE ...]

The recipe's EMA decays at min(ema, (1 + n)/(10 + n)) at update n: an average over roughly the
last n/9 updates until the cap. A window fraction f here is the decay 1 − 1/(f·n + 1), an average
over roughly the last f·n updates (the recipe's is f ≈ 0.11). The extra averages read the
weights after each step and draw no random numbers, so the run, its recipe EMA and its scores at
`--steps` are those of `genbench run --model M --dataset D --steps N --seed S` (with a constant
learning rate, as DDGAN's image recipe has, the state at an earlier step is also that of a shorter
run). Each score is the mean ± sd over K draws of as many samples as the reference set
(`benchmarks/redraw.py`'s draws; the digits floor is 9.28 over 50 draws). One seed a process:
run seeds side by side as separate processes with `--threads 1`.
"""
import argparse
import copy
import sys

import torch

from genbench.config import make_config
from genbench.runner import build, image_features, load_data
from genbench.train import Trainer, ema_update, seed_everything, train
from redraw import model_draws, print_row, summary


def run(model_name: str, dataset: str, seed: int, steps: int, at: set[int], windows: list[float], draws: int,
        assignments: dict[str, str]) -> None:
    try:
        cfg = make_config(model_name, dataset, seed, {**assignments, "steps": str(steps)})
    except ValueError as e:
        raise SystemExit(f"ema: error: {e}") from None
    data = load_data(cfg)
    features = image_features(cfg, data, log=lambda *a: None, progress=False)
    seed_everything(cfg.seed)  # as runner._run does, so the run is the default one
    model = build(cfg, data.shape)
    trainer = Trainer(model, cfg.seed, cfg.precision)
    if not trainer.ema:
        raise SystemExit(f"ema: error: {model_name} keeps no EMA (its recipe has ema=None)")
    nets = {name: getattr(model, name) for name in model.SAMPLING_NETS}
    extra = {f: {name: copy.deepcopy(net).requires_grad_(False) for name, net in nets.items()} for f in windows}

    def after_step(done: int, seconds: float) -> None:  # the training loop's per-step callback (every=1)
        for f, copies in extra.items():
            for name, net in copies.items():
                ema_update(net, nets[name], 1 - 1 / (f * (done - 1) + 1))
        if done % max(1, steps // 10) == 0:  # the scores come only at `--at`: show that it is alive
            print(f"seed {seed}: step {done}/{steps}, {seconds:.0f} s", file=sys.stderr, flush=True)
        if done in at:
            variants = [("raw", nets), ("recipe EMA", trainer.ema), *((f"window {f:g}·n", c) for f, c in extra.items())]
            for label, weights in variants:
                for name, net in weights.items():
                    setattr(model, name, net)
                print_row(f"seed {seed} step {done} {label}", summary(model_draws(model, data, features, draws)))
            for name, net in nets.items():
                setattr(model, name, net)

    train(trainer, data.to_model(data.train), torch.Generator().manual_seed(cfg.seed), checkpoint=after_step, every=1,
          progress=False, y_train=data.train_labels)  # the loop `genbench run` trains with


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="ddgan")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--at", default="1000,2000,3000", help="steps at which to score")
    ap.add_argument("--windows", default="0.025,0.05,0.25,0.5", help="window fractions f of the extra EMAs")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe setting, as genbench run --set takes it")
    args = ap.parse_args()
    if any("=" not in a for a in args.assignments):
        ap.error("--set takes KEY=VALUE")
    if args.threads:
        torch.set_num_threads(args.threads)
    at = {int(s) for s in args.at.split(",")}
    if not at or max(at) > args.steps or min(at) < 1 or args.draws < 2:
        ap.error("--at must lie in 1..--steps, and --draws be at least 2")
    for seed in (int(s) for s in args.seeds.split(",")):
        run(args.model, args.dataset, seed, args.steps, at, [float(f) for f in args.windows.split(",") if f], args.draws,
            dict(a.split("=", 1) for a in args.assignments))


if __name__ == "__main__":
    main()
