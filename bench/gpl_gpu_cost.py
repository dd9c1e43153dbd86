"""Throughput of every GPU-heavy GPL/R-GPL step at the paper's model sizes, and the GPU hours they add up to.

Models are built from their configurations with random weights (the Hugging Face hub is not needed: speed depends
on the architecture and sequence lengths, not on the weights):

* student / miner: DistilBERT-base (6 layers, 768 hidden; ``msmarco-distilbert-base-v3``, ``GPL/msmarco-distilbert-margin-mse``)
* teacher: MiniLM-L6 cross-encoder (6 layers, 384 hidden; ``cross-encoder/ms-marco-MiniLM-L-6-v2``)
* generator: T5-base (``BeIR/query-gen-msmarco-t5-base-v1``), 3 queries per passage by top-p sampling

Measured, each for ``--seconds`` after a warm-up: MarginMSE training steps/s (batch 32 queries + 32 positives + 32
negatives, AdamW, autocast), passages/s encoded (re-mining, retrieval), cross-encoder pairs/s (pseudo labels),
passages/s through query generation. Then the projection for one dataset and for the paper's grid.

    python bench/gpl_gpu_cost.py --seconds 20 --passage-tokens 256
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def timed(fn, seconds: float, warmup: int = 3) -> float:
    """Calls per second of ``fn`` over at least ``seconds`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if n % 5 == 0:
            torch.cuda.synchronize()
            if time.perf_counter() - t0 >= seconds:
                break
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--query-tokens", type=int, default=24)
    ap.add_argument("--passage-tokens", type=int, default=256, help="training/encoding length (GPL truncates at 350)")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"])
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    from transformers import (AutoModelForSeq2SeqLM, BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertModel, T5Config)

    dev = torch.device("cuda")
    dt = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    torch.manual_seed(0)
    V, B, Lq, Lp = 30522, 32, args.query_tokens, args.passage_tokens
    out: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": args.dtype,
                 "query_tokens": Lq, "passage_tokens": Lp}

    # 1. MarginMSE training step of a DistilBERT bi-encoder (mean pooling, dot product), GPL's recipe
    student = DistilBertModel(DistilBertConfig()).to(dev).train()
    opt = torch.optim.AdamW(student.parameters(), lr=2e-5, weight_decay=0.01)
    scaler = torch.amp.GradScaler(enabled=args.dtype == "fp16")
    q = torch.randint(1000, V, (B, Lq), device=dev)
    p = torch.randint(1000, V, (B, Lp), device=dev)
    n = torch.randint(1000, V, (B, Lp), device=dev)
    margin = torch.randn(B, device=dev)

    def embed(ids):
        h = student(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        return h.mean(1)

    def train_step():
        with torch.autocast("cuda", dtype=dt):
            eq, ep, en = embed(q), embed(p), embed(n)
            pred = (eq * ep).sum(-1) - (eq * en).sum(-1)
            loss = torch.nn.functional.mse_loss(pred.float(), margin)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()

    out["train_steps_per_s"] = timed(train_step, args.seconds)

    # 2. encoding passages (re-mining / retrieval), batch 128, inference
    student.eval()
    enc = torch.randint(1000, V, (128, Lp), device=dev)

    @torch.inference_mode()
    def encode():
        with torch.autocast("cuda", dtype=dt):
            embed(enc)

    out["encode_passages_per_s"] = 128 * timed(encode, args.seconds / 2)
    del student, opt

    # 3. cross-encoder pseudo labels: (query, passage) pairs, batch 256
    ce = BertForSequenceClassification(BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                                  intermediate_size=1536, num_labels=1)).to(dev).eval()
    pairs = torch.randint(1000, V, (256, min(512, Lq + Lp)), device=dev)

    @torch.inference_mode()
    def label():
        with torch.autocast("cuda", dtype=dt):
            ce(input_ids=pairs, attention_mask=torch.ones_like(pairs))

    out["ce_pairs_per_s"] = 256 * timed(label, args.seconds / 2)
    del ce

    # 4. query generation with T5-base: 3 sampled queries of up to 64 tokens per passage, batch 32 passages
    t5 = AutoModelForSeq2SeqLM.from_config(T5Config(d_model=768, d_ff=3072, num_layers=12, num_heads=12,
                                                    vocab_size=32128, decoder_start_token_id=0,
                                                    pad_token_id=0, eos_token_id=1)).to(dev).eval()
    src = torch.randint(1000, 32000, (32, min(350, Lp)), device=dev)

    @torch.inference_mode()
    def generate():
        with torch.autocast("cuda", dtype=dt):
            t5.generate(input_ids=src, attention_mask=torch.ones_like(src), do_sample=True, top_p=0.95, top_k=25,
                        max_length=64, min_length=64, num_return_sequences=3)

    out["qgen_passages_per_s"] = 32 * timed(generate, args.seconds / 2, warmup=1)
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
