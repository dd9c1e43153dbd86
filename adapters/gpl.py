"""``gpl``: Generative Pseudo Labeling (Wang et al., NAACL 2022) on sentence-transformers' own trainer.

Query generation -> hard-negative mining -> cross-encoder pseudo labels -> MarginMSE training -> dense retrieval
with the adapted model. Every stage is cached (``harness.gpl.pipeline``); a killed run resumes. ``--preset paper``
is the paper's setting, ``--preset offline`` a small offline one. See docs/gpl.md.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from harness.datasets import Dataset
from harness.gpl.settings import GPLSettings
from harness.systems import RunContext, SystemOutput

log = logging.getLogger("harness")


class GPLSystem:
    name: ClassVar[str] = "gpl"
    description: ClassVar[str] = "GPL: generated queries, mined negatives, cross-encoder margins, MarginMSE (resumable)"
    Settings: ClassVar[type] = GPLSettings
    trains_on_union: ClassVar[bool] = True  # one training for all parts of a multi-part dataset (harness.runner)

    def retrieve(self, dataset: Dataset, settings: GPLSettings, ctx: RunContext) -> SystemOutput:
        import time

        from harness.dense import load_encoder, model_revision
        from harness.gpl.models import pick_device
        from harness.gpl.pipeline import evaluation_run, run_pipeline
        from harness.gpl.workdir import WorkDir

        # A multi-part dataset (CQADupStack) trains once on the union of its parts, as GPL did; every part then
        # retrieves from its own corpus with that one model (the pipeline's stages are hash-keyed: the first part
        # trains, the others find the finished work folder).
        train_on = ctx.train_dataset if ctx.train_dataset is not None else dataset
        from harness.gpl import distributed

        result = run_pipeline(train_on, settings, ctx.cache_dir, ctx.seed)
        if not distributed.is_main():  # under --nproc / torchrun rank 0 alone retrieves and writes the run
            return SystemOutput(run=None)
        log.info("%s: work folder %s (trained on %s)", dataset.key, result.work_dir, train_on.key)
        model = load_encoder(str(result.model_dir), device=pick_device(settings.device),
                             max_seq_length=settings.max_seq_length)
        t0 = time.time()
        run = evaluation_run(model, dataset, settings, ctx.top_k, ctx.cache_dir)  # encode_precision, eval_self_hits
        models = {"student": settings.student, "adapted": model_revision(model), "generator": settings.generator,
                  "teacher": f"{settings.teacher_kind}:{settings.teacher}", "miners": ",".join(settings.miners)}
        extra = {"work_dir": str(result.work_dir), "stages": result.stages, "qgen_dir": str(result.qgen_dir),
                 "n_generated_queries": result.n_queries, "queries_per_passage": result.queries_per_passage,
                 "n_training_passages": result.n_passages, "training_dataset": train_on.key,
                 "query_stats": result.query_stats,
                 "timing": WorkDir(result.work_dir).timing(),
                 "retrieval_seconds": round(time.time() - t0, 3)}
        return SystemOutput(run=run, models=models, extra=extra)
