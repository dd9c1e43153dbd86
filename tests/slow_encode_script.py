"""``harness`` (the console entry point) with a deterministic slowdown of encoding, for the kill -9 resume test.

Usage: ``python tests/slow_encode_script.py SECONDS_PER_BATCH CHECKPOINT_SECONDS harness-args...``: every batch a
sentence-transformers model encodes first sleeps ``SECONDS_PER_BATCH``, and a corpus encoding notes its progress at
most every ``CHECKPOINT_SECONDS`` (the harness's default is 30 s). Only the pace changes: the batches, the
embeddings and the files written are the harness's own.
"""

from __future__ import annotations

import sys
import time

from sentence_transformers import SentenceTransformer

from harness import dense
from harness.cli import main

if __name__ == "__main__":
    delay, dense.CHECKPOINT_SECONDS = float(sys.argv[1]), float(sys.argv[2])
    forward = SentenceTransformer.forward

    def slow_forward(self, *args, **kwargs):
        time.sleep(delay)
        return forward(self, *args, **kwargs)

    SentenceTransformer.forward = slow_forward
    main(sys.argv[3:])
