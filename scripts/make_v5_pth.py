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
import make_pth_common as common
from make_pth_common import tensor_hash  # noqa: F401 (part of this module's interface)


def time_mix_params(rn, ru, C, H, N):
    """RWKV-5.2's own time-mix parameters (the rest: make_pth_common.random_model)."""
    p = {f"time_mix_{m}": ru(1, 1, C) for m in "kvrg"}
    p["time_decay"] = ru(H, N, lo=-6.0, hi=1.0)   # decays exp(-exp(d)) in (0.05, 0.999)
    p["time_faaaa"] = rn(H, N, std=0.5)
    return p


def make_pth(a):
    common.save(common.random_model(a, time_mix_params, "time_mix"), a)


if __name__ == "__main__":
    common.main("Seeded random RWKV-5.2 model in the official .pth layout.", make_pth)
