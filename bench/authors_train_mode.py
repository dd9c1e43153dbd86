"""Train/eval mode of the student in the authors' R-GPL trainer, run with their pinned library versions.

The authors' trainer (root-goksenin/RGPL, ``rgpl/lightning.py``) is a pytorch-lightning 1.5.10 module with manual
optimisation; it calls sentence-transformers 2.6.1's ``encode()`` at step 0 (the test evaluation at
``global_step % eval_every == 0``) and inside ``train_dataloader()`` (re-mining, reloaded every k/1000 epochs).
This script mirrors that skeleton with a tiny random BERT and prints ``student.training`` at every training step.
It needs the pinned versions, which the harness's own environment does not have, e.g.::

    python -m venv /tmp/sidevenv
    /tmp/sidevenv/bin/pip install --no-deps sentence-transformers==2.6.1 pytorch-lightning==1.5.10 \
        transformers==4.39.2 tokenizers==0.15.2 huggingface-hub==0.22.2 torchmetrics==1.3.2 pyDeprecate==0.3.1 \
        lightning-utilities==0.11.2 tensorboard==2.14.0   # plus torch, numpy, ... (any torch 2.x works)
    /tmp/sidevenv/bin/python bench/authors_train_mode.py

Result (docs/gpl.md, "Fidelity"): with the step-0 encode the student is in eval mode at every step; without it,
from the first re-mine on.
"""

import os
import tempfile

import pytorch_lightning as pl
import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer, models
from torch.utils.data import DataLoader

REMINE_EVERY = 4  # steps; the authors re-mine in train_dataloader() when global_step % k == 0


def tiny_student() -> SentenceTransformer:
    d = tempfile.mkdtemp()
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32)
    transformers.BertModel(cfg).save_pretrained(d)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(95)]))
    transformers.BertTokenizer(os.path.join(d, "vocab.txt")).save_pretrained(d)
    word = models.Transformer(d, max_seq_length=16)
    return SentenceTransformer(modules=[word, models.Pooling(16)])


class Skeleton(pl.LightningModule):
    def __init__(self, encode_at_step0: bool):
        super().__init__()
        self.bi = tiny_student()
        self.automatic_optimization = False
        self.encode_at_step0 = encode_at_step0
        self.modes: list[tuple[int, bool]] = []

    def training_step(self, batch, idx):
        if self.global_step == 0 and self.encode_at_step0:
            self.bi.encode(["w1 w2"], show_progress_bar=False)  # lightning.py:160-164 (ndcg_test at step 0)
        self.modes.append((self.global_step, self.bi.training))
        opt = self.optimizers()
        feats = {"input_ids": torch.tensor([[2, 5, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
        loss = self.bi(feats)["sentence_embedding"].sum()
        self.manual_backward(loss)
        opt.step()
        opt.zero_grad()

    def train_dataloader(self):
        if self.global_step and self.global_step % REMINE_EVERY == 0:
            self.bi.encode(["w3"], show_progress_bar=False)  # lightning.py:264-265 (mine_hard_negatives)
        return DataLoader(list(range(8)), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.bi.parameters(), lr=1e-3)


def main() -> None:
    print("versions: pytorch-lightning", pl.__version__, "sentence-transformers", sentence_transformers.__version__,
          "transformers", transformers.__version__, "torch", torch.__version__)
    for flag in (True, False):
        m = Skeleton(flag)
        trainer = pl.Trainer(max_steps=10, limit_train_batches=2, reload_dataloaders_every_n_epochs=REMINE_EVERY // 2,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False)
        trainer.fit(m)
        print("encode at step 0:", flag, "-> (step, student.training):", m.modes)


if __name__ == "__main__":
    main()
