#!/usr/bin/env python3
"""Make a seeded random RWKV-6 ("Finch", x060) model in the official BlinkDL .pth
layout: the key names, shapes and key order that the official training code
(RWKV-LM RWKV-v5/src/model.py, RWKV_Tmix_x060 / RWKV_CMix_x060) saves.

usage: make_v6_pth.py OUT.pth --layers 2 --embd 256 --seed 5 [--vocab 65536] [--dtype fp32|fp16|bf16]
       make_v6_pth.py --hash FILE.pth      # content hash of the tensors, to check a regeneration

Layout (C = embd, H = C / 64 heads of N = 64, D = 32 token-shift LoRA rank per
mix, E = 64 decay LoRA rank (64 and 128 from C = 4096 on, as the official
models), F = int(3.5 C) // 32 * 32), in state-dict order:

  emb.weight [V, C]
  per layer i: ln1.{weight,bias} [C], ln2.{weight,bias} [C],
               (layer 0 only) ln0.{weight,bias} [C],
               att.time_maa_x, _w, _k, _v, _r, _g [1, 1, C]
               att.time_maa_w1 [C, 5 D]   att.time_maa_w2 [5, D, C]   (mixes in the order w, k, v, r, g)
               att.time_decay [1, 1, C]   att.time_decay_w1 [C, E]   att.time_decay_w2 [E, C]
               att.time_faaaa [H, N]
               att.{receptance,key,value,output,gate}.weight [C, C]
               att.ln_x.{weight,bias} [C]
               ffn.time_maa_k, ffn.time_maa_r [1, 1, C]
               ffn.key.weight [F, C], ffn.receptance.weight [C, C], ffn.value.weight [C, F]
  ln_out.{weight,bias} [C], head.weight [V, C]

(ln0 comes after ln1/ln2 because the training code's Block registers ln1, ln2,
then ln0.)  The weights are random but non-degenerate, not the training
initialisation (which zeroes the LoRA up-projections and several matrices):
unit-scale activations after the norms, decays w = exp(-exp(d)) spread over
(0.05, 0.999), LoRA terms large enough to move every mix and decay, so that
every tensor matters to the logits.
"""
import make_pth_common as common
from make_pth_common import tensor_hash  # noqa: F401 (part of this module's interface)


def ranks(C):
    # (token-shift LoRA rank per mix, decay LoRA rank), as the official models
    return (64, 128) if C >= 4096 else (32, 64)


def time_mix_params(rn, ru, C, H, N):
    """RWKV-6's own time-mix parameters (the rest: make_pth_common.random_model)."""
    D, E = ranks(C)
    p = {f"time_maa_{m}": ru(1, 1, C) for m in "xwkvrg"}
    p["time_maa_w1"] = rn(C, 5 * D, std=C ** -0.5)
    p["time_maa_w2"] = rn(5, D, C, std=0.3 * D ** -0.5)
    p["time_decay"] = ru(1, 1, C, lo=-6.0, hi=1.0)    # decays exp(-exp(d)) in (0.05, 0.999)
    p["time_decay_w1"] = rn(C, E, std=C ** -0.5)
    p["time_decay_w2"] = rn(E, C, std=0.5 * E ** -0.5)
    p["time_faaaa"] = rn(H, N, std=0.5)
    return p


def make_pth(a):
    common.save(common.random_model(a, time_mix_params, "time_maa"), a)


if __name__ == "__main__":
    common.main("Seeded random RWKV-6 model in the official .pth layout.", make_pth)
