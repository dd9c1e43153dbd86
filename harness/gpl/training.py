"""MarginMSE training with ``SentenceTransformerTrainer``: per-step log, resumable checkpoints, R-GPL callbacks.

* The trainer's data loader yields step numbers only; the batch of a step is built when the step runs
  (:class:`~harness.gpl.data.RoundData`), so negatives re-mined at the end of step k are used from step k+1 even
  though the loader prefetches.
* Checkpoints (``checkpoints/step-<n>/``) hold the model, optimizer, scheduler, scaler, RNG states and the trainer
  state (all written by the trainer) plus ``gpl_state.json`` (data position = step, round, time spent). A folder
  is renamed to ``step-<n>`` only once complete, so a kill during a save leaves the previous one usable.
* The learning rate follows GPL's WarmupLinear schedule (linear warm-up, then linear decay to 0), as a pure
  function of the step; with ``remine_warmup_restart`` the warm-up restarts after every re-mine.
* ``remine_schedule=async``: snapshots and re-mining workers are scheduled by
  :class:`~harness.gpl.async_remine.AsyncRemining` from the same callback.
* Under ``torch.distributed`` (``--nproc N``) every rank reads the step's whole batch and trains on rows
  ``rank::N`` (DDP averages the gradients); rank 0 writes the log, checkpoints and model
  (:mod:`harness.gpl.distributed`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import HarnessError
from ..fileio import read_json, write_json
from ..progress import counter
from . import distributed
from .data import RoundData, round_of
from .faults import fault_point
from .settings import GPLSettings, RemineSpec
from .workdir import WorkDir

log = logging.getLogger("harness")

class LinearWarmup:
    """LR factor: linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (GPL's WarmupLinear).

    With ``restart_every`` > 0 the warm-up restarts at steps k, 2k, ... (towards the decayed value at that step).
    """

    def __init__(self, warmup: int, total: int, restart_every: int = 0):
        self.warmup, self.total, self.restart_every = warmup, total, restart_every

    def __call__(self, step: int) -> float:
        decay = 1.0 if step < self.warmup else max(0.0, (self.total - step) / max(1, self.total - self.warmup))
        since = step - round_of(step, self.restart_every) if self.restart_every else step
        ramp = since / self.warmup if self.warmup and since < self.warmup else 1.0
        return ramp * decay


class ScaledSimilarity:
    """The student's pairwise similarity times ``scale`` (GPL's ``MarginDistillationLoss(scale=...)``)."""

    def __init__(self, fn, scale: float = 1.0):
        self.fn, self.scale = fn, float(scale)

    def __call__(self, a, b):
        s = self.fn(a, b)
        return s * self.scale if self.scale != 1.0 else s


def bounded_similarity(settings: GPLSettings, model) -> bool:
    """Whether the student's training similarity is a cosine: ``score_function=cos``, or a model whose last module
    normalises its embeddings (all-MiniLM-L6-v2), whose dot product is a cosine."""
    if settings.score_function == "cos":
        return True
    modules = list(model.children()) if hasattr(model, "children") else []
    return bool(modules) and type(modules[-1]).__name__ == "Normalize"


def warn_calibration(settings: GPLSettings, model) -> None:
    """GPL's two warnings (``gpl/train.py``, after pseudo labelling): a cosine student trained on unrescaled
    margins, and rescaled margins for a dot-product student."""
    bounded = bounded_similarity(settings, model)
    if bounded and not settings.label_rescale and settings.similarity_scale == 1.0 and not settings.similarity_scale_fit:
        log.warning("the student's similarity is a cosine (margins within [-2, 2]) and the pseudo labels are not "
                    "rescaled: GPL rescales them for cosine students (--set label_rescale=-2,2) or scale the "
                    "similarity (--set similarity_scale=...)")
    elif settings.label_rescale and not bounded:
        log.warning("label_rescale with a dot-product student (GPL warns the same: rescaling is meant for cosine "
                    "similarity)")


def fit_similarity_scale(model, round_data, n_tuples: int, score_function: str, batch_size: int = 64) -> dict:
    """The scale ``c`` that best fits the labels ``y`` by the untrained student's margins ``m``, in least squares:
    ``c = sum(m y) / sum(m m)`` over the first ``n_tuples`` tuples of round 0 (fewer when the round has fewer).
    Returns the scale (1 with a warning where the fit is not positive), the fit itself, and the mean squared errors at
    scale 1 and at the scale; deterministic for a model and round."""
    import numpy as np

    from ..dense import encode_texts

    from .data import round_of

    rows: list[dict] = []
    step = 0
    while len(rows) < n_tuples and round_of(step, round_data.remine_every) == 0:  # later rounds do not exist yet
        try:
            batch, _, _ = round_data.batch(step)
        except RuntimeError:  # past the last step
            break
        rows.extend(batch)
        step += 1
    rows = rows[:n_tuples]
    if not rows:
        raise HarnessError("similarity_scale_fit: round 0 has no tuples to fit the scale on")
    normalize = score_function == "cos"
    enc = {part: encode_texts(model, [row[part] for row in rows], batch_size=batch_size, normalize=normalize)
           for part in ("query", "positive", "negative")}
    m = (enc["query"] * enc["positive"]).sum(1) - (enc["query"] * enc["negative"]).sum(1)
    y = np.array([row["label"] for row in rows], dtype=np.float64)
    m = m.astype(np.float64)
    fitted = float((m * y).sum() / (m * m).sum()) if np.any(m) else None
    c = fitted if fitted is not None and fitted > 0 else 1.0
    if c != fitted:  # the untrained student orders the tuples against its labels (or not at all): no scale helps
        log.warning("similarity_scale_fit: the least-squares scale is %s (not positive); training with scale 1",
                    "undefined (every margin 0)" if fitted is None else f"{fitted:.3g}")
    return {"scale": c, "fitted": fitted, "n_tuples": len(rows), "mse_at_1": float(((m - y) ** 2).mean()),
            "mse_at_scale": float(((c * m - y) ** 2).mean())}


def _step_collate(items: list[int]) -> dict:
    import torch

    return {"step": torch.tensor(items, dtype=torch.long)}


def _make_trainer_class():
    import torch
    from sentence_transformers import SentenceTransformerTrainer

    class GPLTrainer(SentenceTransformerTrainer):
        """The ordinary trainer, fed by step number; the batch of a step comes from its round's tuples."""

        round_data: RoundData
        step_record: dict
        eval_mode_from: int | None = None  # settings.student_dropout: first step trained in eval mode
        decay_all: bool = False  # settings.decay_params

        def compute_loss(self, model, inputs, *args, **kwargs):
            if self.eval_mode_from is not None and self.state.global_step >= self.eval_mode_from:
                model.eval()  # no dropout, like the authors' student after encode() (docs/gpl.md, Fidelity)
            return super().compute_loss(model, inputs, *args, **kwargs)

        def get_decay_parameter_names(self, model):
            if self.decay_all:  # settings.decay_params=all: AdamW decays every parameter (the authors' optimiser)
                return [name for name, _ in model.named_parameters()]
            return super().get_decay_parameter_names(model)

        def get_train_dataloader(self):
            from torch.utils.data import DataLoader

            self.accelerator.even_batches = False
            # every rank gets every step number (the loader is sharded round-robin over the ranks)
            w = distributed.world_size()
            loader = DataLoader([i for i in range(self.args.max_steps) for _ in range(w)], batch_size=1,
                                shuffle=False, collate_fn=_step_collate, num_workers=0)
            self._train_dataloader = self.accelerator.prepare(loader)
            return self._train_dataloader

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.lr_factor)
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def _save(self, output_dir=None, state_dict=None):
            if self.args.should_save:  # the model files: rank 0 only (every rank calls save_model under DDP)
                super()._save(output_dir, state_dict)

        def training_step(self, model, inputs, num_items_in_batch=None):
            step = int(inputs["step"].reshape(-1)[0])
            if step != self.state.global_step:
                raise RuntimeError(f"data position {step} != trainer step {self.state.global_step}")
            self.step_started = time.time()
            rows, margins, rnd = self.round_data.batch(step)
            if distributed.world_size() > 1:  # this rank's share of the step's batch
                rows = rows[distributed.rank()::distributed.world_size()]
            features = self.data_collator(rows)
            loss = super().training_step(model, features, None)
            self.step_record = {"step": step + 1, "loss": distributed.mean(float(loss)),
                                "margin_mean": float(margins.mean()),
                                "lr": float(self._get_learning_rate()), "round": rnd}
            return loss

    return GPLTrainer


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


@dataclass
class TrainingJob:
    """Everything one training run needs; ``remine`` (R-GPL) is called at steps k, 2k, ... when set."""

    work: WorkDir
    settings: GPLSettings
    round_data: RoundData
    seed: int
    device: str
    remining: RemineSpec | None = None  # R-GPL's re-mining; None: the negatives of round 0 throughout
    remine: Callable[[int, object], None] | None = None  # (step, model) -> None; writes the round of ``step``
    async_remining: object | None = None  # AsyncRemining (remine_schedule=async)
    timing: dict = field(default_factory=lambda: {"train_seconds": 0.0})
    scale_fit: dict | None = None  # similarity_scale_fit's result (fit_similarity_scale)

    @property
    def remine_every(self) -> int:
        return self.remining.every if self.remining else 0


def _callbacks(job: TrainingJob, trainer_ref: dict):
    Base = _callback_base()

    class StepLog(Base):
        """Appends one line per optimizer step to the training log and accounts training time."""

        def on_step_end(self, args, state, control, **kw):
            trainer = trainer_ref["trainer"]
            job.timing["train_seconds"] += time.time() - trainer.step_started
            if distributed.is_main():
                job.work.append_log(trainer.step_record)
            fault_point("step", state.global_step)
            return control

    class Remine(Base):
        """R-GPL: at steps k, 2k, ... (the last step only with ``remine_at_end``) re-mine with the current model;
        asynchronously: snapshot and start a worker ``lag`` steps before, wait for it at the round boundary."""

        def on_train_begin(self, args, state, control, **kw):
            if job.async_remining is not None:
                job.async_remining.on_train_begin(state.global_step, trainer_ref["trainer"].model)
            return control

        def on_step_end(self, args, state, control, **kw):
            s, k = state.global_step, job.remine_every
            if job.async_remining is not None:
                job.async_remining.on_step_end(s, trainer_ref["trainer"].model)
                job.timing["remine_wait_seconds"] = round(job.async_remining.wait_seconds, 3)
            elif k and job.remine and s % k == 0 and (s < state.max_steps or job.remining.at_end):
                with preserved_rng():
                    job.remine(s, trainer_ref["trainer"].model)
            return control

    class Checkpoints(Base):
        """Adds ``gpl_state.json`` to the trainer's checkpoint, renames it ``step-<n>``, keeps the newest few."""

        def on_save(self, args, state, control, **kw):
            src = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            distributed.barrier()  # every rank has written its part (RNG state) of the checkpoint
            if distributed.is_main() and src.is_dir():
                self.publish(src, state)
            distributed.barrier()
            if job.async_remining is not None and distributed.is_main():
                job.async_remining.on_save(state.global_step)
            return control

        def publish(self, src: Path, state) -> None:
            write_json(src / WorkDir.CHECKPOINT_STATE, {
                "step": state.global_step, "round": round_of(state.global_step, job.remine_every),
                "train_seconds": job.timing["train_seconds"], "seed": job.seed,
                "remine_wait_seconds": job.timing.get("remine_wait_seconds", 0.0)})
            dst = job.work.checkpoint(state.global_step)
            if dst.exists():
                shutil.rmtree(dst)
            os.replace(src, dst)
            for _, old in job.work.checkpoints()[:-job.settings.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
            write_timing(job)
            log.info("checkpoint saved: %s", dst)  # by its final name (the trainer wrote checkpoint-<n>)

    class TrainerLogs(Base):
        """The trainer's periodic loss/learning-rate dictionaries, as log lines on stderr (stdout stays for results)."""

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and state.is_world_process_zero:
                shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in logs.items() if k != "total_flos")
                log.info("step %d/%d: %s", state.global_step, state.max_steps, shown)
            return control

    class StepProgress(Base):
        """The steps as the harness's progress (:mod:`harness.progress`: a bar on a terminal, else a log line a
        minute with the rate and the time left), on the main rank; the trainer's own tqdm bar is off."""

        advance = None

        def on_train_begin(self, args, state, control, **kw):
            if distributed.is_main():
                self.advance = trainer_ref["progress"].enter_context(
                    counter("Training", total=state.max_steps, unit="steps", completed=state.global_step))
            return control

        def on_step_end(self, args, state, control, **kw):
            if self.advance is not None:
                self.advance(1)
            return control

    return [StepLog(), Remine(), Checkpoints(), TrainerLogs(), StepProgress()]


def _logs_off_stdout(trainer) -> None:
    """The trainer prints its log dictionaries on stdout (PrinterCallback, with its tqdm bar off);
    :class:`TrainerLogs` reports them on stderr instead."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)  # added only with the bar on; StepProgress shows the steps


class preserved_rng:
    """Re-mining must not disturb the training RNG streams (python, numpy, torch CPU and CUDA)."""

    def __enter__(self):
        import random

        import numpy as np
        import torch

        self.py, self.np, self.cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return self

    def __exit__(self, *exc):
        import random

        import numpy as np
        import torch

        random.setstate(self.py)
        np.random.set_state(self.np)
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        return False


def write_timing(job: TrainingJob) -> dict:
    rounds = job.work.round_timing()
    remines = [r for r in rounds if r["step"] > 0]
    initial = next((r for r in rounds if r["step"] == 0), {"seconds": 0.0, "label_seconds": 0.0})
    timing = {"train_seconds": round(job.timing["train_seconds"], 3),
              "remine_seconds": round(sum(r["seconds"] for r in remines), 3),
              "label_seconds": round(sum(r["label_seconds"] for r in remines), 3),
              "remine_rounds": remines, "remine_wait_seconds": job.timing.get("remine_wait_seconds", 0.0),
              "initial_mining_seconds": initial["seconds"], "initial_label_seconds": initial["label_seconds"]}
    job.work.write_timing(timing)
    return timing


def _amp_flags(amp: str, device: str) -> dict:
    if not device.startswith("cuda") or amp == "none":
        return {}
    if amp == "bf16":
        return {"bf16": True}
    return {"fp16": True}  # "auto" and "fp16": fp16 autocast with loss scaling, as GPL's use_amp


def run_training(job: TrainingJob, student: str) -> Path:
    """Train (or resume) into ``job.work``; returns the folder of the final model."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    from sentence_transformers.util import pairwise_cos_sim, pairwise_dot_score

    from ..dense import load_encoder

    s = job.settings
    work = job.work
    final = work.model_dir
    if work.finished:
        return final
    distributed.check_batch(s.batch_size)
    main = distributed.is_main()
    if main:
        work.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        for p in work.checkpoints_dir.glob("checkpoint-*"):  # cut short by a kill during a save
            shutil.rmtree(p, ignore_errors=True)
        for _, p in work.checkpoints():  # damaged after its rename: not resumable, so not kept
            missing = [f for f in (WorkDir.CHECKPOINT_STATE, "trainer_state.json") if not (p / f).is_file()]
            if missing:
                log.warning("checkpoint %s lacks %s (damaged); removed, resuming from the previous one", p, ", ".join(missing))
                shutil.rmtree(p, ignore_errors=True)
    distributed.barrier()
    ckpt = work.latest_checkpoint()
    if ckpt is not None:
        state = read_json(ckpt / WorkDir.CHECKPOINT_STATE)
        job.timing["train_seconds"] = state.get("train_seconds", 0.0)
        job.timing["remine_wait_seconds"] = state.get("remine_wait_seconds", 0.0)
        if main:
            work.truncate_log(state["step"])
        log.info("resuming %s from step %d", work.root, state["step"])
    elif main:
        work.truncate_log(0)
    if job.async_remining is not None:
        job.async_remining.wait_seconds = job.timing.get("remine_wait_seconds", 0.0)

    model = load_encoder(student, device=job.device, max_seq_length=s.train_max_seq_length or s.max_seq_length)
    warn_calibration(s, model)
    scale = s.similarity_scale
    if s.similarity_scale_fit:  # from the untrained weights (also on resume: the same value)
        fit = fit_similarity_scale(model, job.round_data, s.similarity_scale_fit, s.score_function)
        scale = fit["scale"]
        job.scale_fit = fit
        model.train()  # encode() left it in eval mode; the trainer and student_dropout decide from here
        log.info("similarity scale fitted on %d round-0 tuples: %.3f (label MSE %.3f at scale 1, %.3f at %.3f)",
                 fit["n_tuples"], scale, fit["mse_at_1"], fit["mse_at_scale"], scale)
    loss = MarginMSELoss(model, similarity_fct=ScaledSimilarity(
        pairwise_cos_sim if s.score_function == "cos" else pairwise_dot_score, scale))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work.checkpoints_dir), max_steps=s.steps,
        per_device_train_batch_size=s.batch_size // distributed.world_size(),
        learning_rate=s.learning_rate, warmup_steps=s.warmup_steps, weight_decay=s.weight_decay,
        max_grad_norm=s.max_grad_norm, optim="adamw_torch", save_strategy="steps", save_steps=s.checkpoint_every,
        save_total_limit=None, logging_steps=max(1, min(100, s.steps // 10)), report_to=[], seed=job.seed,
        dataloader_num_workers=0, disable_tqdm=True,  # progress: StepProgress
        use_cpu=job.device == "cpu", eval_strategy="no", **_amp_flags(s.amp, job.device))
    import datasets

    placeholder = datasets.Dataset.from_dict({"query": ["q"], "positive": ["p"], "negative": ["n"], "label": [0.0]})
    Trainer = _make_trainer_class()
    restart_every = job.remine_every if job.remining and job.remining.warmup_restart else 0
    Trainer.lr_factor = staticmethod(LinearWarmup(s.warmup_steps, s.steps, restart_every))
    trainer_ref: dict = {"progress": contextlib.ExitStack()}
    trainer = Trainer(model=model, args=args, train_dataset=placeholder, loss=loss, callbacks=_callbacks(job, trainer_ref))
    _logs_off_stdout(trainer)
    trainer.round_data = job.round_data
    trainer.eval_mode_from = s.eval_mode_from(job.remine_every)
    trainer.decay_all = s.decay_params == "all"
    trainer_ref["trainer"] = trainer
    try:
        with trainer_ref["progress"]:  # the progress display ends with the training, also when it fails
            trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    finally:
        if job.async_remining is not None:
            job.async_remining.close()
    if not main:
        distributed.barrier()  # rank 0 writes the final model
        return final

    tmp = work.root / ".model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    trainer.model.max_seq_length = s.max_seq_length  # the retrieval length (train_max_seq_length only trains)
    trainer.model.save(str(tmp))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    timing = write_timing(job)
    work.write_training({"steps": s.steps, "final_loss": trainer.step_record["loss"]
                         if hasattr(trainer, "step_record") else None, "timing": timing,
                         **({"similarity_scale_fit": job.scale_fit} if job.scale_fit else {})})
    distributed.barrier()
    return final
