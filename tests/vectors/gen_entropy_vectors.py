#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Known-answer vectors for the entropy room's extractors, computed by an
independent, slow, obviously-correct reference (not by the code under test).

Toeplitz: seed bits t[k] and input bits x[j] are taken LSB-first from bytes;
the m x N matrix is T[i][j] = t[i - j + N - 1] and y = T x over GF(2),
written LSB-first.  Only seed bits t[0 .. m+N-2] are used; the seed string
is as long as the C code asks for (8 * (N/64 + ceil(m/64)) bytes).

SHA-256 conditioner: SHA-256 of the samples, one byte each for bits <= 8,
16-bit little-endian otherwise.

Usage: python3 gen_entropy_vectors.py  (writes toeplitz.kat, sha256_cond.kat
beside itself)
"""
import hashlib
import os


def stream(label, n):
    out = b""
    ctr = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s-%d" % (label.encode(), ctr)).digest()
        ctr += 1
    return out[:n]


def bits_of(data, n):
    return [(data[k // 8] >> (k % 8)) & 1 for k in range(n)]


def toeplitz(seed, inp, n_in, m):
    t = bits_of(seed, m + n_in - 1)
    x = bits_of(inp, n_in)
    y = []
    for i in range(m):
        acc = 0
        for j in range(n_in):
            acc ^= t[i - j + n_in - 1] & x[j]
        y.append(acc)
    out = bytearray(m // 8)
    for i, b in enumerate(y):
        out[i // 8] |= b << (i % 8)
    return bytes(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cases = [(64, 8), (64, 64), (128, 72), (192, 120), (320, 256), (1024, 512), (4096, 3080)]
    with open(os.path.join(here, "toeplitz.kat"), "w") as f:
        f.write("# in_bits out_bits seed_hex input_hex output_hex (gen_entropy_vectors.py)\n")
        for idx, (n_in, m) in enumerate(cases):
            seed_len = 8 * (n_in // 64 + (m + 63) // 64)
            seed = stream("toeplitz-seed-%d" % idx, seed_len)
            inp = stream("toeplitz-input-%d" % idx, n_in // 8)
            out = toeplitz(seed, inp, n_in, m)
            f.write("%d %d %s %s %s\n" % (n_in, m, seed.hex(), inp.hex(), out.hex()))
    with open(os.path.join(here, "sha256_cond.kat"), "w") as f:
        f.write("# bits n samples(comma-separated decimal) sha256_hex (gen_entropy_vectors.py)\n")
        for idx, (bits, n) in enumerate([(8, 82), (12, 43), (1, 1024), (16, 40)]):
            raw = stream("sha-samples-%d" % idx, 2 * n)
            samples = [(raw[2 * i] | raw[2 * i + 1] << 8) & ((1 << bits) - 1) for i in range(n)]
            if bits <= 8:
                ser = bytes(samples)
            else:
                ser = b"".join(s.to_bytes(2, "little") for s in samples)
            f.write("%d %d %s %s\n" % (bits, n, ",".join(map(str, samples)),
                                       hashlib.sha256(ser).hexdigest()))


if __name__ == "__main__":
    main()
