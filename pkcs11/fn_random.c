/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.15 "Random number generation functions".  C_GenerateRandom
 * serves from the token's DRBG (CTR-DRBG seeded only by the health-gated
 * QRNG pipeline); when the entropy source is in error nothing is written and
 * the call fails with CKR_DEVICE_ERROR.  C_SeedRandom mixes the caller's
 * bytes in as additional input, credited zero entropy (mixing is not
 * crediting).  Random output is never logged or cached.
 */
#include "../src/common/log.h"
#include "../src/drbg/drbg.h"
#include "fn.h"

/* One DRBG request is bounded (SP 800-90A max_request); larger buffers are
 * served in chunks. */
#define QT_RANDOM_CHUNK ((size_t)1 << 16)

static CK_RV
generate_random(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
    struct qt_session *s;
    struct qt_drbg *d = NULL;
    size_t done = 0;
    CK_RV rv;
    qt_rc rc = QT_OK;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) == CKR_OK) {
        if (out == NULL && len > 0) {
            rv = CKR_ARGUMENTS_BAD;
        } else {
            rv = qt_module_drbg_inlock(&d);
        }
    }
    qt_unlock();
    if (rv != CKR_OK) {
        return rv;
    }
    /* the DRBG locks itself (drbg.h): generate without the module lock so
     * threads on other sessions go on meanwhile */
    while (done < (size_t)len && rc == QT_OK) {
        size_t n = (size_t)len - done;

        if (n > QT_RANDOM_CHUNK) {
            n = QT_RANDOM_CHUNK;
        }
        rc = qt_drbg_generate(d, out + done, n, 0, 0);
        done += n;
    }
    if (rc != QT_OK) {
        qt_wipe(out, (size_t)len); /* fail closed: nothing partial leaves */
        rv = qt_rv(rc);
    }
    if ((rc != QT_OK || qt_module_health_failed()) && qt_lock() == CKR_OK) {
        qt_module_note_entropy_inlock(rc);
        qt_unlock();
    }
    return rv;
}

CK_RV
qt_C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
    QT_ENTRY("C_GenerateRandom", generate_random(hSession, pRandomData, ulRandomLen),
             "session=%lu len=%lu", (unsigned long)hSession, (unsigned long)ulRandomLen);
}

static CK_RV
seed_random(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
    struct qt_session *s;
    struct qt_drbg *d;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (seed == NULL && len > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = qt_module_drbg_inlock(&d)) != CKR_OK) {
        goto out;
    }
    rv = qt_rv(qt_drbg_mix(d, seed, (size_t)len));
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    QT_ENTRY("C_SeedRandom", seed_random(hSession, pSeed, ulSeedLen), "session=%lu len=%lu",
             (unsigned long)hSession, (unsigned long)ulSeedLen);
}
