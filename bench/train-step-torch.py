"""PyTorch eager (CUDA, fp32) reference of the toy training step in bench/train-step-model.ts: the same
model, the same initial values (the engine's mulberry32 RNG re-implemented below), the same data and Adam.
Run by bench/train-step-all.ts; alone:
    python3 bench/train-step-torch.py --configs 64x128,256x256 --steps 50 --out torch.json
TF32 stays off (PyTorch's default for fp32 matmul), so both systems do fp32 FMA math.
"""
import argparse, json, math, time
import numpy as np
import torch
import torch.nn.functional as F


class Rng:  # mulberry32 + Box-Muller, as models/engine/rng.ts
    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def u32(self):
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return (t ^ (t >> 14)) & 0xFFFFFFFF

    def next(self):
        return self.u32() / 4294967296.0

    def normal(self):
        u = 1 - self.next()
        v = self.next()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)

    def int(self, n):
        return int(self.next() * n)


def shapes(V, D, T, blocks):
    s = [("tok", [V, D]), ("pos", [T, D])]
    for i in range(blocks):
        s += [(f"b{i}.ln1.g", [D]), (f"b{i}.ln1.b", [D])]
        for w in "qkvo":
            s += [(f"b{i}.w{w}", [D, D]), (f"b{i}.b{w}", [D])]
        s += [(f"b{i}.ln2.g", [D]), (f"b{i}.ln2.b", [D])]
        s += [(f"b{i}.w1", [D, 4 * D]), (f"b{i}.b1", [4 * D]), (f"b{i}.w2", [4 * D, D]), (f"b{i}.b2", [D])]
    s += [("lnf.g", [D]), ("lnf.b", [D]), ("head", [D, V])]
    return s


def init(V, D, T, blocks, rng):
    out = {}
    for name, shape in shapes(V, D, T, blocks):
        n = int(np.prod(shape))
        if len(shape) == 2:
            v = np.array([0.02 * rng.normal() for _ in range(n)], dtype=np.float32)
        elif name.endswith(".g"):
            v = np.ones(n, dtype=np.float32)
        else:
            v = np.zeros(n, dtype=np.float32)
        out[name] = torch.tensor(v.reshape(shape), device="cuda", requires_grad=True)
    return out


def run(B, D, V, T, steps, warmup, heads=4, blocks=2):
    p = init(V, D, T, blocks, Rng(1))
    dh = D // heads

    def lin(x, w, b=None):
        x2 = x.reshape(-1, x.shape[-1])
        y = torch.addmm(p[b], x2, p[w]) if b else x2 @ p[w]
        return y.view(*x.shape[:-1], -1)

    def loss_fn(tokens, targets):
        x = p["tok"][tokens] + p["pos"]  # [B, T, D]
        for i in range(blocks):
            h = F.layer_norm(x, (D,), p[f"b{i}.ln1.g"], p[f"b{i}.ln1.b"], 1e-5)
            q, k, v = (lin(h, f"b{i}.w{w}", f"b{i}.b{w}").view(B, T, heads, dh).transpose(1, 2) for w in "qkv")
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
            x = x + lin(a, f"b{i}.wo", f"b{i}.bo")
            h2 = F.layer_norm(x, (D,), p[f"b{i}.ln2.g"], p[f"b{i}.ln2.b"], 1e-5)
            x = x + lin(F.gelu(lin(h2, f"b{i}.w1", f"b{i}.b1"), approximate="tanh"), f"b{i}.w2", f"b{i}.b2")
        logits = lin(F.layer_norm(x, (D,), p["lnf.g"], p["lnf.b"], 1e-5), "head")
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    opt = torch.optim.Adam(list(p.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    rng = Rng(2)
    batches = []
    for _ in range(8):
        tokens = np.array([rng.int(V) for _ in range(B * T)], dtype=np.int64)
        targets = (tokens * 7 + 3) % V  # the learnable mapping all three systems use
        batches.append((torch.tensor(tokens, device="cuda").view(B, T), torch.tensor(targets, device="cuda").view(B, T)))

    def step(s):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(*batches[s % len(batches)])
        loss.backward()
        opt.step()
        return loss

    first = step(0).item()
    for s in range(1, warmup):
        step(s)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(steps):
        loss = step(warmup + s)
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1000 / steps
    return dict(config=f"B{B}_D{D}", batch=B, dim=D, ms_per_step=ms, tokens_per_s=B * T * 1000 / ms,
                first_loss=first, last_loss=loss.item(), steps=steps)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="64x128,256x256")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    results = []
    for spec in a.configs.split(","):
        B, D = map(int, spec.split("x"))
        r = run(B, D, a.vocab, a.seq, a.steps, a.warmup)
        print(f"[pytorch] {r['config']}: {r['ms_per_step']:.2f} ms/step, {r['tokens_per_s']:.0f} tokens/s, "
              f"loss {r['first_loss']:.3f} -> {r['last_loss']:.3f}", flush=True)
        results.append(r)
    out = dict(system="pytorch-eager", version=torch.__version__, device=torch.cuda.get_device_name(),
               tf32=torch.backends.cuda.matmul.allow_tf32, results=results)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=2)
