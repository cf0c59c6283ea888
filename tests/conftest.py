"""Keep every cache of the test session (domain classifiers, reference statistics) in one
temporary folder: the classifier is trained once per session and nothing lands in ~/.cache."""
import os
import tempfile

os.environ.setdefault("GENBENCH_CACHE", tempfile.mkdtemp(prefix="genbench-test-cache-"))
os.environ.pop("GENBENCH_INCEPTION_WEIGHTS", None)  # FID is tested on its own, with fake weights
