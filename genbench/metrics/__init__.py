"""Metrics: pure functions of tensors. They never see a model."""
from .frechet import frechet_distance, frechet_distance_samples, frechet_distance_to, gaussian_stats
from .modes import class_modes, mixture_modes
from .inception_score import inception_score
from .kernel import kid
from .knn import prdc
from .timing import matmul_gflops, median_seconds, timed

# what `genbench list` shows: column -> meaning
METRICS = {
    "fd": "2-D: Fréchet distance between Gaussian fits of real and generated points (quality)",
    "fd_domain": "images: Fréchet distance in the domain classifier's features (quality)",
    "fid": "images: Fréchet distance in pytorch-fid's Inception-v3 pool features (quality)",
    "is": "images: Inception Score, mean over 10 splits of the FID Inception's 1008-way predictions (quality)",
    "is_std": "images: standard deviation of the Inception Score over its splits",
    "kid": "images: KID, unbiased MMD² of Inception features, cubic kernel, mean of 100 subsets of 1,000 (quality)",
    "kid_std": "images: standard deviation of KID over its subsets",
    "kid_domain": "images: KID in the domain classifier's features (quality)",
    "precision": "share of samples inside the real k-NN manifold, k=3 (quality)",
    "recall": "share of real points inside the generated k-NN manifold, k=3 (coverage)",
    "density": "real k-NN ball memberships per sample / k, k=5 (quality)",
    "coverage": "share of real points whose k-NN ball holds a sample, k=5 (coverage)",
    "modes": "2-D: mixture modes with a high-quality sample; images: distinct predicted classes or 3-digit codes (coverage)",
    "hq": "share of samples within 3σ of their nearest mode (quality)",
    "kl": "reverse KL of the mode (class, code) histogram against uniform (coverage)",
    "nfe": "network evaluations per sample, counted with forward hooks (speed)",
    "sample_sec_per_1k": "wall seconds per 1,000 samples, median over the evaluation's batches after a warm-up (speed)",
}
