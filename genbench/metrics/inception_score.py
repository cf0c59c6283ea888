"""Inception Score (Salimans et al. 2016, §4): exp E_x KL(p(y|x) ‖ p(y)), over splits."""
import numpy as np
import torch

SPLITS, SEED = 10, 2020  # the paper's 10 splits; torch-fidelity's shuffle seed


def inception_score(logits: torch.Tensor, splits: int = SPLITS, seed: int = SEED) -> tuple[float, float]:
    """Mean and standard deviation over `splits` of exp(mean KL(p(y|x) ‖ p(y))), p(y) the split's mean
    prediction, from class logits (N, C) shuffled by numpy RandomState(seed), as torch-fidelity does."""
    logits = logits[torch.from_numpy(np.random.RandomState(seed).permutation(len(logits)))].double()
    p, log_p = logits.softmax(1), logits.log_softmax(1)
    n, scores = len(logits), []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        p_y = p[part].mean(0, keepdim=True)
        scores.append(float((p[part] * (log_p[part] - p_y.log())).sum(1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))
