/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 benchmark: libqtoken-pkcs11.so against SoftHSM2 in one run, and
 * the same primitives straight through OpenSSL EVP (what `openssl speed`
 * measures) for the sign and key generation targets.
 *
 * Both modules are dlopen'ed and used through C_GetFunctionList only.  Each
 * gets a fresh token in a temp directory (QTOKEN_STORE / QTOKEN_CONF /
 * QTOKEN_DEVICE=sim for qtoken, SOFTHSM2_CONF for SoftHSM2), initialised
 * through the function list (C_InitToken, C_InitPIN), and one logged-in RW
 * session.  Every figure is a time-bounded loop (--seconds per column,
 * default 0.5 s, split in --rounds rounds that alternate the columns, the
 * best round kept; at least --min-iter operations); keys for the sign figures are session
 * objects, so the keystore is measured only by the token-object key
 * generation, token-key sign and FindObjects figures.
 *
 * Figures: C_GenerateRandom 32 B / 4 KiB / 1 MiB; key generation EC P-256,
 * RSA-2048, Ed25519, AES-256 (and EC P-256 as a token object); sign ECDSA
 * P-256 (CKM_ECDSA on a digest; also with a token key, the keystore in the
 * loop, 1 and 2 threads), RSA-2048 (CKM_SHA256_RSA_PKCS), Ed25519
 * (CKM_EDDSA), HMAC-SHA256; AES-GCM encrypt 4 KiB / 1 MiB; FindObjects by
 * label among --objects (10,000) token data objects (SoftHSM2: fewer by
 * default, --softhsm-objects, see below); 2-thread scaling of
 * ECDSA sign, C_GenerateRandom 4 KiB and EC P-256 key generation.  A figure a module cannot do
 * prints n/a with the CKR it returned.
 *
 * Targets (issue 4): qtoken at or above SoftHSM2 on every figure; sign and
 * key generation within 10% of OpenSSL.  Rows print 'ok' or 'BELOW'; with
 * --strict a missed target fails the run.  The last line counts figures as
 * 'N passed, N failed' (failed = could not be measured on qtoken, or a
 * missed target under --strict).
 */
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <p11-kit/pkcs11.h>

#define BM_SO_PIN "87654321"
#define BM_USER_PIN "12345678"
#define BM_LABEL "bench"
#define BM_MIB (1024.0 * 1024.0)

static const CK_BYTE bm_p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const CK_BYTE bm_ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const CK_BYTE bm_f4[] = {0x01, 0x00, 0x01};
static CK_BBOOL bm_true = CK_TRUE;
static CK_BBOOL bm_false = CK_FALSE;

/* ------------------------------------------------------------------------ */
/* Options and timing */

static double opt_seconds = 0.5;
static unsigned long opt_min_iter = 3;
static unsigned opt_rounds = 3;
/* The budget and minimum of the measurement under way (run, ossl_run). */
static double bm_budget;
static unsigned long bm_min;
static unsigned long opt_objects = 10000;
/* SoftHSM2's file store rescans its directory on every call: creating
 * 10,000 objects there takes many minutes, so its FindObjects figure is
 * taken among fewer objects by default (which can only favour it). */
static unsigned long opt_softhsm_objects = 2000;
static const char *opt_only; /* --only SUBSTR: figures whose name contains it */
static int opt_strict;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
rv_str(CK_RV rv)
{
    static char other[32];

    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_DOMAIN_PARAMS_INVALID: return "CKR_DOMAIN_PARAMS_INVALID";
    case CKR_CURVE_NOT_SUPPORTED: return "CKR_CURVE_NOT_SUPPORTED";
    case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
    case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
    case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
    default:
        snprintf(other, sizeof(other), "CKR 0x%lx", (unsigned long)rv);
        return other;
    }
}

/* ------------------------------------------------------------------------ */
/* Modules */

struct bm_module {
    const char *name;
    const char *path;
    void *dl;
    CK_FUNCTION_LIST *f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE sess;
    int ready;
};

/* What one operation works on: a module, a session, keys, buffers. */
struct bm_ctx {
    struct bm_module *m;
    CK_SESSION_HANDLE sess;
    CK_OBJECT_HANDLE ec_priv, ec_tok_priv, rsa_priv, ed_priv, hmac_key, aes_key;
    CK_OBJECT_HANDLE made[2];
    size_t made_n;
    unsigned char *buf;     /* 1 MiB + 64 input */
    unsigned char *out;     /* 1 MiB + 64 output */
    unsigned long counter;  /* IVs, object picks */
    unsigned long nobj;
    CK_RV last;
};

static CK_RV
mod_load(struct bm_module *m)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        fprintf(stderr, "%s: dlopen %s: %s\n", m->name, m->path, dlerror());
        return CKR_GENERAL_ERROR;
    }
    *(void **)(&get) = dlsym(m->dl, "C_GetFunctionList");
    if (get == NULL) {
        fprintf(stderr, "%s: no C_GetFunctionList\n", m->name);
        return CKR_GENERAL_ERROR;
    }
    rv = get(&m->f);
    if (rv != CKR_OK) {
        return rv;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    return m->f->C_Initialize(&args);
}

static void
pad32(CK_UTF8CHAR out[32], const char *s)
{
    size_t n = strlen(s);

    memset(out, ' ', 32);
    memcpy(out, s, n < 32 ? n : 32);
}

/* Finds the first slot whose token is (want_init ? initialised with our
 * label : not initialised). */
static CK_RV
find_slot(struct bm_module *m, int want_init, CK_SLOT_ID *slot)
{
    CK_SLOT_ID ids[64];
    CK_ULONG n = 64, i;
    CK_UTF8CHAR label[32];
    CK_RV rv;

    pad32(label, BM_LABEL);
    rv = m->f->C_GetSlotList(CK_TRUE, ids, &n);
    if (rv != CKR_OK) {
        return rv;
    }
    for (i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;

        if (m->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK) {
            continue;
        }
        if (!want_init && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            *slot = ids[i];
            return CKR_OK;
        }
        if (want_init && (ti.flags & CKF_TOKEN_INITIALIZED) &&
            memcmp(ti.label, label, 32) == 0) {
            *slot = ids[i];
            return CKR_OK;
        }
    }
    return CKR_TOKEN_NOT_PRESENT;
}

static CK_RV
mod_init_token(struct bm_module *m)
{
    CK_UTF8CHAR label[32];
    CK_SLOT_ID empty;
    CK_SESSION_HANDLE s;
    CK_FLAGS rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    CK_RV rv;

    pad32(label, BM_LABEL);
    if ((rv = find_slot(m, 0, &empty)) != CKR_OK) {
        fprintf(stderr, "%s: no empty slot: %s\n", m->name, rv_str(rv));
        return rv;
    }
    rv = m->f->C_InitToken(empty, (CK_UTF8CHAR_PTR)BM_SO_PIN, strlen(BM_SO_PIN), label);
    if (rv != CKR_OK) {
        fprintf(stderr, "%s: C_InitToken: %s\n", m->name, rv_str(rv));
        return rv;
    }
    if ((rv = find_slot(m, 1, &m->slot)) != CKR_OK) {
        fprintf(stderr, "%s: token not found after C_InitToken: %s\n", m->name, rv_str(rv));
        return rv;
    }
    if ((rv = m->f->C_OpenSession(m->slot, rw, NULL, NULL, &s)) != CKR_OK ||
        (rv = m->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)BM_SO_PIN, strlen(BM_SO_PIN))) !=
            CKR_OK ||
        (rv = m->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)BM_USER_PIN, strlen(BM_USER_PIN))) !=
            CKR_OK ||
        (rv = m->f->C_Logout(s)) != CKR_OK || (rv = m->f->C_CloseSession(s)) != CKR_OK) {
        fprintf(stderr, "%s: SO login / C_InitPIN: %s\n", m->name, rv_str(rv));
        return rv;
    }
    if ((rv = m->f->C_OpenSession(m->slot, rw, NULL, NULL, &m->sess)) != CKR_OK ||
        (rv = m->f->C_Login(m->sess, CKU_USER, (CK_UTF8CHAR_PTR)BM_USER_PIN,
                            strlen(BM_USER_PIN))) != CKR_OK) {
        fprintf(stderr, "%s: user login: %s\n", m->name, rv_str(rv));
        return rv;
    }
    return CKR_OK;
}

/* ------------------------------------------------------------------------ */
/* Key generation */

static CK_RV
gen_ec(struct bm_ctx *c, const CK_BYTE *params, CK_ULONG plen, CK_MECHANISM_TYPE mech,
       CK_BBOOL token, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_ATTRIBUTE pubt[] = {
        {CKA_EC_PARAMS, (void *)params, plen},
        {CKA_TOKEN, &token, sizeof(token)},
        {CKA_VERIFY, &bm_true, sizeof(bm_true)},
    };
    CK_ATTRIBUTE privt[] = {
        {CKA_TOKEN, &token, sizeof(token)},
        {CKA_PRIVATE, &bm_true, sizeof(bm_true)},
        {CKA_SENSITIVE, &bm_true, sizeof(bm_true)},
        {CKA_SIGN, &bm_true, sizeof(bm_true)},
    };

    return c->m->f->C_GenerateKeyPair(c->sess, &m, pubt, 3, privt, 4, pub, priv);
}

static CK_RV
gen_rsa(struct bm_ctx *c, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pubt[] = {
        {CKA_MODULUS_BITS, &bits, sizeof(bits)},
        {CKA_PUBLIC_EXPONENT, (void *)bm_f4, sizeof(bm_f4)},
        {CKA_TOKEN, &bm_false, sizeof(bm_false)},
        {CKA_VERIFY, &bm_true, sizeof(bm_true)},
    };
    CK_ATTRIBUTE privt[] = {
        {CKA_TOKEN, &bm_false, sizeof(bm_false)},
        {CKA_PRIVATE, &bm_true, sizeof(bm_true)},
        {CKA_SENSITIVE, &bm_true, sizeof(bm_true)},
        {CKA_SIGN, &bm_true, sizeof(bm_true)},
    };

    return c->m->f->C_GenerateKeyPair(c->sess, &m, pubt, 4, privt, 4, pub, priv);
}

static CK_RV
gen_secret(struct bm_ctx *c, CK_MECHANISM_TYPE mech, CK_KEY_TYPE kt, CK_OBJECT_HANDLE *key)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ULONG len = 32;
    /* AES encrypts, a generic secret (HMAC) signs. */
    CK_ATTRIBUTE_TYPE use1 = kt == CKK_AES ? CKA_ENCRYPT : CKA_SIGN;
    CK_ATTRIBUTE_TYPE use2 = kt == CKK_AES ? CKA_DECRYPT : CKA_VERIFY;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &bm_false, sizeof(bm_false)},
        {CKA_SENSITIVE, &bm_true, sizeof(bm_true)},
        {use1, &bm_true, sizeof(bm_true)},
        {use2, &bm_true, sizeof(bm_true)},
    };

    return c->m->f->C_GenerateKey(c->sess, &m, t, sizeof(t) / sizeof(t[0]), key);
}

/* ------------------------------------------------------------------------ */
/* Operations (one call = one timed operation) */

typedef CK_RV (*bm_op)(struct bm_ctx *c);

static CK_RV
op_rand32(struct bm_ctx *c)
{
    return c->m->f->C_GenerateRandom(c->sess, c->out, 32);
}

static CK_RV
op_rand4k(struct bm_ctx *c)
{
    return c->m->f->C_GenerateRandom(c->sess, c->out, 4096);
}

static CK_RV
op_rand1m(struct bm_ctx *c)
{
    return c->m->f->C_GenerateRandom(c->sess, c->out, 1024 * 1024);
}

static CK_RV
op_gen_ec(struct bm_ctx *c)
{
    c->made_n = 2;
    return gen_ec(c, bm_p256_oid, sizeof(bm_p256_oid), CKM_EC_KEY_PAIR_GEN, CK_FALSE,
                  &c->made[0], &c->made[1]);
}

static CK_RV
op_gen_ec_token(struct bm_ctx *c)
{
    c->made_n = 2;
    return gen_ec(c, bm_p256_oid, sizeof(bm_p256_oid), CKM_EC_KEY_PAIR_GEN, CK_TRUE,
                  &c->made[0], &c->made[1]);
}

static CK_RV
op_gen_rsa(struct bm_ctx *c)
{
    c->made_n = 2;
    return gen_rsa(c, &c->made[0], &c->made[1]);
}

static CK_RV
op_gen_ed(struct bm_ctx *c)
{
    c->made_n = 2;
    return gen_ec(c, bm_ed25519_oid, sizeof(bm_ed25519_oid), CKM_EC_EDWARDS_KEY_PAIR_GEN,
                  CK_FALSE, &c->made[0], &c->made[1]);
}

static CK_RV
op_gen_aes(struct bm_ctx *c)
{
    c->made_n = 1;
    return gen_secret(c, CKM_AES_KEY_GEN, CKK_AES, &c->made[0]);
}

static CK_RV
sign_with(struct bm_ctx *c, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key, CK_ULONG inlen)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_ULONG outlen = 1024;
    CK_RV rv;

    if ((rv = c->m->f->C_SignInit(c->sess, &m, key)) != CKR_OK) {
        return rv;
    }
    return c->m->f->C_Sign(c->sess, c->buf, inlen, c->out, &outlen);
}

static CK_RV
op_sign_ecdsa(struct bm_ctx *c)
{
    return sign_with(c, CKM_ECDSA, c->ec_priv, 32);
}

/* A token key (CA keys, Vault seals): the store is in the loop. */
static CK_RV
op_sign_ecdsa_token(struct bm_ctx *c)
{
    return sign_with(c, CKM_ECDSA, c->ec_tok_priv, 32);
}

static CK_RV
op_sign_rsa(struct bm_ctx *c)
{
    return sign_with(c, CKM_SHA256_RSA_PKCS, c->rsa_priv, 64);
}

static CK_RV
op_sign_ed(struct bm_ctx *c)
{
    return sign_with(c, CKM_EDDSA, c->ed_priv, 64);
}

static CK_RV
op_sign_hmac(struct bm_ctx *c)
{
    return sign_with(c, CKM_SHA256_HMAC, c->hmac_key, 64);
}

static CK_RV
gcm_encrypt(struct bm_ctx *c, CK_ULONG len)
{
    unsigned char iv[12] = {0};
    CK_GCM_PARAMS p;
    CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof(p)};
    CK_ULONG outlen = 1024 * 1024 + 64;
    CK_RV rv;

    /* A distinct IV per operation (a counter; randomness is not measured here). */
    c->counter++;
    memcpy(iv, &c->counter, sizeof(c->counter));
    memset(&p, 0, sizeof(p));
    p.pIv = iv;
    p.ulIvLen = sizeof(iv);
    p.ulIvBits = sizeof(iv) * 8;
    p.ulTagBits = 128;
    if ((rv = c->m->f->C_EncryptInit(c->sess, &m, c->aes_key)) != CKR_OK) {
        return rv;
    }
    return c->m->f->C_Encrypt(c->sess, c->buf, len, c->out, &outlen);
}

static CK_RV
op_gcm4k(struct bm_ctx *c)
{
    return gcm_encrypt(c, 4096);
}

static CK_RV
op_gcm1m(struct bm_ctx *c)
{
    return gcm_encrypt(c, 1024 * 1024);
}

static CK_RV
op_find(struct bm_ctx *c)
{
    char label[32];
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_ATTRIBUTE t[] = {{CKA_LABEL, label, 0}};
    CK_RV rv, rv2;

    /* Multiplicative hashing spreads the picks over the whole set. */
    c->counter++;
    t[0].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "obj-%06lu",
                                         (c->counter * 2654435761UL) % c->nobj);
    if ((rv = c->m->f->C_FindObjectsInit(c->sess, t, 1)) != CKR_OK) {
        return rv;
    }
    rv = c->m->f->C_FindObjects(c->sess, found, 2, &n);
    rv2 = c->m->f->C_FindObjectsFinal(c->sess);
    if (rv == CKR_OK && rv2 != CKR_OK) {
        rv = rv2;
    }
    if (rv == CKR_OK && n != 1) {
        fprintf(stderr, "%s: FindObjects(%s) found %lu objects\n", c->m->name, label,
                (unsigned long)n);
        rv = CKR_GENERAL_ERROR;
    }
    return rv;
}

/* Destroys what a key generation made (not timed). */
static void
destroy_made(struct bm_ctx *c)
{
    size_t i;

    for (i = 0; i < c->made_n; i++) {
        (void)c->m->f->C_DestroyObject(c->sess, c->made[i]);
    }
    c->made_n = 0;
}

/* Runs op until bm_budget seconds of wall time and bm_min operations have
 * passed; returns operations per second of op time (after = untimed
 * cleanup), or NAN with c->last set to the failing CKR. */
/* Per-operation times of the figure being measured, for figures whose
 * spread is the work itself (RSA key generation: the prime search), so a
 * difference can be told from chance; NULL for the others. */
struct bm_stat {
    double sum, sumsq;
    unsigned long n;
};
static struct bm_stat *bm_stat;

static void
stat_add(struct bm_stat *st, double dt)
{
    if (st != NULL) {
        st->sum += dt;
        st->sumsq += dt * dt;
        st->n++;
    }
}

static double
stat_mean(const struct bm_stat *st)
{
    return st->n > 0 ? st->sum / (double)st->n : NAN;
}

/* Variance of the mean. */
static double
stat_var_mean(const struct bm_stat *st)
{
    double m = stat_mean(st);

    if (st->n < 2) {
        return NAN;
    }
    return (st->sumsq - (double)st->n * m * m) / (double)(st->n - 1) / (double)st->n;
}

static double
run(struct bm_ctx *c, bm_op op, int cleanup)
{
    double start = now_s(), spent = 0.0;
    unsigned long n = 0;

    for (;;) {
        double t0 = now_s();
        CK_RV rv = op(c);
        double dt = now_s() - t0;

        spent += dt;
        stat_add(bm_stat, dt);
        if (cleanup) {
            destroy_made(c);
        }
        if (rv != CKR_OK) {
            c->last = rv;
            return NAN;
        }
        n++;
        if (n >= bm_min && now_s() - start >= bm_budget) {
            break;
        }
    }
    return (double)n / spent;
}

/* ------------------------------------------------------------------------ */
/* Two threads */

struct bm_thread {
    struct bm_ctx ctx;
    bm_op op;
    pthread_barrier_t *bar;
    double rate;
};

static void *
thread_main(void *arg)
{
    struct bm_thread *t = arg;

    pthread_barrier_wait(t->bar);
    t->rate = run(&t->ctx, t->op, 0);
    return NULL;
}

static int
ctx_init(struct bm_ctx *c, struct bm_module *m, CK_SESSION_HANDLE sess)
{
    memset(c, 0, sizeof(*c));
    c->m = m;
    c->sess = sess;
    c->buf = malloc(1024 * 1024 + 64);
    c->out = malloc(1024 * 1024 + 64);
    if (c->buf == NULL || c->out == NULL) {
        return -1;
    }
    memset(c->buf, 0x5a, 1024 * 1024 + 64);
    return 0;
}

static void
ctx_clear(struct bm_ctx *c)
{
    free(c->buf);
    free(c->out);
    c->buf = c->out = NULL;
}

/* Aggregate rate of two threads, each on its own session, running op. */
static double
run2(struct bm_ctx *base, bm_op op)
{
    struct bm_thread t[2];
    pthread_t tid[2];
    pthread_barrier_t bar;
    double total = 0.0;
    int i, started = 0;

    pthread_barrier_init(&bar, NULL, 2);
    for (i = 0; i < 2; i++) {
        CK_SESSION_HANDLE s;
        CK_RV rv = base->m->f->C_OpenSession(base->m->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);

        if (rv != CKR_OK || ctx_init(&t[i].ctx, base->m, s) != 0) {
            base->last = rv != CKR_OK ? rv : CKR_HOST_MEMORY;
            total = NAN;
            break;
        }
        t[i].ctx.ec_priv = base->ec_priv;
        t[i].ctx.ec_tok_priv = base->ec_tok_priv;
        t[i].ctx.aes_key = base->aes_key;
        t[i].ctx.nobj = base->nobj;
        t[i].op = op;
        t[i].bar = &bar;
        started++;
    }
    if (started == 2) {
        for (i = 0; i < 2; i++) {
            pthread_create(&tid[i], NULL, thread_main, &t[i]);
        }
        for (i = 0; i < 2; i++) {
            pthread_join(tid[i], NULL);
            total += t[i].rate;
            if (isnan(t[i].rate)) {
                base->last = t[i].ctx.last;
            }
        }
    }
    for (i = 0; i < started; i++) {
        (void)base->m->f->C_CloseSession(t[i].ctx.sess);
        ctx_clear(&t[i].ctx);
    }
    pthread_barrier_destroy(&bar);
    return total;
}

/* ------------------------------------------------------------------------ */
/* OpenSSL EVP, the reference (default library context, as `openssl speed`) */

struct bm_ossl {
    EVP_PKEY *ec, *rsa, *ed;
    EVP_PKEY_CTX *ec_ctx, *rsa_ctx;
    EVP_MD_CTX *ed_ctx;
    EVP_MAC *mac;
    unsigned char hkey[32], akey[32];
    unsigned char in[1024 * 1024 + 64];
    unsigned char out[1024 * 1024 + 64];
    unsigned long counter;
};

static struct bm_ossl *ossl;

typedef int (*bm_ossl_op)(void);

static int
ossl_gen_ec(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    EVP_PKEY_free(k);
    return k != NULL;
}

static int
ossl_gen_rsa(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

    EVP_PKEY_free(k);
    return k != NULL;
}

static int
ossl_gen_ed(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    EVP_PKEY_free(k);
    return k != NULL;
}

static int
ossl_gen_aes(void)
{
    return RAND_bytes(ossl->akey, sizeof(ossl->akey)) == 1;
}

static int
ossl_rand32(void)
{
    return RAND_bytes(ossl->out, 32) == 1;
}

static int
ossl_rand4k(void)
{
    return RAND_bytes(ossl->out, 4096) == 1;
}

static int
ossl_rand1m(void)
{
    return RAND_bytes(ossl->out, 1024 * 1024) == 1;
}

static int
ossl_sign_ecdsa(void)
{
    size_t n = 128;

    return EVP_PKEY_sign(ossl->ec_ctx, ossl->out, &n, ossl->in, 32) == 1;
}

static int
ossl_sign_rsa(void)
{
    unsigned char md[32];
    size_t n = 512;

    /* CKM_SHA256_RSA_PKCS = SHA-256 then PKCS#1 v1.5 */
    return EVP_Digest(ossl->in, 64, md, NULL, EVP_sha256(), NULL) == 1 &&
           EVP_PKEY_sign(ossl->rsa_ctx, ossl->out, &n, md, 32) == 1;
}

static int
ossl_sign_ed(void)
{
    size_t n = 64;

    return EVP_DigestSignInit(ossl->ed_ctx, NULL, NULL, NULL, ossl->ed) == 1 &&
           EVP_DigestSign(ossl->ed_ctx, ossl->out, &n, ossl->in, 64) == 1;
}

static int
ossl_sign_hmac(void)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *m = EVP_MAC_CTX_new(ossl->mac);
    size_t n = 0;
    int ok = m != NULL && EVP_MAC_init(m, ossl->hkey, sizeof(ossl->hkey), params) == 1 &&
             EVP_MAC_update(m, ossl->in, 64) == 1 && EVP_MAC_final(m, ossl->out, &n, 64) == 1;

    EVP_MAC_CTX_free(m);
    return ok;
}

static int
ossl_gcm(size_t len)
{
    unsigned char iv[12] = {0};
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, f = 0, ok;

    ossl->counter++;
    memcpy(iv, &ossl->counter, sizeof(ossl->counter));
    ok = x != NULL && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, ossl->akey, iv) == 1 &&
         EVP_EncryptUpdate(x, ossl->out, &n, ossl->in, (int)len) == 1 &&
         EVP_EncryptFinal_ex(x, ossl->out + n, &f) == 1 &&
         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, ossl->out + n + f) == 1;
    EVP_CIPHER_CTX_free(x);
    return ok;
}

static int
ossl_gcm4k(void)
{
    return ossl_gcm(4096);
}

static int
ossl_gcm1m(void)
{
    return ossl_gcm(1024 * 1024);
}

static int
ossl_setup(void)
{
    ossl = calloc(1, sizeof(*ossl));
    if (ossl == NULL) {
        return -1;
    }
    memset(ossl->in, 0x5a, sizeof(ossl->in));
    RAND_bytes(ossl->hkey, sizeof(ossl->hkey));
    RAND_bytes(ossl->akey, sizeof(ossl->akey));
    ossl->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ossl->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ossl->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ossl->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ossl->ed_ctx = EVP_MD_CTX_new();
    if (ossl->ec == NULL || ossl->rsa == NULL || ossl->ed == NULL || ossl->mac == NULL ||
        ossl->ed_ctx == NULL) {
        return -1;
    }
    ossl->ec_ctx = EVP_PKEY_CTX_new(ossl->ec, NULL);
    ossl->rsa_ctx = EVP_PKEY_CTX_new(ossl->rsa, NULL);
    if (ossl->ec_ctx == NULL || ossl->rsa_ctx == NULL ||
        EVP_PKEY_sign_init(ossl->ec_ctx) != 1 || EVP_PKEY_sign_init(ossl->rsa_ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ossl->rsa_ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ossl->rsa_ctx, EVP_sha256()) != 1) {
        return -1;
    }
    return 0;
}

static void
ossl_free(void)
{
    if (ossl == NULL) {
        return;
    }
    EVP_PKEY_CTX_free(ossl->ec_ctx);
    EVP_PKEY_CTX_free(ossl->rsa_ctx);
    EVP_MD_CTX_free(ossl->ed_ctx);
    EVP_MAC_free(ossl->mac);
    EVP_PKEY_free(ossl->ec);
    EVP_PKEY_free(ossl->rsa);
    EVP_PKEY_free(ossl->ed);
    free(ossl);
    ossl = NULL;
}

static double
ossl_run(bm_ossl_op op)
{
    double start = now_s();
    unsigned long n = 0;

    for (;;) {
        double t0 = now_s();

        if (!op()) {
            return NAN;
        }
        stat_add(bm_stat, now_s() - t0);
        n++;
        if (n >= bm_min && now_s() - start >= bm_budget) {
            break;
        }
    }
    return (double)n / (now_s() - start);
}

/* ------------------------------------------------------------------------ */
/* Figures */

enum bm_kind { BM_PLAIN, BM_VS_OSSL, BM_THREADS };

struct bm_figure {
    const char *name;
    const char *unit;   /* "ops/s" or "MiB/s" */
    double scale;       /* rate * scale = value in unit */
    bm_op op;
    int cleanup;        /* destroy what op made, untimed */
    bm_ossl_op ossl;
    enum bm_kind kind;
    unsigned long min_iter; /* 0: --min-iter, in --rounds rounds (best kept);
                             * else one round of at least this many (RSA
                             * key generation: its spread is the primes'
                             * search, not noise, so the mean is the figure,
                             * printed with its 95% interval, and a target
                             * counts as missed only when qtoken is slower
                             * beyond it: Welch's test, one-sided 1.96) */
};

#define BM_NMOD 2

struct bm_row {
    const struct bm_figure *fig;
    double v[BM_NMOD];  /* per module */
    CK_RV why[BM_NMOD]; /* CKR when n/a */
    double ref;         /* OpenSSL, NAN if none */
    int skipped;        /* not selected by --only */
    struct bm_stat st[BM_NMOD + 1]; /* min_iter figures: per-op times (last: OpenSSL) */
};

static const struct bm_figure figures[] = {
    {"C_GenerateRandom 32 B", "ops/s", 1.0, op_rand32, 0, ossl_rand32, BM_PLAIN, 0},
    {"C_GenerateRandom 4 KiB", "MiB/s", 4096 / BM_MIB, op_rand4k, 0, ossl_rand4k, BM_PLAIN, 0},
    {"C_GenerateRandom 1 MiB", "MiB/s", 1.0, op_rand1m, 0, ossl_rand1m, BM_PLAIN, 0},
    {"keygen EC P-256", "ops/s", 1.0, op_gen_ec, 1, ossl_gen_ec, BM_VS_OSSL, 0},
    {"keygen RSA-2048", "ops/s", 1.0, op_gen_rsa, 1, ossl_gen_rsa, BM_VS_OSSL, 40},
    {"keygen Ed25519", "ops/s", 1.0, op_gen_ed, 1, ossl_gen_ed, BM_VS_OSSL, 0},
    /* OpenSSL's AES "keygen" is RAND_bytes(32): shown, not a target. */
    {"keygen AES-256", "ops/s", 1.0, op_gen_aes, 1, ossl_gen_aes, BM_PLAIN, 0},
    {"keygen EC P-256 token object", "ops/s", 1.0, op_gen_ec_token, 1, NULL, BM_PLAIN, 0},
    {"sign ECDSA P-256", "ops/s", 1.0, op_sign_ecdsa, 0, ossl_sign_ecdsa, BM_VS_OSSL, 0},
    /* not one of the figures: shown against SoftHSM2 (OpenSSL's
     * column for reference); C_SignInit checks the store's data version
     * (an SQLite read transaction, ~2.5 us) at most once a millisecond */
    {"sign ECDSA P-256 token key", "ops/s", 1.0, op_sign_ecdsa_token, 0, ossl_sign_ecdsa,
     BM_PLAIN, 0},
    {"sign RSA-2048 SHA256_RSA_PKCS", "ops/s", 1.0, op_sign_rsa, 0, ossl_sign_rsa, BM_VS_OSSL, 0},
    {"sign Ed25519", "ops/s", 1.0, op_sign_ed, 0, ossl_sign_ed, BM_VS_OSSL, 0},
    {"sign HMAC-SHA256", "ops/s", 1.0, op_sign_hmac, 0, ossl_sign_hmac, BM_VS_OSSL, 0},
    {"AES-256-GCM encrypt 4 KiB", "MiB/s", 4096 / BM_MIB, op_gcm4k, 0, ossl_gcm4k, BM_PLAIN, 0},
    {"AES-256-GCM encrypt 1 MiB", "MiB/s", 1.0, op_gcm1m, 0, ossl_gcm1m, BM_PLAIN, 0},
    {"FindObjects by label", "ops/s", 1.0, op_find, 0, NULL, BM_PLAIN, 0},
    {"2 threads: sign ECDSA P-256", "ops/s", 1.0, op_sign_ecdsa, 0, NULL, BM_THREADS, 0},
    {"2 threads: sign ECDSA P-256 token key", "ops/s", 1.0, op_sign_ecdsa_token, 0, NULL,
     BM_THREADS, 0},
    {"2 threads: C_GenerateRandom 4 KiB", "MiB/s", 4096 / BM_MIB, op_rand4k, 0, NULL,
     BM_THREADS, 0},
    {"2 threads: keygen EC P-256", "ops/s", 1.0, op_gen_ec, 1, NULL, BM_THREADS, 0},
};

#define BM_NFIG (sizeof(figures) / sizeof(figures[0]))

/* The keys the sign/encrypt figures use, as session objects. */
static CK_RV
make_keys(struct bm_ctx *c)
{
    CK_OBJECT_HANDLE pub;
    CK_RV rv;

    if ((rv = gen_ec(c, bm_p256_oid, sizeof(bm_p256_oid), CKM_EC_KEY_PAIR_GEN, CK_FALSE, &pub,
                     &c->ec_priv)) != CKR_OK) {
        fprintf(stderr, "%s: EC key for signing: %s\n", c->m->name, rv_str(rv));
    }
    if ((rv = gen_ec(c, bm_p256_oid, sizeof(bm_p256_oid), CKM_EC_KEY_PAIR_GEN, CK_TRUE, &pub,
                     &c->ec_tok_priv)) != CKR_OK) {
        fprintf(stderr, "%s: EC token key for signing: %s\n", c->m->name, rv_str(rv));
    }
    if ((rv = gen_rsa(c, &pub, &c->rsa_priv)) != CKR_OK) {
        fprintf(stderr, "%s: RSA key for signing: %s\n", c->m->name, rv_str(rv));
    }
    if ((rv = gen_ec(c, bm_ed25519_oid, sizeof(bm_ed25519_oid), CKM_EC_EDWARDS_KEY_PAIR_GEN,
                     CK_FALSE, &pub, &c->ed_priv)) != CKR_OK) {
        fprintf(stderr, "%s: Ed25519 key for signing: %s\n", c->m->name, rv_str(rv));
    }
    if ((rv = gen_secret(c, CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, &c->hmac_key)) !=
        CKR_OK) {
        fprintf(stderr, "%s: HMAC key: %s\n", c->m->name, rv_str(rv));
    }
    if ((rv = gen_secret(c, CKM_AES_KEY_GEN, CKK_AES, &c->aes_key)) != CKR_OK) {
        fprintf(stderr, "%s: AES key: %s\n", c->m->name, rv_str(rv));
    }
    return CKR_OK;
}

/* n public token data objects labelled obj-NNNNNN. */
static CK_RV
make_objects(struct bm_ctx *c, unsigned long nobj)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    char label[32];
    unsigned char value[16];
    double t0 = now_s();
    unsigned long i;
    CK_RV rv = CKR_OK;

    memset(value, 0xa5, sizeof(value));
    for (i = 0; i < nobj; i++) {
        CK_OBJECT_HANDLE h;
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof(cls)},
            {CKA_TOKEN, &bm_true, sizeof(bm_true)},
            {CKA_PRIVATE, &bm_false, sizeof(bm_false)},
            {CKA_LABEL, label, 0},
            {CKA_VALUE, value, sizeof(value)},
        };

        t[3].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "obj-%06lu", i);
        if ((rv = c->m->f->C_CreateObject(c->sess, t, 5, &h)) != CKR_OK) {
            fprintf(stderr, "%s: C_CreateObject #%lu: %s\n", c->m->name, i, rv_str(rv));
            c->nobj = 0;
            return rv;
        }
    }
    c->nobj = nobj;
    printf("# %s: created %lu token data objects in %.1f s\n", c->m->name, nobj,
           now_s() - t0);
    fflush(stdout);
    return rv;
}

static void
print_value(double v, CK_RV why)
{
    if (isnan(v)) {
        char na[40];

        snprintf(na, sizeof(na), "n/a(%s)", why ? rv_str(why) + 4 : "-");
        printf(" %13.13s", na);
    } else if (v >= 100.0) {
        printf(" %13.0f", v);
    } else {
        printf(" %13.2f", v);
    }
}

static void
print_ratio(double r)
{
    if (isnan(r)) {
        printf(" %7s", "-");
    } else {
        printf(" %7.2f", r);
    }
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--qtoken PATH] [--softhsm PATH] [--seconds S] [--min-iter N]\n"
            "          [--objects N] [--softhsm-objects N] [--rounds N] [--strict] [--only SUBSTR]\n"
            "  PATH defaults: $QTOKEN_PKCS11_MODULE, /usr/lib/softhsm/libsofthsm2.so\n",
            argv0);
}

int
main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"qtoken", required_argument, NULL, 'q'},  {"softhsm", required_argument, NULL, 's'},
        {"seconds", required_argument, NULL, 't'}, {"min-iter", required_argument, NULL, 'n'},
        {"objects", required_argument, NULL, 'o'}, {"strict", no_argument, NULL, 'S'},
        {"softhsm-objects", required_argument, NULL, 'O'}, {"only", required_argument, NULL, 'y'},
        {"rounds", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct bm_module mods[BM_NMOD] = {
        {.name = "qtoken", .path = getenv("QTOKEN_PKCS11_MODULE")},
        {.name = "softhsm2", .path = "/usr/lib/softhsm/libsofthsm2.so"},
    };
    struct bm_ctx ctx[BM_NMOD];
    struct bm_row rows[BM_NFIG];
    char tmp[] = "/tmp/qt-bench.XXXXXX";
    char path[4096];
    FILE *fp;
    unsigned i, k, rd, rounds;
    int opt, passed = 0, failed = 0, met = 0, missed = 0;

    while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        switch (opt) {
        case 'q': mods[0].path = optarg; break;
        case 's': mods[1].path = optarg; break;
        case 't': opt_seconds = atof(optarg); break;
        case 'n': opt_min_iter = strtoul(optarg, NULL, 10); break;
        case 'o': opt_objects = strtoul(optarg, NULL, 10); break;
        case 'O': opt_softhsm_objects = strtoul(optarg, NULL, 10); break;
        case 'y': opt_only = optarg; break;
        case 'r': opt_rounds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'S': opt_strict = 1; break;
        default: usage(argv[0]); return 2;
        }
    }
    if (mods[0].path == NULL || opt_seconds <= 0.0 || opt_rounds == 0) {
        usage(argv[0]);
        return 2;
    }
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* Both modules read their configuration at C_Initialize. */
    snprintf(path, sizeof(path), "%s/qtoken.conf", tmp);
    fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        return 1;
    }
    fprintf(fp, "[store]\npath = %s/store\n[device]\nspec = sim\n"
                "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\n", tmp);
    fclose(fp);
    setenv("QTOKEN_CONF", path, 1);
    snprintf(path, sizeof(path), "%s/store", tmp);
    mkdir(path, 0700);
    setenv("QTOKEN_STORE", path, 1);
    setenv("QTOKEN_DEVICE", "sim", 1);
    snprintf(path, sizeof(path), "%s/softhsm", tmp);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", tmp);
    fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        return 1;
    }
    fprintf(fp, "directories.tokendir = %s/softhsm\nobjectstore.backend = file\n"
                "log.level = ERROR\nslots.removable = false\n", tmp);
    fclose(fp);
    setenv("SOFTHSM2_CONF", path, 1);

    printf("# bench_pkcs11: %.2f s per figure and column in %u rounds, best kept (min %lu "
           "ops); FindObjects among %lu objects (softhsm2: %lu)\n", opt_seconds, opt_rounds,
           opt_min_iter, opt_objects, opt_softhsm_objects);
    for (k = 0; k < BM_NMOD; k++) {
        CK_RV rv = mod_load(&mods[k]);

        printf("# %s: %s\n", mods[k].name, mods[k].path);
        if (rv == CKR_OK) {
            rv = mod_init_token(&mods[k]);
        }
        if (ctx_init(&ctx[k], &mods[k], mods[k].sess) != 0) {
            return 1;
        }
        if (rv != CKR_OK) {
            printf("# %s: not usable (%s), its column is n/a\n", mods[k].name, rv_str(rv));
            ctx[k].last = rv;
            continue;
        }
        mods[k].ready = 1;
        (void)make_keys(&ctx[k]);
        (void)make_objects(&ctx[k], k == 0 ? opt_objects : opt_softhsm_objects);
    }
    if (ossl_setup() != 0) {
        fprintf(stderr, "OpenSSL reference setup failed\n");
        return 1;
    }

    printf("%-34s %-6s %13s %13s %7s %13s %7s\n", "figure", "unit", "qtoken", "softhsm2",
           "q/shsm", "openssl", "q/ossl");
    for (i = 0; i < BM_NFIG; i++) {
        const struct bm_figure *f = &figures[i];
        struct bm_row *r = &rows[i];
        double ratio, rref;
        int below = 0;

        r->fig = f;
        r->v[0] = r->v[1] = NAN;
        if (opt_only != NULL && strstr(f->name, opt_only) == NULL) {
            r->skipped = 1;
            continue;
        }
        rounds = f->min_iter != 0 ? 1 : opt_rounds;
        bm_budget = opt_seconds / rounds;
        bm_min = f->min_iter != 0 ? f->min_iter : opt_min_iter;
        for (k = 0; k < BM_NMOD; k++) {
            r->v[k] = mods[k].ready ? 0.0 : NAN;
            r->why[k] = mods[k].ready ? CKR_OK : ctx[k].last;
        }
        r->ref = f->ossl != NULL ? 0.0 : NAN;
        /* Columns interleaved round by round, best round kept: the machine
         * is shared, and a burst of load then hits all columns alike. */
        for (rd = 0; rd < rounds; rd++) {
            for (k = 0; k < BM_NMOD; k++) {
                double x;

                if (isnan(r->v[k])) {
                    continue;
                }
                ctx[k].last = CKR_OK;
                if (f->kind == BM_THREADS) {
                    x = run2(&ctx[k], f->op) * f->scale;
                } else if (f->op == op_find && ctx[k].nobj == 0) {
                    x = NAN;
                    ctx[k].last = CKR_GENERAL_ERROR;
                } else {
                    bm_stat = f->min_iter != 0 ? &r->st[k] : NULL;
                    x = run(&ctx[k], f->op, f->cleanup) * f->scale;
                    bm_stat = NULL;
                }
                r->v[k] = isnan(x) ? NAN : fmax(r->v[k], x);
                r->why[k] = ctx[k].last;
            }
            if (!isnan(r->ref)) {
                bm_stat = f->min_iter != 0 ? &r->st[BM_NMOD] : NULL;
                r->ref = fmax(r->ref, ossl_run(f->ossl) * f->scale);
                bm_stat = NULL;
            }
        }
        ratio = r->v[0] / r->v[1];
        rref = r->ref > 0 ? r->v[0] / r->ref : NAN;
        printf("%-34s %-6s", f->name, f->unit);
        print_value(r->v[0], r->why[0]);
        print_value(r->v[1], r->why[1]);
        print_ratio(ratio);
        print_value(r->ref, 0);
        print_ratio(rref);
        if (isnan(r->v[0])) {
            failed++;
            printf("  FAILED\n");
            continue;
        }
        if (f->min_iter != 0) {
            /* mean per-operation time with a 95% interval; a target is
             * missed only when qtoken is slower beyond chance (Welch) */
            double mq = stat_mean(&r->st[0]), vq = stat_var_mean(&r->st[0]);

            if (r->st[1].n > 1 &&
                (mq - stat_mean(&r->st[1])) / sqrt(vq + stat_var_mean(&r->st[1])) > 1.96) {
                below = 1;
            }
            if (f->kind == BM_VS_OSSL && r->st[BM_NMOD].n > 1 &&
                (mq - stat_mean(&r->st[BM_NMOD]) / 0.9) /
                        sqrt(vq + stat_var_mean(&r->st[BM_NMOD]) / 0.81) >
                    1.96) {
                below = 1;
            }
        } else {
            if (!isnan(ratio) && ratio < 1.0) {
                below = 1;
            }
            if (f->kind == BM_VS_OSSL && !isnan(rref) && rref < 0.9) {
                below = 1;
            }
        }
        if (below) {
            missed++;
        } else {
            met++;
        }
        if (below && opt_strict) {
            failed++;
        } else {
            passed++;
        }
        printf("  %s\n", below ? "BELOW" : "ok");
        if (f->min_iter != 0) {
            const char *who[] = {"qtoken", "softhsm2", "openssl"};

            printf("#   %s per op, mean +- 95%% (ops): BELOW only if slower beyond that:",
                   f->name);
            for (k = 0; k <= BM_NMOD; k++) {
                if (r->st[k].n > 1) {
                    printf(" %s %.1f +- %.1f ms (%lu)", who[k], 1e3 * stat_mean(&r->st[k]),
                           1e3 * 1.96 * sqrt(stat_var_mean(&r->st[k])), r->st[k].n);
                }
            }
            printf("\n");
        }
    }
    /* 2-thread scaling against the 1-thread figures above. */
    for (i = 0; i < BM_NFIG; i++) {
        unsigned j;

        if (figures[i].kind != BM_THREADS || rows[i].skipped) {
            continue;
        }
        for (j = 0; j < BM_NFIG; j++) {
            if (figures[j].kind != BM_THREADS && figures[j].op == figures[i].op &&
                !rows[j].skipped) {
                printf("# scaling %-26s qtoken x%.2f  softhsm2 x%.2f\n",
                       figures[j].name, rows[i].v[0] / rows[j].v[0],
                       rows[i].v[1] / rows[j].v[1]);
            }
        }
    }
    printf("# targets: %d met, %d missed (at or above SoftHSM2; sign/keygen >= 0.9 x OpenSSL)\n",
           met, missed);

    for (k = 0; k < BM_NMOD; k++) {
        if (mods[k].f != NULL) {
            (void)mods[k].f->C_CloseAllSessions(mods[k].slot);
            (void)mods[k].f->C_Finalize(NULL);
        }
        ctx_clear(&ctx[k]);
        /* The modules stay mapped: SoftHSM2 and others misbehave when
         * unloaded with threads or OpenSSL state still around. */
    }
    ossl_free();
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
