"""Session-wide test set-up shared by every test package."""

import os

# Two cores on CI: keep BLAS/torch from oversubscribing when pytest runs heavy tests.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
