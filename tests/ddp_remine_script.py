"""One rank of a distributed re-mine (run by tests/test_ddp.py under torch.distributed.run with gloo).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_remine_script.py WORLD_JSON WORK OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(world_json: str, work: str, out: str) -> None:
    import torch

    from gpl_support import base_sets, build, load
    from harness.dense import load_encoder
    from harness.gpl import distributed
    from harness.gpl.labels import Space
    from harness.gpl.pipeline import _make_teacher
    from harness.gpl.remining import Reminer
    from harness.gpl.workdir import WorkDir

    torch.set_num_threads(1)
    world = json.loads(Path(world_json).read_text())
    distributed.init("cpu")
    assert distributed.active() and distributed.world_size() == 2
    reminer, _ = remining_setup(world, Path(work), base_sets, build, load, Space, _make_teacher, Reminer)
    model = load_encoder(world["student"], device="cpu", max_seq_length=64)
    reminer.mine_round(4, model, snapshot_step=4)
    # after the barrier every rank reads the round rank 0 wrote
    negs = WorkDir(work).round(4).negatives()
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"rank-{distributed.rank()}.json").write_text(
        json.dumps({q: {"pos": v.pos, "neg": v.neg} for q, v in negs.items()}, sort_keys=True))


def remining_setup(world, work: Path, base_sets, build, load, Space, make_teacher, Reminer):
    """A re-miner over the SciFact slice's real queries (shared by the test's single-process reference)."""
    ds = load(world)
    qrels = {q: sorted(d) for q, d in ds.qrels.items()}
    s = build("rgpl", base_sets(world, remine_every=4, steps=8, encode_batch_size=16))
    from harness.gpl.workdir import WorkDir

    reminer = Reminer(work=WorkDir(work), settings=s, spec=s.remining(), space=Space(list(qrels), ds.queries, ds.corpus),
                      train_corpus=ds.corpus, qrels=qrels, seed=42, teacher_factory=make_teacher(s, ds.corpus))
    return reminer, None


if __name__ == "__main__":
    main(*sys.argv[1:4])
