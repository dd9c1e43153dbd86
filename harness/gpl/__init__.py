"""GPL (Generative Pseudo Labeling) and R-GPL (GPL with hard negatives re-mined during training).

Stages, each cached under a key that hashes its inputs and settings:

1. ``qgen``      synthetic queries for (a sample of) the corpus       -> ``qgen-queries.jsonl``, ``qgen-qrels/train.tsv``
2. ``mine``      hard negatives per miner (top 50, positives dropped)  -> ``hard-negatives.jsonl``
3. ``labels``    training tuples for round 0 labelled by a teacher    -> ``gpl-training-data.tsv``
4. ``train``     MarginMSE training (SentenceTransformerTrainer), R-GPL re-mining as a trainer callback
5. retrieval with the adapted model (``harness.dense.dense_retrieve``)
"""
