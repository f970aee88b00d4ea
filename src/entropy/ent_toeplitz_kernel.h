/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to ent_extract.c: the carry-less-multiply kernels of the Toeplitz
 * extractor.  With t' the seed shifted up by one bit (t'[k] = t[k-1]) as
 * nw + mw little-endian 64-bit words and x as nw words, both kernels write
 * the mw words z'[nw .. nw + mw) of the product z' = t' * x over GF(2),
 * i.e. y[i] = (t * x)[i + N - 1].
 */
#ifndef QT_ENTROPY_ENT_TOEPLITZ_KERNEL_H
#define QT_ENTROPY_ENT_TOEPLITZ_KERNEL_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the CPU has PCLMULQDQ and this build has the kernel. */
int qt_ent_toeplitz_clmul_available(void);

/* PCLMULQDQ kernel; call only when qt_ent_toeplitz_clmul_available(). */
void qt_ent_toeplitz_clmul_kernel(const uint64_t *tw, const uint64_t *xw, size_t nw, size_t mw,
                                  uint64_t *yw);

#endif
