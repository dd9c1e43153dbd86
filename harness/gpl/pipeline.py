"""The GPL / R-GPL pipeline: cached stages, the training work folder, resumption.

Cache layout under ``<HARNESS_CACHE>/gpl/``: ``qgen/<key>/``, ``mine/<key>/`` (one per miner),
``negatives/<key>/``, ``labels/<key>/`` (round 0) and ``train/<key>/`` (the work folder of one training, see
``docs/gpl.md``). Each key hashes the stage's own settings and the keys of the stages it reads, so changing e.g.
the teacher recomputes labels and training but reuses the generated queries and the mined negatives.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ..datasets import Dataset
from ..errors import SettingsError
from ..fileio import stable_hash
from .data import RoundData
from .labels import Space, write_round
from .mining import combine, dense_mining_key, run_miner, sub_corpus, sub_corpus_fingerprint
from .models import pick_device, resolve_model, source_fingerprint
from .qgen import format_query_stats, generator_key, load_qgen, query_stats, run_qgen, sample_passages
from .settings import GPLSettings, cache_values, generation_plan
from .stages import Stage, link_or_copy
from .teacher import load_teacher
from .training import TrainingJob, run_training
from .workdir import GeneratedData, Round, WorkDir

log = logging.getLogger("harness")



@dataclass
class PipelineResult:
    work_dir: Path
    model_dir: Path
    stages: dict[str, str]  # stage -> key
    qgen_dir: Path
    n_queries: int
    queries_per_passage: int
    n_passages: int
    query_stats: dict


def _teacher_spec(s: GPLSettings) -> dict:
    spec = {"kind": s.teacher_kind, "name": s.teacher, "source": source_fingerprint(s.teacher),
            "max_seq_length": s.teacher_max_seq_length}
    if s.teacher_kind in ("bi-encoder", "hybrid"):
        spec["score_function"] = s.teacher_score_function
    if s.teacher_kind == "hybrid":
        spec["bm25_weight"] = s.teacher_bm25_weight
    return spec


def _load_teacher_of(s: GPLSettings, corpus):
    return load_teacher(s.teacher_kind, s.teacher, corpus=corpus, device=pick_device(s.device),
                        max_seq_length=s.teacher_max_seq_length, score_function=s.teacher_score_function,
                        bm25_weight=s.teacher_bm25_weight)


def _make_teacher(s: GPLSettings, corpus):
    """A picklable factory (an asynchronous re-mining worker builds its own teacher)."""
    return functools.partial(_load_teacher_of, s, corpus)


def run_pipeline(dataset: Dataset, s: GPLSettings, cache_dir: Path, seed: int) -> PipelineResult:
    """Run (or resume, or reuse) every stage for ``dataset``; returns where the adapted model is."""
    if s.num_threads:
        import torch

        torch.set_num_threads(s.num_threads)
    from . import distributed

    device = distributed.init(pick_device(s.device))  # joins the process group under --nproc / torchrun
    if distributed.launched() and hasattr(s, "lag") and s.lag():
        raise SettingsError("setting 'remine_schedule': async re-mining runs in one training process; "
                            "use remine_schedule=sync with --nproc")
    if not distributed.is_main():
        distributed.barrier()  # rank 0 runs (or finds) the stages before training; the others then read them
    root = Path(cache_dir) / "gpl"
    corpus, corpus_fp = dataset.corpus, dataset.corpus_fingerprint
    remining = s.remining()  # None: GPL (or R-GPL with remine_every=0)
    remine_every = remining.every if remining else 0

    # 1. query generation
    n_pass, qpp = generation_plan(len(corpus), s.queries_per_passage, s.corpus_sample, s.max_generated_queries)
    indices = sample_passages(len(corpus), n_pass, seed)
    qgen = Stage(root, "qgen", {
        "corpus": corpus_fp, "n_passages": n_pass, "queries_per_passage": qpp, "seed": seed,
        **generator_key(s)})
    with qgen.lock():  # a stage is computed by one process; others wait and then read it
        if not qgen.done:
            log.info("generating %d queries per passage for %d passages with %s", qpp, n_pass, s.generator)
            run_qgen(qgen, corpus, indices, qpp, s, seed)
    queries, qrels = load_qgen(qgen.dir)
    train_corpus = sub_corpus(corpus, indices)
    train_corpus_fp = sub_corpus_fingerprint(corpus_fp, len(corpus), indices)
    generated = GeneratedData(qgen.dir)
    with qgen.lock():
        qstats = generated.stats()
        if qstats is None:  # how much the queries give their passages away (a stage cached before it was measured)
            qstats = query_stats(queries, qrels, train_corpus, seed=seed)
            generated.write_stats(qstats)
    log.info("generated queries (%s): %s", s.generator, format_query_stats(qstats))

    # 2. hard negatives, one cached stage per miner
    miner_stages = []
    for i, miner in enumerate(s.miners):
        sf = "bm25" if miner == "bm25" else s.miner_score_function(i)
        st = Stage(root, "mine", {
            "qgen": qgen.key, "miner": miner, "score_function": sf, "top_k": s.negatives_per_query,
            "source": source_fingerprint(s.student if miner == "student" else miner),
            **({"max_seq_length": s.max_seq_length} if miner == "student" else {}),
            **({"index": s.mine_index} if miner != "bm25" and s.mine_index != "exact" else {}),
            **({} if miner == "bm25" else dense_mining_key(s))})
        with st.lock():
            if not st.done:
                log.info("mining hard negatives with %s", miner)
                run_miner(st, miner, sf, train_corpus, train_corpus_fp, queries, qrels, s, Path(cache_dir))
        miner_stages.append((miner, st))
    negs = Stage(root, "negatives", {"miners": [(m, st.key) for m, st in miner_stages]})
    with negs.lock():
        if not negs.done:
            combine(negs, miner_stages, qrels)

    # 3. round 0: training tuples of the first round, labelled by the teacher
    space = Space(list(qrels), queries, corpus)
    end0 = min(remine_every, s.steps) if remine_every else s.steps
    teacher_spec = _teacher_spec(s)
    labels = Stage(root, "labels", {
        "negatives": negs.key, "teacher": teacher_spec, "seed": seed, "batch_size": s.batch_size,
        "neg_sampling": s.neg_sampling, "steps": [0, end0], "score_sample_queries": s.score_sample_queries})
    teacher_factory = _make_teacher(s, corpus)
    with labels.lock():
        if not labels.done:
            log.info("pseudo-labelling %d steps x %d tuples with %s", end0, s.batch_size, s.teacher)
            labels.start()
            negatives = Round(negs.dir, 0).negatives()  # read only here: later parts of a union skip it
            miner_fp = stable_hash([st.inputs["source"] for _, st in miner_stages])
            write_round(Round(labels.dir, 0), negatives=negatives, previous=None, space=space, teacher=teacher_factory(),
                        settings=s, seed=seed, start=0, end=end0, miner="+".join(s.miners),
                        checkpoint_fingerprint=miner_fp, mine_seconds=negs.info().get("mining_seconds", 0.0),
                        mode=remining.mode if remining else "replace")
            labels.finish()

    # 4. training (work folder)
    train_inputs = {"labels": labels.key, "student_source": source_fingerprint(s.student), **cache_values(s, "train")}
    eval_from = s.eval_mode_from(remining.every if remining else 0)
    if eval_from is not None:  # student_dropout: only a setting that changes training enters the key
        train_inputs["eval_mode_from"] = eval_from
    train_inputs.update(s.training_key_extras())  # label_rescale, similarity_scale: only where not GPL's default
    if remining:
        train_inputs["remining"] = {
            **cache_values(s, "remine"), "score_function": remining.score_function,
            "model_source": source_fingerprint(remining.model) if remining.model != "student" else "student",
            **dense_mining_key(s)}
        if s.lag():  # asynchronous re-mining trains on other negatives (snapshots remine_lag steps older)
            train_inputs["remining"]["schedule"] = {"mode": "async", "lag": s.lag()}
    train = Stage(root, "train", train_inputs)
    with train.lock():  # the work folder: one training process at a time, others wait and reuse it
        work = WorkDir(train.start())
        round0, labelled = work.round(0), Round(labels.dir, 0)
        for name in Round.FILES:
            if not round0.path(name).is_file():
                link_or_copy(labelled.path(name), round0.path(name))
        if distributed.is_main():  # the other ranks wait at the barrier below, then read
            work.write_sources({
                "dataset": dataset.key, **({"parts": list(dataset.parts)} if dataset.parts else {}),
                "corpus_fingerprint": corpus_fp, "qgen_dir": str(qgen.dir),
                "mining_dir": str(negs.dir), "labels_dir": str(labels.dir), "student": s.student,
                "teacher": {"kind": s.teacher_kind, "name": s.teacher}, "miners": list(s.miners), "settings": asdict(s),
                "seed": seed, "stages": {"qgen": qgen.key, "negatives": negs.key, "labels": labels.key, "train": train.key},
                "n_training_passages": int(n_pass), "queries_per_passage": qpp, "n_queries": len(queries)})
            distributed.barrier()
        job = TrainingJob(work=work, settings=s, round_data=RoundData(work, space, remine_every, s.batch_size, s.label_rescale),
                          seed=seed, device=device, remining=remining)
        if remining:
            from .remining import Reminer

            job.remine = Reminer(work=work, settings=s, spec=remining, space=space, train_corpus=train_corpus,
                                 qrels=qrels, seed=seed, teacher_factory=teacher_factory)
            if s.lag():
                from .async_remine import AsyncRemining

                job.async_remining = AsyncRemining(job.remine, work, s, s.steps, remining.at_end)
        log.info("training in %s", work.root)
        model_dir = run_training(job, resolve_model(s.student))
        if not train.done and distributed.is_main():
            train.finish(final_loss=(work.log_rows() or [{}])[-1].get("loss"))
        return PipelineResult(work_dir=work.root, model_dir=model_dir,
                              stages={"qgen": qgen.key, "negatives": negs.key, "labels": labels.key, "train": train.key},
                              qgen_dir=qgen.dir, n_queries=len(queries), queries_per_passage=qpp, n_passages=int(n_pass),
                              query_stats=qstats)


def evaluation_run(model, dataset: Dataset, s, top_k: int, cache_dir: Path | None) -> dict[str, dict[str, float]]:
    """The adapted model's run on ``dataset`` in ``s.encode_precision``.

    ``eval_self_hits="all"``: like BEIR's exact search (used by GPL's and the authors' evaluation), a document whose
    id is the query id is skipped and ``top_k`` others are returned, on every BEIR dataset; LoTTE keeps the
    registry's choice, its query and document ids being unrelated numbers.
    """
    from ..dense import dense_retrieve

    self_hits = s.eval_self_hits == "all" and dataset.suite != "lotte"
    return dense_retrieve(model, dataset.corpus, dataset.queries, top_k=top_k, score_function=s.score_function,
                          batch_size=s.encode_batch_size, cache_dir=cache_dir,
                          corpus_fingerprint=dataset.corpus_fingerprint, precision=s.encode_precision,
                          exclude={q: {q} for q in dataset.queries} if self_hits else None)

