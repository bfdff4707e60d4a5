"""Small model definitions shared by the built-in suites.

Deliberately plain PyTorch: the point is to measure what eager mode and torch.compile do with
ordinary code, not to hand-optimise it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------
# GPT-style decoder
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    max_seq: int  # positions the embedding (and a KV cache) can hold
    mlp_ratio: int = 4


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        # Static KV cache, allocated by GPT.setup_cache(); None means "no cache".
        self.register_buffer("k_cache", None, persistent=False)
        self.register_buffer("v_cache", None, persistent=False)
        self.register_buffer("slots", None, persistent=False)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4).unbind(0)
        if pos is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # Write this chunk's k/v at positions `pos` (a tensor, so a compiled decode step
            # sees one shape and one graph for every position), then attend over the whole
            # fixed-size buffer, masking the slots after each query's own position.
            self.k_cache.index_copy_(2, pos, k.to(self.k_cache.dtype))
            self.v_cache.index_copy_(2, pos, v.to(self.v_cache.dtype))
            mask = self.slots[None, :] <= pos[:, None]  # (T, max_len), True = attend
            y = F.scaled_dot_product_attention(
                q, self.k_cache.to(q.dtype), self.v_cache.to(q.dtype), attn_mask=mask
            )
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), pos)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Decoder-only transformer.

    ``model(idx)`` runs the whole sequence with causal attention (training).
    ``model(idx, pos)`` runs a chunk at positions ``pos`` against the static KV cache set up by
    :meth:`setup_cache`: the prompt with ``pos = arange(prompt_len)`` (prefill), then one token
    at a time with ``pos = tensor([t])`` (decode).
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.max_seq, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def setup_cache(self, batch: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> None:
        max_len = max_len or self.cfg.max_seq
        ref = self.lm_head.weight
        dtype = dtype or ref.dtype
        head_dim = self.cfg.d_model // self.cfg.n_heads
        shape = (batch, self.cfg.n_heads, max_len, head_dim)
        for block in self.blocks:
            attn = block.attn
            attn.k_cache = torch.zeros(shape, device=ref.device, dtype=dtype)
            attn.v_cache = torch.zeros(shape, device=ref.device, dtype=dtype)
            attn.slots = torch.arange(max_len, device=ref.device)
            # Fixed addresses: CUDA graphs (mode="reduce-overhead") may then keep the cache
            # in place instead of copying it in, or skipping the graph, on every call.
            torch._dynamo.mark_static_address(attn.k_cache)
            torch._dynamo.mark_static_address(attn.v_cache)

    def forward(self, idx: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device) if pos is None else pos
        x = self.wte(idx) + self.wpe(positions)
        for block in self.blocks:
            x = block(x, pos)
        return self.lm_head(self.ln_f(x))


# --------------------------------------------------------------------------------------------
# ResNet-style CNN
# --------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with basic blocks: ``widths[i]`` channels and ``depths[i]`` blocks per stage.

    ``imagenet_stem`` uses the 7x7/2 conv + max-pool stem for large images; otherwise a 3x3/1
    conv (CIFAR style) keeps small images from shrinking to nothing.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (16, 32, 64),
        depths: tuple[int, ...] = (1, 1, 1),
        num_classes: int = 10,
        in_channels: int = 3,
        imagenet_stem: bool = False,
    ):
        super().__init__()
        w0 = widths[0]
        if imagenet_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, w0, 7, 2, 3, bias=False),
                nn.BatchNorm2d(w0),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True)
            )
        layers: list[nn.Module] = []
        cin = w0
        for i, (w, d) in enumerate(zip(widths, depths)):
            for j in range(d):
                layers.append(BasicBlock(cin, w, stride=2 if (i > 0 and j == 0) else 1))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
