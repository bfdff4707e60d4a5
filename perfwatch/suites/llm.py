"""LLM suite: a GPT-style decoder trained for one step, and decoding with a static KV cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Tolerance, Workload
from perfwatch.suites.models import GPT, GPTConfig

# Model shape per size; batch/sequence lengths live with each benchmark.
_MODEL = dict(
    tiny=dict(vocab_size=128, d_model=32, n_layers=2, n_heads=2),
    small=dict(vocab_size=8192, d_model=256, n_layers=4, n_heads=4),
    medium=dict(vocab_size=32000, d_model=512, n_layers=4, n_heads=8),
    large=dict(vocab_size=50304, d_model=2048, n_layers=8, n_heads=16),
)


def make_gpt(ctx: BenchContext, max_seq: int) -> GPT:
    """Seeded GPT on ctx.device in ctx.torch_dtype.

    Weights are drawn in float32 and then cast, so a float64 build holds the same values as the
    float32 one and can serve as its accuracy reference.
    """
    ctx.seed_all()
    cfg = GPTConfig(max_seq=max_seq, **ctx.pick(**_MODEL))
    with torch.device(ctx.device):
        model = GPT(cfg)
    return model.to(ctx.torch_dtype)


def build_train(ctx: BenchContext) -> Workload:
    s = ctx.pick(
        tiny=dict(batch=2, seq=16),
        small=dict(batch=16, seq=128),
        medium=dict(batch=16, seq=256),
        large=dict(batch=8, seq=1024),
    )
    # the batch search (--batch-search) builds this step at other batches: ctx.batch_size()
    batch, seq = ctx.batch_size(s["batch"]), s["seq"]
    model = make_gpt(ctx, max_seq=seq)
    data = torch.randint(model.cfg.vocab_size, (batch, seq + 1), device=ctx.device)
    idx, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    # capturable on CUDA: the step counters stay on the GPU, so the whole eager step can be
    # captured and replayed as a CUDA graph (graph_time, docs/measurement.md). Since 2026-11-30;
    # earlier llm train histories on CUDA used the default (host-side step counters).
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=ctx.device == "cuda")

    def forward_loss(idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = model(idx)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    # Forward + loss are compiled (backward follows via AOTAutograd); the optimizer stays eager.
    loss_fn = ctx.compile(forward_loss)

    def step() -> torch.Tensor:
        with ctx.autocast():
            loss = loss_fn(idx, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        # clone: under CUDA graphs the output buffer is reused by the next call.
        return loss.detach().clone()

    return Workload(step=step, items_per_step=batch * seq, item_unit="tokens", notes={"batch": batch, "seq": seq})


def build_inference(ctx: BenchContext) -> Workload:
    s = ctx.pick(
        tiny=dict(batch=2, prompt=8, gen=8),
        small=dict(batch=8, prompt=64, gen=32),
        medium=dict(batch=8, prompt=128, gen=64),
        large=dict(batch=8, prompt=512, gen=128),
    )
    batch, prompt_len, gen = s["batch"], s["prompt"], s["gen"]
    model = make_gpt(ctx, max_seq=prompt_len + gen).eval()
    model.setup_cache(batch, dtype=torch.bfloat16 if ctx.amp else ctx.torch_dtype)
    # Decode is teacher-forced: step i is fed tokens[:, prompt_len + i] instead of the argmax
    # of step i - 1. The work is the same as greedy decoding, but greedy is not comparable
    # between builds: a random-init model's top logits are near-ties, so rounding (bf16
    # autocast, fused kernels) flips tokens and everything after them differs.
    tokens = torch.randint(model.cfg.vocab_size, (batch, prompt_len + gen), device=ctx.device)
    prompt = tokens[:, :prompt_len].contiguous()
    prefill_pos = torch.arange(prompt_len, device=ctx.device)
    # Inputs and positions are made up front, one (batch, 1) / (1,) tensor per step: the
    # compiled decode step sees the same shapes every call and compiles once.
    decode = [
        (tokens[:, t : t + 1].clone(), torch.tensor([t], device=ctx.device))
        for t in range(prompt_len, prompt_len + gen)
    ]
    fwd = ctx.compile(model)

    @torch.no_grad()
    def step() -> torch.Tensor:
        with ctx.autocast():
            logits = fwd(prompt, prefill_pos)
            for tok, pos in decode:
                logits = fwd(tok, pos)
        return logits[:, -1].clone()  # clone: CUDA graphs reuse output buffers

    return Workload(
        step=step,
        items_per_step=batch * (prompt_len + gen),
        item_unit="tokens",
        notes={"prompt": prompt_len, "generated": gen, "batch": batch},
    )


SUITE = Suite(
    name="llm",
    description="GPT-style decoder: one AdamW training step; prefill + decode with a static KV cache.",
    benchmarks=(
        Benchmark(
            name="train",
            build=build_train,
            description="forward, cross-entropy, backward, AdamW step (tokens/s)",
            batch_search=True,  # --batch-search: the largest batch that fits, throughput up to it
        ),
        Benchmark(
            name="inference",
            build=build_inference,
            description="prefill a prompt, then decode token by token with a static KV cache (tokens/s)",
            # Rounding differences accumulate through the cache over the decode steps.
            tolerance=Tolerance(atol=1e-3, rtol=1e-2),
        ),
    ),
)
