#!/usr/bin/env python3
"""Make a seeded random RWKV-5.2 ("Eagle", x052) model in the official BlinkDL
.pth layout: the key names, shapes and key order that the official training
code (RWKV-LM RWKV-v5/src/model.py, RWKV_TimeMix_RWKV5 / RWKV_ChannelMix) saves.

usage: make_v5_pth.py OUT.pth --layers 2 --embd 256 --seed 5 [--vocab 65536] [--dtype fp32|fp16|bf16]
       make_v5_pth.py --hash FILE.pth      # content hash of the tensors, to check a regeneration

Layout (C = embd, H = C / 64 heads of N = 64, F = int(3.5 C) // 32 * 32), in
state-dict order:

  emb.weight [V, C]
  per layer i: ln1.{weight,bias} [C], ln2.{weight,bias} [C],
               (layer 0 only) ln0.{weight,bias} [C],
               att.time_mix_k, _v, _r, _g [1, 1, C]
               att.time_decay [H, N]        (v5.2: one decay per channel, as a matrix per head)
               att.time_faaaa [H, N]        (the bonus u)
               att.{receptance,key,value,output,gate}.weight [C, C]
               att.ln_x.{weight,bias} [C]
               ffn.time_mix_k, ffn.time_mix_r [1, 1, C]
               ffn.key.weight [F, C], ffn.receptance.weight [C, C], ffn.value.weight [C, F]
  ln_out.{weight,bias} [C], head.weight [V, C]

The time_mix_* of v5 weigh the current token: x_k = x * mix + x_prev * (1 - mix)
(RWKV-6 turned this round: x + (x_prev - x) * maa).  The weights are random but
non-degenerate, not the training initialisation: unit-scale activations after
the norms, decays w = exp(-exp(d)) spread over (0.05, 0.999) per channel, so
that every tensor matters to the logits.
"""
import argparse
import hashlib

import torch


def make_pth(a):
    g = torch.Generator().manual_seed(a.seed)
    C, V, L, N = a.embd, a.vocab, a.layers, 64
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
        for m in "kvrg":
            z[t + f"time_mix_{m}"] = ru(1, 1, C)
        z[t + "time_decay"] = ru(H, N, lo=-6.0, hi=1.0)
        z[t + "time_faaaa"] = rn(H, N, std=0.5)
        for n in ("receptance", "key", "value", "output", "gate"):
            z[t + f"{n}.weight"] = rn(C, C, std=C ** -0.5)
        z[t + "ln_x.weight"] = ru(C, lo=0.5, hi=1.5); z[t + "ln_x.bias"] = rn(C, std=0.1)
        f = b + "ffn."
        z[f + "time_mix_k"] = ru(1, 1, C); z[f + "time_mix_r"] = ru(1, 1, C)
        z[f + "key.weight"] = rn(F, C, std=C ** -0.5)
        z[f + "receptance.weight"] = rn(C, C, std=C ** -0.5)
        z[f + "value.weight"] = rn(C, F, std=F ** -0.5)
    z["ln_out.weight"] = ru(C, lo=0.5, hi=1.5); z["ln_out.bias"] = rn(C, std=0.1)
    z["head.weight"] = rn(V, C, std=C ** -0.5)
    dt = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    z = {k: v.to(dt) for k, v in z.items()}
    torch.save(z, a.out)


def tensor_hash(path):
    z = torch.load(path, map_location="cpu")
    h = hashlib.sha256()
    for k, v in z.items():
        h.update(k.encode())
        h.update(v.contiguous().view(torch.uint8).numpy().tobytes() if v.dtype == torch.bfloat16 else v.numpy().tobytes())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Seeded random RWKV-5.2 model in the official .pth layout.")
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
