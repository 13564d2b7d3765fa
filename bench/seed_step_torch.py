"""PyTorch reference of the seed model's training step (models/seed/model.ts, models/seed/train.ts), for
bench/seed-step.ts, which writes the inputs and runs this script in the same process tree:

    python3 bench/seed_step_torch.py time --json --modes fp32,tf32,bf16 --warmup 3 --steps 20 --window 5 ROW.ckpt …
    python3 bench/seed_step_torch.py curve --json CURVE.ckpt

Each ROW.ckpt / CURVE.ckpt is an exchange file (bench/seed-step-data.ts): the engine's checkpoint format holding
the initial weights under the contract's names and layouts (docs/architecture.md "Seed model": W [in, out],
experts' w1 [E, d, F] …; used here as they are, so weight i of the engine is weight i here), the batches'
token ids, and the AdamW schedule. The model, structure for structure:
  encoder  tok_emb[tokens] + item_pos[recency] + level_emb[level], dropout; per layer pre-norm bidirectional
           self-attention (PAD keys masked) and GELU(tanh) FFN, dropout on each residual branch; ln_f
  decoder  tok_emb[[BOS c1..cL] × window] + dec.pos, dropout; per layer causal self-attention, cross-attention
           on the encoder output, top-2 MoE (softmax router without bias, gates renormalised over the top 2),
           dropout on each residual branch; ln_f, lm_head (no bias)
  loss     cross-entropy over code targets (−1 ignored) + moeAuxWeight × Σ_layers E · Σ_e f_e P_e
  update   AdamW (β 0.9/0.999, ε 1e-8, decoupled decay on tensors of ≥ 2 dims), global-norm clipping,
           linear warm-up + cosine schedule computed per step exactly as models/engine/optim.ts learningRate()
The MoE is routed the ordinary PyTorch way (as Hugging Face's Mixtral block): per expert, gather its tokens
with torch.where, run the expert's FFN on them, index_add_ the gated output back. Works on torch 1.13 (CPU)
and 2.x (CUDA): scaled_dot_product_attention where it exists, else the same attention written out.

Modes: fp32 (TF32 off for matmul and cuDNN), tf32 (TF32 on), bf16 (autocast to bfloat16; master weights and
optimizer in fp32). Timing: warm-up steps, then `steps` timed steps in windows of `window` steps with
torch.cuda.synchronize() before and after each window; ms/step = median over windows. `--json` prints one JSON
document on stdout (progress goes to stderr).
"""
import argparse, contextlib, json, math, platform, statistics, sys, time
import numpy as np
import torch
import torch.nn.functional as F

PAD = 0
MAGIC = b"ORECKPT1"
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def read_exchange(path):
    """meta and numpy arrays of an exchange file (layout: models/engine/checkpoint.ts)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] != MAGIC:
        raise SystemExit(f"{path}: not an onerec checkpoint-format file (magic {MAGIC!r}); write it with bench/seed-step.ts")
    header = int.from_bytes(raw[8:12], "little")
    meta = json.loads(raw[12:12 + header].decode("utf-8"))
    if meta.get("kind") != "seed-step-exchange":
        raise SystemExit(f"{path}: kind {meta.get('kind')!r}, expected 'seed-step-exchange' (written by bench/seed-step.ts)")
    floats = np.frombuffer(raw, dtype="<f4", offset=12 + header)
    arrays = {t["name"]: floats[t["offset"]:t["offset"] + t["length"]].reshape(t["shape"]) for t in meta["tensors"]}
    return meta, arrays


def learning_rate(s, step):
    """models/engine/optim.ts learningRate(): linear warm-up from 0, then cosine (or linear) decay to lr · minLrRatio."""
    warm = s.get("warmupSteps", 0) or 0
    if warm > 0 and step < warm:
        return s["lr"] * (step + 1) / warm
    total = s.get("totalSteps", 0) or 0
    decay = s.get("decay", "cosine")
    if not total or decay == "constant":
        return s["lr"]
    min_lr = s["lr"] * s.get("minLrRatio", 0.1)
    t = min(1.0, max(0.0, (step - warm) / max(1, total - warm)))
    f = 0.5 * (1 + math.cos(math.pi * t)) if decay == "cosine" else 1 - t
    return min_lr + (s["lr"] - min_lr) * f


def set_precision(mode):
    """TF32 on only in mode 'tf32' (PyTorch's own default keeps it off for matmul)."""
    tf32 = mode == "tf32"
    precision = "tf32" if tf32 else "ieee"
    # torch ≥ 2.9 has the fp32_precision switches (and warns about allow_tf32); older versions raise on the names
    try:
        torch.backends.cuda.matmul.fp32_precision = precision
    except (AssertionError, AttributeError):
        torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        torch.backends.cudnn.conv.fp32_precision = precision
    except (AssertionError, AttributeError):
        torch.backends.cudnn.allow_tf32 = tf32


def autocast(mode, device):
    if mode == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class SeedStep:
    """The seed model's parameters (contract names, engine layouts) and its training loss."""

    def __init__(self, config, names, arrays, device):
        self.c = config
        self.device = device
        self.p = {n: torch.tensor(np.array(arrays[n]), device=device, requires_grad=True) for n in names}
        levels, history = config["levels"], config["maxHistory"]
        slots = torch.arange(history * levels, device=device)
        self.recency = history - 1 - slots // levels  # [S] enc.item_pos row (0 = most recent)
        self.level = slots % levels  # [S] enc.level_emb row

    def lin(self, x, w, b=None):  # x @ W + b with W [in, out]
        return F.linear(x, self.p[w].t(), self.p[b] if b else None)

    def ln(self, x, pre):
        return F.layer_norm(x, (x.shape[-1],), self.p[pre + ".g"], self.p[pre + ".b"], 1e-5)

    def attention(self, q, k, v, key_mask=None, causal=False):
        """q [B, Tq, D], k/v [B, Tk, D], key_mask [B, Tk] bool (True = attend) → [B, Tq, D]"""
        B, Tq, D = q.shape
        Tk = k.shape[1]
        H = self.c["heads"]
        dh = D // H
        q, k, v = (t.reshape(B, -1, H, dh).transpose(1, 2) for t in (q, k, v))  # [B, H, T, dh]
        mask = key_mask[:, None, None, :] if key_mask is not None else None  # [B, 1, 1, Tk]
        if HAS_SDPA:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        else:
            s = (q @ k.transpose(-2, -1)) / math.sqrt(dh)  # [B, H, Tq, Tk]
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            if causal:
                s = s.masked_fill(torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
            o = s.softmax(-1) @ v
        return o.transpose(1, 2).reshape(B, Tq, D)

    def moe(self, i, h):
        """h [N, d] → out [N, d], aux term [] (E · Σ_e f_e P_e)"""
        pre = f"dec.{i}.moe"
        E, k = self.c["experts"], self.c["expertsPerToken"]
        probs = (h @ self.p[pre + ".router"]).float().softmax(-1)  # [N, E]
        gates, chosen = probs.topk(k, dim=-1)  # [N, k]
        gates = gates / gates.sum(-1, keepdim=True)
        out = torch.zeros_like(h)
        expert_mask = F.one_hot(chosen, E).permute(2, 1, 0)  # [E, k, N]
        w1, b1, w2, b2 = (self.p[f"{pre}.{n}"] for n in ("w1", "b1", "w2", "b2"))
        for e in range(E):
            slot, token = torch.where(expert_mask[e])
            if token.numel() == 0:
                continue
            hidden = F.gelu(F.linear(h[token], w1[e].t(), b1[e]), approximate="tanh")
            y = F.linear(hidden, w2[e].t(), b2[e]) * gates[token, slot, None]
            out.index_add_(0, token, y.to(out.dtype))
        with torch.no_grad():
            f = torch.zeros_like(probs).scatter_(1, chosen, 1.0).mean(0) / k  # [E] share of top-k slots
        return out, E * (probs.mean(0) * f).sum()

    def loss(self, enc, dec, targets, dropout):
        """enc [B, S], dec [B, T], targets [B, T] (int64) → (loss, ce, aux)"""
        c, p = self.c, self.p
        B, T = dec.shape
        d = c["dModel"]
        rate = c["dropout"] if dropout else 0.0
        drop = (lambda t: F.dropout(t, rate, True)) if rate > 0 else (lambda t: t)
        key_mask = enc != PAD  # [B, S]
        x = F.embedding(enc, p["tok_emb"]) + (p["enc.item_pos"][self.recency] + p["enc.level_emb"][self.level])
        x = drop(x)  # [B, S, d]
        for i in range(c["encoderLayers"]):
            a = f"enc.{i}.attn"
            h = self.ln(x, f"enc.{i}.ln1")
            att = self.attention(self.lin(h, a + ".wq", a + ".bq"), self.lin(h, a + ".wk", a + ".bk"), self.lin(h, a + ".wv", a + ".bv"), key_mask=key_mask)
            x = x + drop(self.lin(att, a + ".wo", a + ".bo"))
            h = self.ln(x, f"enc.{i}.ln2")
            hidden = F.gelu(self.lin(h, f"enc.{i}.ffn.w1", f"enc.{i}.ffn.b1"), approximate="tanh")
            x = x + drop(self.lin(hidden, f"enc.{i}.ffn.w2", f"enc.{i}.ffn.b2"))
        memory = self.ln(x, "enc.ln_f")  # [B, S, d]
        y = drop(F.embedding(dec, p["tok_emb"]) + p["dec.pos"][:T])  # [B, T, d]
        aux = None
        for i in range(c["decoderLayers"]):
            s, x_ = f"dec.{i}.self", f"dec.{i}.cross"
            h = self.ln(y, f"dec.{i}.ln1")
            att = self.attention(self.lin(h, s + ".wq", s + ".bq"), self.lin(h, s + ".wk", s + ".bk"), self.lin(h, s + ".wv", s + ".bv"), causal=True)
            y = y + drop(self.lin(att, s + ".wo", s + ".bo"))
            h = self.ln(y, f"dec.{i}.ln2")
            att = self.attention(self.lin(h, x_ + ".wq", x_ + ".bq"), self.lin(memory, x_ + ".wk", x_ + ".bk"), self.lin(memory, x_ + ".wv", x_ + ".bv"), key_mask=key_mask)
            y = y + drop(self.lin(att, x_ + ".wo", x_ + ".bo"))
            h = self.ln(y, f"dec.{i}.ln3")
            out, term = self.moe(i, h.reshape(B * T, d))
            y = y + drop(out.view(B, T, d))
            if c["experts"] > 1:
                aux = term if aux is None else aux + term
        logits = self.lin(self.ln(y, "dec.ln_f"), "lm_head")  # [B, T, vocab]
        ce = F.cross_entropy(logits.reshape(B * T, -1).float(), targets.reshape(-1), ignore_index=-1)
        loss = ce + c["moeAuxWeight"] * aux if aux is not None and c["moeAuxWeight"] > 0 else ce
        return loss, ce, aux


class Trainer:
    """One exchange file's model, optimizer and batches; step(s) is one training step as trainSeed takes it."""

    def __init__(self, path, device, mode="fp32", dropout=None):
        meta, arrays = read_exchange(path)
        self.meta, self.device, self.mode = meta, device, mode
        self.dropout = meta["dropout"] if dropout is None else dropout
        self.model = SeedStep(meta["config"], meta["parameters"], arrays, device)
        params = [self.model.p[n] for n in meta["parameters"]]
        s = self.schedule = meta["schedule"]
        groups = [dict(params=[t for t in params if t.dim() >= 2], weight_decay=s.get("weightDecay", 0.0)),
                  dict(params=[t for t in params if t.dim() < 2], weight_decay=0.0)]
        self.params = params
        self.opt = torch.optim.AdamW(groups, lr=s["lr"], betas=(s.get("beta1", 0.9), s.get("beta2", 0.999)), eps=s.get("eps", 1e-8))
        pin = device.type == "cuda"
        as_ids = lambda a: torch.from_numpy(a.astype(np.int64))
        self.batches = [tuple((t.pin_memory() if pin else t) for t in (as_ids(arrays["data.encoder"][i]), as_ids(arrays["data.decoder"][i]), as_ids(arrays["data.targets"][i])))
                        for i in range(meta["batches"]["count"])]
        self.step_count = 0

    def step(self, s):
        lr = learning_rate(self.schedule, self.step_count)
        for g in self.opt.param_groups:
            g["lr"] = lr
        enc, dec, targets = (t.to(self.device, non_blocking=True) for t in self.batches[s % len(self.batches)])
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.mode, self.device):
            loss, ce, aux = self.model.loss(enc, dec, targets, self.dropout)
        loss.backward()
        clip = self.schedule.get("clipNorm", 0) or 0
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, clip)
        self.opt.step()
        self.step_count += 1
        return loss, ce, aux


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_row(path, mode, device, warmup, steps, window):
    set_precision(mode)
    torch.manual_seed(1)  # dropout masks
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tr = Trainer(path, device, mode)
    first = tr.step(0)[0].item()
    for s in range(1, warmup):
        tr.step(s)
    sync(device)
    per_window = []
    s = warmup
    while s < warmup + steps:
        n = min(window, warmup + steps - s)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            loss = tr.step(s)[0]
            s += 1
        sync(device)
        per_window.append((time.perf_counter() - t0) * 1000 / n)
    return dict(ms=statistics.median(per_window), windows_ms=per_window, first_loss=first, last_loss=loss.item(),
                max_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None)


def versions(device):
    v = dict(torch=torch.__version__, python=platform.python_version(), numpy=np.__version__, sdpa=HAS_SDPA)
    if device.type == "cuda":
        v.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), device=torch.cuda.get_device_name())
    else:
        v.update(device="cpu", threads=torch.get_num_threads())
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time", help="ms per training step of each exchange file, per mode")
    t.add_argument("files", nargs="+")
    t.add_argument("--modes", default="fp32,tf32,bf16")
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--window", type=int, default=5)
    c = sub.add_parser("curve", help="train on every batch of the file in order, dropout off, fp32; the loss per step")
    c.add_argument("file")
    for p in (t, c):
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        p.add_argument("--device", default="auto", help="auto | cuda | cpu")
    a = ap.parse_args()
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device))
    out = dict(versions=versions(device))
    if a.command == "time":
        rows = []
        for path in a.files:
            row = dict(file=path, modes={})
            for mode in a.modes.split(","):
                if device.type == "cpu" and mode != "fp32":
                    row["modes"][mode] = dict(ms=None, skipped="TF32 and bf16 autocast are GPU modes")
                    continue
                r = time_row(path, mode, device, a.warmup, a.steps, a.window)
                log(f"[pytorch] {path} {mode}: {r['ms']:.2f} ms/step (windows {', '.join(f'{w:.1f}' for w in r['windows_ms'])}), loss {r['first_loss']:.4f} -> {r['last_loss']:.4f}")
                row["modes"][mode] = r
            rows.append(row)
        out.update(rows=rows, warmup=a.warmup, steps=a.steps, window=a.window)
    else:
        set_precision("fp32")
        tr = Trainer(a.file, device, "fp32", dropout=False)
        loss, ce, aux = [], [], []
        for s in range(tr.meta["batches"]["count"]):
            l, c_, x = tr.step(s)
            loss.append(l.item())
            ce.append(c_.item())
            aux.append(x.item() if x is not None else None)
            if s % 25 == 0:
                log(f"[pytorch] curve step {s}: loss {loss[-1]:.6f}")
        out.update(loss=loss, ce=ce, aux=aux)
    if a.json:
        print(json.dumps(out))
    else:
        log(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
