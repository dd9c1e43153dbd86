"""Tiny, randomly initialised real models that tests build on the spot (no downloads, seconds on a CPU).

Every builder trains a WordPiece tokenizer with ``tokenizers`` on the texts it is given, saves a real Hugging Face
model (BERT or T5) with that tokenizer to a folder and returns the folder's path, which loads with the ordinary
loaders (``SentenceTransformer(path)``, ``CrossEncoder(path)``, ``AutoModelForSeq2SeqLM.from_pretrained(path)``).
Weights are random (seeded): the models are real components with meaningless outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SPECIAL_T5 = ["<pad>", "</s>", "<unk>"]


def _wordpiece(texts: Iterable[str], vocab_size: int, specials: list[str], unk: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token=unk))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=1,
                                        show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    return tok


def build_bert_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 1000):
    """A BERT-style WordPiece tokenizer (``[CLS] a [SEP] b [SEP]``) trained on ``texts``, saved to ``out_dir``."""
    from tokenizers import processors
    from transformers import BertTokenizerFast

    tok = _wordpiece(texts, vocab_size, SPECIAL_BERT, "[UNK]")
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                             cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    fast.save_pretrained(str(out_dir))
    return fast


def _bert_config(vocab_size: int, hidden: int, layers: int, **kw):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=hidden * 2, max_position_embeddings=512, **kw)


def build_tiny_bert_encoder(out_dir: str | Path, texts: Iterable[str], hidden: int = 32, layers: int = 2,
                            seed: int = 0, vocab_size: int = 1000, max_seq_length: int = 128) -> str:
    """A random BERT SentenceTransformer with mean pooling, saved to ``out_dir``; returns the path."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertModel

    out_dir = Path(out_dir)
    hf_dir = out_dir / "_hf"
    tokenizer = build_bert_tokenizer(texts, hf_dir, vocab_size)
    torch.manual_seed(seed)
    BertModel(_bert_config(len(tokenizer), hidden, layers)).save_pretrained(str(hf_dir))
    word = Transformer(str(hf_dir), max_seq_length=max_seq_length)
    pooling = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(out_dir))
    return str(out_dir)


def build_tiny_cross_encoder(out_dir: str | Path, texts: Iterable[str], hidden: int = 32, layers: int = 2,
                             seed: int = 0, vocab_size: int = 1000, init_range: float = 0.5) -> str:
    """A random BERT cross-encoder (one logit, ``num_labels=1``), saved to ``out_dir``; returns the path.

    ``init_range`` is larger than BERT's 0.02 so that the random logits differ visibly between pairs (with 0.02
    every pair scores about the same).
    """
    import torch
    from transformers import BertForSequenceClassification

    out_dir = Path(out_dir)
    tokenizer = build_bert_tokenizer(texts, out_dir, vocab_size)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(_bert_config(len(tokenizer), hidden, layers, num_labels=1,
                                                       initializer_range=init_range))
    model.save_pretrained(str(out_dir))
    return str(out_dir)


def build_tiny_t5(out_dir: str | Path, texts: Iterable[str], d_model: int = 32, layers: int = 2, seed: int = 0,
                  vocab_size: int = 1000) -> str:
    """A random T5 seq2seq model with a WordPiece tokenizer (``</s>`` appended), saved to ``out_dir``."""
    import torch
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    out_dir = Path(out_dir)
    tok = _wordpiece(texts, vocab_size, SPECIAL_T5, "<unk>")
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)
    fast.save_pretrained(str(out_dir))
    config = T5Config(vocab_size=len(fast), d_model=d_model, d_kv=d_model // 2, d_ff=d_model * 2, num_layers=layers,
                      num_decoder_layers=layers, num_heads=2, pad_token_id=fast.pad_token_id,
                      eos_token_id=fast.eos_token_id, decoder_start_token_id=fast.pad_token_id)
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(str(out_dir))
    return str(out_dir)
