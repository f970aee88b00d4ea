/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PCLMULQDQ kernel of the Toeplitz extractor (x86-64 only; the build
 * uses ent_toeplitz_noclmul.c elsewhere).  Compiled for the baseline ISA
 * with the kernel alone targeted at pclmul, and used only after a runtime
 * CPU check, so one binary runs everywhere.
 *
 * Output word k is lo(S[nw + k]) ^ hi(S[nw + k - 1]) with
 * S[r] = XOR_j clmul(t'[r - j], x[j]): nw carry-less products per 128-bit
 * column sum, two per iteration from one unaligned 128-bit load of each
 * operand.
 */
#include "ent_toeplitz_kernel.h"

#include <immintrin.h>

int
qt_ent_toeplitz_clmul_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

__attribute__((target("pclmul,sse4.1"))) static __m128i
column(const uint64_t *tw, const uint64_t *xw, size_t nw, size_t r)
{
    __m128i a0 = _mm_setzero_si128(), a1 = _mm_setzero_si128();
    __m128i a2 = _mm_setzero_si128(), a3 = _mm_setzero_si128();
    size_t j = 0;

    /* r >= nw - 1 and j + 1 <= nw - 1 keep r - j - 1 >= 0 */
    for (; j + 4 <= nw; j += 4) {
        __m128i t0 = _mm_loadu_si128((const __m128i *)(const void *)(tw + r - j - 1));
        __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(xw + j));
        __m128i t1 = _mm_loadu_si128((const __m128i *)(const void *)(tw + r - j - 3));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(xw + j + 2));
        a0 = _mm_xor_si128(a0, _mm_clmulepi64_si128(t0, x0, 0x01)); /* t'[r-j] * x[j] */
        a1 = _mm_xor_si128(a1, _mm_clmulepi64_si128(t0, x0, 0x10)); /* t'[r-j-1] * x[j+1] */
        a2 = _mm_xor_si128(a2, _mm_clmulepi64_si128(t1, x1, 0x01)); /* t'[r-j-2] * x[j+2] */
        a3 = _mm_xor_si128(a3, _mm_clmulepi64_si128(t1, x1, 0x10)); /* t'[r-j-3] * x[j+3] */
    }
    for (; j + 2 <= nw; j += 2) {
        __m128i t = _mm_loadu_si128((const __m128i *)(const void *)(tw + r - j - 1));
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(xw + j));
        a0 = _mm_xor_si128(a0, _mm_clmulepi64_si128(t, x, 0x01));
        a1 = _mm_xor_si128(a1, _mm_clmulepi64_si128(t, x, 0x10));
    }
    if (j < nw) {
        __m128i t = _mm_loadl_epi64((const __m128i *)(const void *)(tw + r - j));
        __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)(xw + j));
        a0 = _mm_xor_si128(a0, _mm_clmulepi64_si128(t, x, 0x00));
    }
    return _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
}

__attribute__((target("pclmul,sse4.1"))) void
qt_ent_toeplitz_clmul_kernel(const uint64_t *tw, const uint64_t *xw, size_t nw, size_t mw,
                             uint64_t *yw)
{
    __m128i prev = column(tw, xw, nw, nw - 1);

    for (size_t k = 0; k < mw; k++) {
        __m128i cur = column(tw, xw, nw, nw + k);
        yw[k] = (uint64_t)_mm_cvtsi128_si64(cur) ^ (uint64_t)_mm_extract_epi64(prev, 1);
        prev = cur;
    }
}
