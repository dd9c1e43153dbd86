"""GPL's released code and the harness on the same inputs: mined negatives, pseudo labels, rescaled labels, loss.

GPL (``gpl`` 0.1.4 = UKPLab/gpl at 322edf7) does not import with transformers 5, so its half runs in a side
environment with its era's libraries (sentence-transformers 2.6.1, transformers 4.39.2, beir 2.0.0)::

    python -m venv /tmp/gplvenv && /tmp/gplvenv/bin/pip install torch==2.13.0
    /tmp/gplvenv/bin/pip install --no-deps gpl==0.1.4 beir==2.0.0 easy-elasticsearch
    /tmp/gplvenv/bin/pip install sentence-transformers==2.6.1 transformers==4.39.2 tokenizers==0.15.2 \\
        huggingface-hub==0.22.2 "numpy<2" "pandas<2.3" "pyarrow<18" "datasets<3" "scipy<1.14" scikit-learn \\
        pytrec-eval-terrier elasticsearch==7.9.1 faiss-cpu nltk protobuf pytest
    python bench/gpl_differential.py --gpl-python /tmp/gplvenv/bin/python --data-dir ../shared/data [--json out.json]

(beir's own ``pytrec_eval`` dependency fetches trec_eval's sources from GitHub at build time; pytrec-eval-terrier
ships the same module prebuilt.) The harness side writes a SciFact slice and its generated queries in GPL's
generated-data layout (the harness's ``qgen`` stage folder *is* that layout); the GPL side builds a small random
cross-encoder (MiniLM's tokenizer) and runs, on that folder, GPL's ``NegativeMiner._mine_sbert`` with
all-MiniLM-L6-v2 (cos_sim), its ``PseudoLabeler`` with the cross-encoder, ``rescale_gpl_training_data(-2, 2)`` and
``MarginDistillationLoss`` (scale 1 and 4) on the first batch of the rescaled file. The harness then computes the
same things with its own code on GPL's files and the comparison is printed. GPL's BM25 miner needs an
Elasticsearch executable it downloads at run time, which this machine cannot: only dense mining is compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BATCH = 16
STEPS = 8
MAX_LEN = 128


# ----------------------------------------------------------------------------------------- GPL side (old libraries)
def gpl_side(work: Path, minilm: str) -> None:
    import torch
    import transformers
    from beir.datasets.data_loader import GenericDataLoader
    from sentence_transformers import SentenceTransformer
    from gpl.toolkit import MarginDistillationLoss, NegativeMiner, PseudoLabeler, rescale_gpl_training_data

    gen = work / "generated"
    ce = work / "cross-encoder"
    if not (ce / "config.json").is_file():  # a small random BERT cross-encoder with MiniLM's vocabulary
        torch.manual_seed(0)
        cfg = transformers.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=128, num_labels=1)
        # raw logits, as cross-encoder/ms-marco-MiniLM-L-6-v2's config.json says (else CrossEncoder applies a sigmoid)
        cfg.sbert_ce_default_activation_function = "torch.nn.modules.linear.Identity"
        model = transformers.BertForSequenceClassification(cfg)
        with torch.no_grad():  # random logits of a teacher's size (margins of a few units), not of ~1e-4
            model.classifier.weight.mul_(300.0)
        model.save_pretrained(ce)
        transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(ce)
    corpus, queries, qrels = GenericDataLoader(str(gen), prefix="qgen").load(split="train")
    miner = NegativeMiner(str(gen), "qgen", retrievers=[minilm], retriever_score_functions=["cos_sim"], nneg=50)
    mined = miner._mine_sbert(minilm, "cos_sim")
    (work / "gpl-mined.json").write_text(json.dumps(mined))
    # GPL's hard-negatives.jsonl of this miner (what PseudoLabeler reads)
    with open(gen / "hard-negatives.jsonl", "w") as fh:
        for qid, pos in qrels.items():
            fh.write(json.dumps({"qid": qid, "pos": list(pos), "neg": {minilm: mined.get(qid, [])}}) + "\n")
    torch.manual_seed(1)
    PseudoLabeler(str(gen), queries, corpus, STEPS, BATCH, str(ce), MAX_LEN).run()
    rescale_gpl_training_data(str(gen), -2.0, 2.0)
    model = SentenceTransformer(minilm, device="cpu")
    model.max_seq_length = MAX_LEN
    rows = [line.rstrip("\n").split("\t") for line in open(gen / "gpl-training-data.rescaled.tsv")][:BATCH]

    def doc(did):
        return " ".join(x.strip() for x in (corpus[did]["title"], corpus[did]["text"]) if x.strip())

    texts = ([queries[r[0]] for r in rows], [doc(r[1]) for r in rows], [doc(r[2]) for r in rows])
    labels = torch.tensor([float(r[3]) for r in rows])
    losses = {}
    model.eval()  # no dropout: the two sides' forward passes must be the same function
    with torch.no_grad():
        features = [model.tokenize(list(t)) for t in texts]
        for scale in (1.0, 4.0):
            loss = MarginDistillationLoss(model=model, similarity_fct="dot", scale=scale)
            losses[str(scale)] = float(loss(features, labels))
    (work / "gpl-loss.json").write_text(json.dumps({"losses": losses, "versions": {
        "sentence_transformers": __import__("sentence_transformers").__version__,
        "transformers": transformers.__version__, "gpl": "0.1.4"}}))


# ------------------------------------------------------------------------------------------- harness side
def prepare(work: Path, data_dir: Path, n_docs: int) -> tuple[str, object]:
    """A SciFact slice and the harness's offline key-phrase queries for it, in GPL's generated-data layout."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    from harness.datasets import load_dataset
    from harness.gpl.models import resolve_model
    from harness.gpl.qgen import run_qgen
    from harness.gpl.stages import Stage
    from harness.registry import resolve_dataset
    from harness.systems import build_settings, get_system_class

    ds = load_dataset(resolve_dataset("beir", "scifact"), "scifact", str(data_dir), allow_download=False)
    s = build_settings(get_system_class("gpl").Settings, {"generator": "offline-keyphrase"})
    stage = Stage(work, "qgen", {"slice": n_docs})
    if not stage.done:
        run_qgen(stage, ds.corpus, np.arange(n_docs), 2, s, seed=7)
    gen = work / "generated"
    if gen.is_symlink() or gen.exists():
        gen.unlink()
    gen.symlink_to(stage.dir)
    return str(resolve_model("local:all-MiniLM-L6-v2")), ds


def compare(work: Path, minilm: str) -> dict:
    import numpy as np
    import torch
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    from sentence_transformers.util import pairwise_dot_score

    from harness.datasets import read_beir_corpus
    from harness.dense import dense_retrieve, load_encoder
    from harness.gpl.labels import rescale_margins
    from harness.gpl.mining import mine_dense
    from harness.gpl.qgen import load_qgen
    from harness.gpl.teacher import CrossEncoderTeacher
    from harness.gpl.training import ScaledSimilarity

    gen = work / "generated"
    corpus, _ = read_beir_corpus(gen / "corpus.jsonl")
    queries, qrels = load_qgen(gen)
    out: dict = {"n_passages": len(corpus), "n_queries": len(queries)}

    # 1. mined negatives: the harness's dense miner (exact search, cos) against GPL's _mine_sbert
    model = load_encoder(minilm, device="cpu")
    ours = mine_dense(model, corpus, queries, qrels, 50, "cos", batch_size=128, precision="fp32")
    theirs = json.loads((work / "gpl-mined.json").read_text())
    same = [q for q in qrels if ours[q] == theirs[q]]
    scores = dense_retrieve(model, corpus, queries, top_k=len(corpus), score_function="cos", precision="fp32")
    tie_only = []  # a differing list whose differences are near-ties in the scores (float rounding)
    for q in qrels:
        if ours[q] != theirs[q]:
            a, b = ours[q], theirs[q]
            gaps = [abs(scores[q][x] - scores[q][y]) for x, y in zip(a, b) if x != y]
            tie_only.append(set(a) == set(b) and max(gaps) < 1e-5)
    out["negatives"] = {"queries": len(qrels), "identical_lists": len(same), "differing": len(qrels) - len(same),
                        "differing_only_in_near_ties": int(sum(tie_only))}

    # 2. pseudo labels: GPL's tuples scored by the harness's cross-encoder teacher (texts cut to 128 tokens each)
    rows = [line.rstrip("\n").split("\t") for line in open(gen / "gpl-training-data.tsv")]
    teacher = CrossEncoderTeacher(str(work / "cross-encoder"), device="cpu", max_seq_length=MAX_LEN)
    text = {d: " ".join(x.strip() for x in (corpus.titles[i], corpus.texts[i]) if x and x.strip())
            for d, i in corpus.index.items()}
    qs = [queries[r[0]] for r in rows]
    margins = (teacher.score(qs, [text[r[1]] for r in rows]) - teacher.score(qs, [text[r[2]] for r in rows]))
    gpl_margins = np.array([float(r[3]) for r in rows])
    out["labels"] = {"tuples": len(rows), "max_abs_diff": float(np.abs(margins - gpl_margins).max()),
                     "gpl_margin_range": [float(gpl_margins.min()), float(gpl_margins.max())]}

    # 3. rescaled labels: the harness's rescale_margins on GPL's margins against GPL's rescaled file
    gpl_rescaled = np.array([float(line.rstrip("\n").split("\t")[3])
                             for line in open(gen / "gpl-training-data.rescaled.tsv")])
    ours_rescaled = rescale_margins(gpl_margins, -2.0, 2.0)
    out["rescaled"] = {"tuples": len(gpl_rescaled), "max_abs_diff": float(np.abs(ours_rescaled - gpl_rescaled).max()),
                       "range": [float(gpl_rescaled.min()), float(gpl_rescaled.max())]}

    # 4. the loss on GPL's first batch of the rescaled file (student in eval mode on both sides: no dropout)
    batch = [line.rstrip("\n").split("\t") for line in open(gen / "gpl-training-data.rescaled.tsv")][:BATCH]
    student = load_encoder(minilm, device="cpu", max_seq_length=MAX_LEN).eval()
    texts = ([queries[r[0]] for r in batch], [text[r[1]] for r in batch], [text[r[2]] for r in batch])
    labels = torch.tensor([float(r[3]) for r in batch])
    theirs_loss = json.loads((work / "gpl-loss.json").read_text())
    losses = {}
    with torch.no_grad():
        features = [student.tokenize(list(t)) for t in texts]
        for scale in (1.0, 4.0):
            ours_l = float(MarginMSELoss(student, similarity_fct=ScaledSimilarity(pairwise_dot_score, scale))(features, labels))
            losses[str(scale)] = {"harness": ours_l, "gpl": theirs_loss["losses"][str(scale)],
                                  "rel_diff": abs(ours_l - theirs_loss["losses"][str(scale)]) / abs(ours_l)}
    out["loss"] = losses
    out["gpl_side_versions"] = theirs_loss["versions"]
    return out


def report(r: dict) -> str:
    n = r["negatives"]
    lines = [
        f"inputs: {r['n_passages']} SciFact passages, {r['n_queries']} generated queries (offline-keyphrase), "
        f"all-MiniLM-L6-v2, a random cross-encoder; GPL side: gpl 0.1.4 with "
        + ", ".join(f"{k} {v}" for k, v in r["gpl_side_versions"].items() if k != "gpl"),
        f"| check | GPL's code | harness | agreement |",
        f"| --- | --- | --- | --- |",
        f"| mined negatives (dense, cos_sim, top 50 minus positives) | NegativeMiner._mine_sbert | mine_dense | "
        f"{n['identical_lists']}/{n['queries']} lists identical"
        + (f"; {n['differing_only_in_near_ties']} of the {n['differing']} others differ only in order of near-ties"
           if n["differing"] else "") + " |",
        f"| pseudo labels (CE(q,pos) - CE(q,neg), texts cut to {MAX_LEN} tokens) | PseudoLabeler | CrossEncoderTeacher "
        f"| max abs diff {r['labels']['max_abs_diff']:.2e} over {r['labels']['tuples']} tuples (margins in "
        f"[{r['labels']['gpl_margin_range'][0]:.3f}, {r['labels']['gpl_margin_range'][1]:.3f}]; float32 batches padded "
        f"differently) |",
        f"| rescaled labels (-2, 2) | rescale_gpl_training_data | rescale_margins | max abs diff "
        f"{r['rescaled']['max_abs_diff']:.2e} over {r['rescaled']['tuples']} tuples |",
    ]
    for scale, v in r["loss"].items():
        lines.append(f"| loss on one batch of {BATCH}, scale {scale} | MarginDistillationLoss {v['gpl']:.6f} | "
                     f"MarginMSELoss {v['harness']:.6f} | rel. diff {v['rel_diff']:.1e} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=["harness", "gpl"], default="harness")
    ap.add_argument("--gpl-python", default="/tmp/gplvenv/bin/python", help="python of the side environment")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--work", default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--docs", type=int, default=120, help="SciFact passages in the slice")
    ap.add_argument("--minilm", default=None, help="(GPL side) all-MiniLM-L6-v2 folder")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.side == "gpl":
        gpl_side(Path(a.work), a.minilm)
        return
    import tempfile

    work = Path(a.work or tempfile.mkdtemp(prefix="gpl-differential-"))
    work.mkdir(parents=True, exist_ok=True)
    minilm, _ = prepare(work, Path(a.data_dir), a.docs)
    done = subprocess.run([a.gpl_python, __file__, "--side", "gpl", "--work", str(work), "--minilm", minilm])
    if done.returncode:
        raise SystemExit(f"the GPL side failed (exit status {done.returncode}); see its output above")
    result = compare(work, minilm)
    text = report(result)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({**result, "table": text}, indent=2) + "\n")


if __name__ == "__main__":
    main()
