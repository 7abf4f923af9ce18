"""Shared settings of the search tests (imported by name: pytest puts this folder on sys.path)."""

# Tiny real trials: adding T=20, hidden 8, one epoch of 4 batches, two at a time.
TINY = dict(
    task="adding", T=20, n_train=256, n_val=64, n_test=64, space="small", epochs=1, hidden=8,
    batch_size=64, max_concurrent=2, seed=0,
)
