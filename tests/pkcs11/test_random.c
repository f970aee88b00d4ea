/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, random numbers and threads: C_GenerateRandom (sizes,
 * arguments, distinct outputs, a crude bit balance), C_SeedRandom (mixed,
 * never breaks the stream), and eight threads on their own sessions
 * generating random, keys, signatures and searches at once, with sessions
 * opened and closed while the others work.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "p11test.h"

TestSuite(random, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 120);

Test(random, generate_random)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 0);
    unsigned char a[64], b[64];
    size_t ones = 0, big = 1u << 20;
    unsigned char *m = malloc(big);

    cr_assert_not_null(m);
    CK_OK(F->C_GenerateRandom(h, a, sizeof(a)));
    CK_OK(F->C_GenerateRandom(h, b, sizeof(b)));
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    CK_OK(F->C_GenerateRandom(h, a, 0));
    CK_OK(F->C_GenerateRandom(h, NULL, 0));
    CK_RV_EQ(F->C_GenerateRandom(h, NULL, 16), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GenerateRandom(h + 100, a, 16), CKR_SESSION_HANDLE_INVALID);
    CK_OK(F->C_GenerateRandom(h, m, (CK_ULONG)big));
    for (size_t i = 0; i < big; i++) {
        ones += (size_t)__builtin_popcount(m[i]);
    }
    /* 8 Mbit: the count of ones is within 6 sigma (sigma ~ 1448) of half */
    cr_assert(ones > big * 4 - 8700 && ones < big * 4 + 8700, "ones = %zu", ones);
    free(m);
}

Test(random, seed_random)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 0);
    unsigned char seed[32] = {0}, a[32], b[32];

    CK_OK(F->C_SeedRandom(h, seed, sizeof(seed)));
    CK_OK(F->C_GenerateRandom(h, a, sizeof(a)));
    CK_OK(F->C_SeedRandom(h, seed, sizeof(seed)));
    CK_OK(F->C_GenerateRandom(h, b, sizeof(b)));
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "the same seed does not repeat the output");
    CK_RV_EQ(F->C_SeedRandom(h, NULL, 4), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_SeedRandom(h + 100, seed, 4), CKR_SESSION_HANDLE_INVALID);
}

struct worker {
    int id;
    int failures;
    CK_RV last_bad;
};

static void
bad(struct worker *w, CK_RV rv)
{
    if (rv != CKR_OK) {
        w->failures++;
        w->last_bad = rv;
    }
}

static void *
work(void *arg)
{
    struct worker *w = arg;
    CK_SESSION_HANDLE h;
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, sig = {CKM_ECDSA_SHA256, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_OBJECT_HANDLE pub, priv, found[4];
    unsigned char r[48], s[64];
    CK_ULONG n;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE ft = {CKA_CLASS, &cls, sizeof(cls)};

    for (int round = 0; round < 12; round++) {
        bad(w, F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
        bad(w, F->C_GenerateRandom(h, r, sizeof(r)));
        bad(w, F->C_GenerateKeyPair(h, &gen, pt, 1, NULL, 0, &pub, &priv));
        bad(w, F->C_SignInit(h, &sig, priv));
        n = sizeof(s);
        bad(w, F->C_Sign(h, r, sizeof(r), s, &n));
        bad(w, F->C_VerifyInit(h, &sig, pub));
        bad(w, F->C_Verify(h, r, sizeof(r), s, n));
        bad(w, F->C_FindObjectsInit(h, &ft, 1));
        bad(w, F->C_FindObjects(h, found, 4, &n));
        bad(w, F->C_FindObjectsFinal(h));
        bad(w, F->C_CloseSession(h));
    }
    return NULL;
}

Test(random, eight_threads_with_own_sessions)
{
    pthread_t t[8];
    struct worker w[8];
    CK_SESSION_HANDLE keep = p11t_user_session(); /* one long logged-in session */

    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.id = i};
        cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].failures, 0, "thread %d: %d failures, last 0x%lx", i, w[i].failures,
                     (unsigned long)w[i].last_bad);
    }
    {
        CK_SESSION_INFO si;

        CK_OK(F->C_GetSessionInfo(keep, &si));
        cr_assert_eq(si.state, CKS_RW_USER_FUNCTIONS, "the long session stayed logged in");
    }
}
