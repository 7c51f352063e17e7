"""What make_v5_pth.py and make_v6_pth.py share: the seeded random RWKV-5.2 /
RWKV-6 model in the official .pth layout (every tensor but the generation's
own time-mix parameters), its content hash and the command line.

The weights are random but non-degenerate, not the training initialisation:
unit-scale activations after the norms (LayerNorm weights in (0.5, 1.5),
biases std 0.1, matrices std 1/sqrt(fan-in)), so that every tensor matters to
the logits.
"""
import argparse
import hashlib

import torch

HEAD_SIZE = 64


def random_model(a, time_mix_params, ffn_mix):
    """The state dict, in the official key order, of a model with a.layers
    layers of a.embd channels and a.vocab tokens, drawn from a.seed.

    time_mix_params(rn, ru, C, H, N) -> {name after "att.": tensor} gives the
    generation's own time-mix parameters, in state-dict order (drawn with
    rn(*shape, std) ~ normal, ru(*shape, lo, hi) ~ uniform); ffn_mix is the
    name of the channel mix's token-shift mixes ("time_mix" in v5.2,
    "time_maa" in v6)."""
    g = torch.Generator().manual_seed(a.seed)
    C, V, L, N = a.embd, a.vocab, a.layers, HEAD_SIZE
    assert C % N == 0, "embd must be a multiple of the head size 64"
    H = C // N
    F = int(C * 3.5) // 32 * 32
    rn = lambda *s, std=1.0: torch.randn(*s, generator=g) * std
    ru = lambda *s, lo=0.0, hi=1.0: lo + (hi - lo) * torch.rand(*s, generator=g)
    z = {"emb.weight": rn(V, C, std=0.5)}
    for i in range(L):
        b = f"blocks.{i}."
        z[b + "ln1.weight"] = ru(C, lo=0.5, hi=1.5); z[b + "ln1.bias"] = rn(C, std=0.1)
        z[b + "ln2.weight"] = ru(C, lo=0.5, hi=1.5); z[b + "ln2.bias"] = rn(C, std=0.1)
        if i == 0:
            z[b + "ln0.weight"] = ru(C, lo=0.5, hi=1.5); z[b + "ln0.bias"] = rn(C, std=0.1)
        t = b + "att."
        for name, value in time_mix_params(rn, ru, C, H, N).items():
            z[t + name] = value
        for n in ("receptance", "key", "value", "output", "gate"):
            z[t + f"{n}.weight"] = rn(C, C, std=C ** -0.5)
        z[t + "ln_x.weight"] = ru(C, lo=0.5, hi=1.5); z[t + "ln_x.bias"] = rn(C, std=0.1)
        f = b + "ffn."
        z[f + f"{ffn_mix}_k"] = ru(1, 1, C); z[f + f"{ffn_mix}_r"] = ru(1, 1, C)
        z[f + "key.weight"] = rn(F, C, std=C ** -0.5)
        z[f + "receptance.weight"] = rn(C, C, std=C ** -0.5)
        z[f + "value.weight"] = rn(C, F, std=F ** -0.5)
    z["ln_out.weight"] = ru(C, lo=0.5, hi=1.5); z["ln_out.bias"] = rn(C, std=0.1)
    z["head.weight"] = rn(V, C, std=C ** -0.5)
    return z


def save(z, a):
    """The state dict z in a.dtype (fp32, fp16, bf16) to a.out."""
    dt = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    torch.save({k: v.to(dt) for k, v in z.items()}, a.out)


def tensor_hash(path):
    z = torch.load(path, map_location="cpu")
    h = hashlib.sha256()
    for k, v in z.items():
        h.update(k.encode())
        h.update(v.contiguous().view(torch.uint8).numpy().tobytes() if v.dtype == torch.bfloat16 else v.numpy().tobytes())
    return h.hexdigest()[:16]


def main(description, make_pth):
    """The generators' command line (usage: see make_v5_pth.py)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("out", nargs="?")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embd", type=int, default=128)
    p.add_argument("--vocab", type=int, default=65536)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--hash")
    a = p.parse_args()
    if a.hash:
        print(tensor_hash(a.hash))
    elif not a.out:
        p.error("give OUT.pth or --hash FILE")
    else:
        make_pth(a)
        print(a.out, tensor_hash(a.out))
