/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QRNG-SEED EVP_RAND and the provider dispatch around it.  This file owns
 * the seed source's dispatch table (the shape of OpenSSL's
 * providers/implementations/rands/seed_src.c), its per-provider counters, and
 * the provider-level functions shared by the in-library provider (drbg.c) and
 * the loadable `qtoken` module (provider.c).
 *
 * Every byte handed to OpenSSL comes from qt_ent_pipeline_get_entropy, i.e.
 * extractor output of health-tested QRNG samples, credited one bit of
 * entropy per bit.  A pull the calling thread marked fresh
 * (qt_seed_src_thread_fresh: drbg.c's prediction-resistance reseeds) uses
 * qt_ent_pipeline_get_fresh instead, so it is served from new samples read
 * from the device during the pull.  There is no other input and no fallback: when the pipeline
 * fails, get_seed and generate return 0, the caller's DRBG stays
 * uninstantiated (or goes to its error state) and OpenSSL reports failure.
 * Instantiation of the seed source itself never touches the device, so it
 * cannot fail: OpenSSL 3.0 falls back to a parent-less (OS-seeded) primary
 * DRBG when the seed source cannot be created, so a failure there would be a
 * silent fallback.
 */
#include "seed_src.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../common/conf.h"
#include "../common/log.h"
#include "../common/mem.h"
#include "../entropy/ent.h"

/* Largest single generate request served directly from the seed source. */
#define SEED_MAX_REQUEST 4096
/* Largest seed handed out by get_seed (a CTR-DRBG asks for 32..48 bytes). */
#define SEED_MAX_SEED (1u << 16)
/* Reported strength: the output is full entropy, so it is as strong as any
 * DRBG that OpenSSL builds on it (the value OpenSSL's SEED-SRC reports). */
#define SEED_STRENGTH 1024

struct qt_seed_prov {
    struct qt_ent_pipeline *pipe; /* NULL until opened (owned mode) */
    int owned;                    /* 1: pipe created here from the config */
    pthread_mutex_t open_lock;    /* serialises the lazy open */
    char name[32];
    atomic_uint_fast64_t calls;
    atomic_uint_fast64_t bytes;
    atomic_uint_fast64_t failures;
};

/* One EVP_RAND_CTX.  Its own counters let a caller that owns a seed ctx
 * (drbg.c's full-entropy chain) account exactly for what that ctx handed out. */
struct seed_ctx {
    struct qt_seed_prov *sp;
    int state; /* EVP_RAND_STATE_* */
    atomic_uint_fast64_t calls;
    atomic_uint_fast64_t bytes;
};

/*
 * Provider context
 */

struct qt_seed_prov *
qt_seed_src_prov_new(struct qt_ent_pipeline *pipe)
{
    struct qt_seed_prov *sp = calloc(1, sizeof(*sp));

    if (sp == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&sp->open_lock, NULL) != 0) {
        free(sp);
        return NULL;
    }
    sp->pipe = pipe;
    sp->owned = (pipe == NULL);
    (void)strcpy(sp->name, "qtoken");
    atomic_init(&sp->calls, 0);
    atomic_init(&sp->bytes, 0);
    atomic_init(&sp->failures, 0);
    return sp;
}

void
qt_seed_src_prov_free(struct qt_seed_prov *sp)
{
    if (sp == NULL) {
        return;
    }
    qt_log(QT_LOG_INFO, "%s provider: %s calls=%llu bytes=%llu failures=%llu", sp->name,
           QT_SEED_SRC_NAME, (unsigned long long)atomic_load(&sp->calls),
           (unsigned long long)atomic_load(&sp->bytes),
           (unsigned long long)atomic_load(&sp->failures));
    if (sp->owned) {
        qt_ent_pipeline_free(sp->pipe);
    }
    (void)pthread_mutex_destroy(&sp->open_lock);
    free(sp);
}

void
qt_seed_src_counters(const struct qt_seed_prov *sp, struct qt_seed_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (sp == NULL) {
        return;
    }
    /* The atomics are only read; the casts drop const for the C11 API. */
    out->calls = atomic_load((atomic_uint_fast64_t *)&sp->calls);
    out->bytes = atomic_load((atomic_uint_fast64_t *)&sp->bytes);
    out->failures = atomic_load((atomic_uint_fast64_t *)&sp->failures);
}

/* Set by qt_seed_src_thread_fresh: the thread's next pull reads new samples. */
static _Thread_local int thread_fresh;

void
qt_seed_src_thread_fresh(int on)
{
    thread_fresh = on != 0;
}

/* The pipeline to pull from, opening it from the configuration in owned mode.
 * The pipeline is thread-safe on its own; the lock only guards its creation. */
static qt_rc
get_pipeline(struct qt_seed_prov *sp, struct qt_ent_pipeline **out)
{
    struct qt_conf conf;
    char err[256] = "";
    qt_rc rc = QT_OK;

    if (!sp->owned) {
        *out = sp->pipe;
        return sp->pipe != NULL ? QT_OK : QT_E_STATE;
    }
    if (pthread_mutex_lock(&sp->open_lock) != 0) {
        return QT_E_INTERNAL;
    }
    if (sp->pipe == NULL) {
        if ((rc = qt_conf_load(&conf, err, sizeof(err))) != QT_OK) {
            qt_log(QT_LOG_ERROR, "%s provider: configuration: %s", sp->name, err);
            goto out;
        }
        if ((rc = qt_ent_pipeline_new(conf.device_spec, &conf, &sp->pipe)) != QT_OK) {
            qt_log(QT_LOG_ERROR, "%s provider: entropy source '%s': %s", sp->name,
                   conf.device_spec, qt_rc_str(rc));
            sp->pipe = NULL;
            goto out;
        }
    }
    *out = sp->pipe;
out:
    (void)pthread_mutex_unlock(&sp->open_lock);
    return rc;
}

/* n full-entropy bytes into out, or 0 and out wiped.  *pipe_out (if not
 * NULL) gets the pipeline that served them. */
static int
pull(struct qt_seed_prov *sp, unsigned char *out, size_t n, struct qt_ent_pipeline **pipe_out)
{
    struct qt_ent_pipeline *p = NULL;
    qt_rc rc;

    rc = get_pipeline(sp, &p);
    if (rc == QT_OK) {
        rc = thread_fresh ? qt_ent_pipeline_get_fresh(p, out, n)
                          : qt_ent_pipeline_get_entropy(p, out, n);
    }
    /* One fresh pull per marked request: any further pull of the same
     * request is an ordinary one */
    thread_fresh = 0;
    if (rc != QT_OK) {
        qt_wipe(out, n);
        atomic_fetch_add(&sp->failures, 1);
        qt_log(QT_LOG_INFO, "%s: entropy pipeline refused %zu bytes: %s", QT_SEED_SRC_NAME, n,
               qt_rc_str(rc));
        ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "%s: entropy source failed: %s",
                       QT_SEED_SRC_NAME, qt_rc_str(rc));
        return 0;
    }
    atomic_fetch_add(&sp->calls, 1);
    atomic_fetch_add(&sp->bytes, (uint_fast64_t)n);
    if (pipe_out != NULL) {
        *pipe_out = p;
    }
    return 1;
}

/*
 * EVP_RAND dispatch
 */

static int
ctx_pull(struct seed_ctx *s, unsigned char *out, size_t n, struct qt_ent_pipeline **pipe_out)
{
    if (!pull(s->sp, out, n, pipe_out)) {
        return 0;
    }
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(&s->bytes, (uint_fast64_t)n);
    return 1;
}

static OSSL_FUNC_rand_newctx_fn seed_new;
static OSSL_FUNC_rand_freectx_fn seed_free;
static OSSL_FUNC_rand_instantiate_fn seed_instantiate;
static OSSL_FUNC_rand_uninstantiate_fn seed_uninstantiate;
static OSSL_FUNC_rand_generate_fn seed_generate;
static OSSL_FUNC_rand_reseed_fn seed_reseed;
static OSSL_FUNC_rand_gettable_ctx_params_fn seed_gettable_ctx_params;
static OSSL_FUNC_rand_get_ctx_params_fn seed_get_ctx_params;
static OSSL_FUNC_rand_verify_zeroization_fn seed_verify_zeroization;
static OSSL_FUNC_rand_enable_locking_fn seed_enable_locking;
static OSSL_FUNC_rand_lock_fn seed_lock;
static OSSL_FUNC_rand_unlock_fn seed_unlock;
static OSSL_FUNC_rand_get_seed_fn seed_get_seed;
static OSSL_FUNC_rand_clear_seed_fn seed_clear_seed;

static void *
seed_new(void *provctx, void *parent, const OSSL_DISPATCH *parent_dispatch)
{
    struct seed_ctx *s;

    (void)parent_dispatch;
    /* A seed source is the root of a DRBG chain: it has no parent. */
    if (parent != NULL || provctx == NULL) {
        ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
        return NULL;
    }
    s = OPENSSL_zalloc(sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->sp = provctx;
    s->state = EVP_RAND_STATE_UNINITIALISED;
    atomic_init(&s->calls, 0);
    atomic_init(&s->bytes, 0);
    return s;
}

static void
seed_free(void *vs)
{
    OPENSSL_free(vs);
}

/* Never touches the device: see the file comment (no silent fallback). */
static int
seed_instantiate(void *vs, unsigned int strength, int prediction_resistance,
                 const unsigned char *pstr, size_t pstr_len, const OSSL_PARAM params[])
{
    struct seed_ctx *s = vs;

    (void)strength;
    (void)prediction_resistance;
    (void)pstr;
    (void)pstr_len;
    (void)params;
    s->state = EVP_RAND_STATE_READY;
    return 1;
}

static int
seed_uninstantiate(void *vs)
{
    struct seed_ctx *s = vs;

    s->state = EVP_RAND_STATE_UNINITIALISED;
    return 1;
}

static int
check_ready(const struct seed_ctx *s)
{
    if (s->state != EVP_RAND_STATE_READY) {
        ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "%s not instantiated",
                       QT_SEED_SRC_NAME);
        return 0;
    }
    return 1;
}

/* Every request is served fresh from the pipeline, so prediction resistance
 * holds trivially and additional input has nothing to be mixed into. */
static int
seed_generate(void *vs, unsigned char *out, size_t outlen, unsigned int strength,
              int prediction_resistance, const unsigned char *adin, size_t adin_len)
{
    struct seed_ctx *s = vs;

    (void)prediction_resistance;
    (void)adin;
    (void)adin_len;
    if (!check_ready(s)) {
        return 0;
    }
    if (strength > SEED_STRENGTH || outlen > SEED_MAX_REQUEST) {
        ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
        return 0;
    }
    return ctx_pull(s, out, outlen, NULL);
}

static int
seed_reseed(void *vs, int prediction_resistance, const unsigned char *ent, size_t ent_len,
            const unsigned char *adin, size_t adin_len)
{
    (void)prediction_resistance;
    (void)ent;
    (void)ent_len;
    (void)adin;
    (void)adin_len;
    return check_ready(vs);
}

/* The seed source's counters (QT_SEED_PARAM_CALLS/BYTES/FAILURES), for
 * both get_params calls: the RAND ctx's and the provider's. */
static int
counter_params(OSSL_PARAM params[], const struct qt_seed_counters *c)
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, QT_SEED_PARAM_CALLS);

    if (p != NULL && !OSSL_PARAM_set_uint64(p, c->calls)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, QT_SEED_PARAM_BYTES);
    if (p != NULL && !OSSL_PARAM_set_uint64(p, c->bytes)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, QT_SEED_PARAM_FAILURES);
    return p == NULL || OSSL_PARAM_set_uint64(p, c->failures);
}

static int
seed_get_ctx_params(void *vs, OSSL_PARAM params[])
{
    struct seed_ctx *s = vs;
    struct qt_seed_counters c;
    OSSL_PARAM *p;

    /* Per-ctx counts (failures are only counted per provider). */
    qt_seed_src_counters(s->sp, &c);
    c.calls = atomic_load(&s->calls);
    c.bytes = atomic_load(&s->bytes);
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
    if (p != NULL && !OSSL_PARAM_set_int(p, s->state)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
    if (p != NULL && !OSSL_PARAM_set_uint(p, SEED_STRENGTH)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, SEED_MAX_REQUEST)) {
        return 0;
    }
    return counter_params(params, &c);
}

static const OSSL_PARAM *
seed_gettable_ctx_params(void *vs, void *provctx)
{
    static const OSSL_PARAM known[] = {
        OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_CALLS, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_BYTES, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_FAILURES, NULL),
        OSSL_PARAM_END,
    };

    (void)vs;
    (void)provctx;
    return known;
}

static int
seed_verify_zeroization(void *vs)
{
    /* No secret state: bytes are handed out and never kept. */
    (void)vs;
    return 1;
}

/* OpenSSL's seed-source contract: entropy bits wanted, at least min_len and at
 * most max_len bytes.  Pipeline output carries 8 bits of entropy per byte. */
/* Seed bytes this thread has pulled (OpenSSL pulls a parent's seed in the
 * thread that asked for the reseed), so a caller can measure one reseed. */
static _Thread_local uint64_t thread_seed_bytes;

uint64_t
qt_seed_src_thread_bytes(void)
{
    return thread_seed_bytes;
}

static size_t
seed_get_seed(void *vs, unsigned char **pout, int entropy, size_t min_len, size_t max_len,
              int prediction_resistance, const unsigned char *adin, size_t adin_len)
{
    struct seed_ctx *s = vs;
    size_t need = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
    struct qt_ent_pipeline *pipe = NULL;
    unsigned char *buf;

    (void)prediction_resistance;
    (void)adin;
    (void)adin_len;
    if (!check_ready(s)) {
        return 0;
    }
    if (need < min_len) {
        need = min_len;
    }
    if (need == 0 || need > max_len || need > SEED_MAX_SEED) {
        ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
        return 0;
    }
    buf = OPENSSL_secure_malloc(need);
    if (buf == NULL) {
        return 0;
    }
    if (!ctx_pull(s, buf, need, &pipe)) {
        OPENSSL_secure_clear_free(buf, need);
        return 0;
    }
    /* Every seed handed out is one (re)seed of a DRBG built on us. */
    qt_ent_pipeline_note_reseed(pipe);
    thread_seed_bytes += need;
    *pout = buf;
    return need;
}

static void
seed_clear_seed(void *vs, unsigned char *out, size_t outlen)
{
    (void)vs;
    OPENSSL_secure_clear_free(out, outlen);
}

/* The pipeline has its own mutex and the counters are atomic: no ctx lock. */
static int
seed_enable_locking(void *vs)
{
    (void)vs;
    return 1;
}

static int
seed_lock(void *vs)
{
    (void)vs;
    return 1;
}

static void
seed_unlock(void *vs)
{
    (void)vs;
}

static const OSSL_DISPATCH seed_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))seed_new},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))seed_free},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))seed_instantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))seed_uninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))seed_generate},
    {OSSL_FUNC_RAND_RESEED, (void (*)(void))seed_reseed},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))seed_enable_locking},
    {OSSL_FUNC_RAND_LOCK, (void (*)(void))seed_lock},
    {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))seed_unlock},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, (void (*)(void))seed_gettable_ctx_params},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))seed_get_ctx_params},
    {OSSL_FUNC_RAND_VERIFY_ZEROIZATION, (void (*)(void))seed_verify_zeroization},
    {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))seed_get_seed},
    {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))seed_clear_seed},
    {0, NULL},
};

static const OSSL_ALGORITHM seed_algorithms[] = {
    {QT_SEED_SRC_NAME, "provider=qtoken", seed_functions,
     "QRNG seed source: health-tested, extracted quantum entropy"},
    {NULL, NULL, NULL, NULL},
};

/*
 * Provider dispatch
 */

static OSSL_FUNC_provider_query_operation_fn prov_query;
static OSSL_FUNC_provider_teardown_fn prov_teardown;
static OSSL_FUNC_provider_gettable_params_fn prov_gettable_params;
static OSSL_FUNC_provider_get_params_fn prov_get_params;

static const OSSL_ALGORITHM *
prov_query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    return operation_id == OSSL_OP_RAND ? seed_algorithms : NULL;
}

static void
prov_teardown(void *provctx)
{
    qt_seed_src_prov_free(provctx);
}

static const OSSL_PARAM *
prov_gettable_params(void *provctx)
{
    static const OSSL_PARAM known[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_CALLS, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_BYTES, NULL),
        OSSL_PARAM_uint64(QT_SEED_PARAM_FAILURES, NULL),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return known;
}

static int
prov_get_params(void *provctx, OSSL_PARAM params[])
{
    struct qt_seed_prov *sp = provctx;
    struct qt_seed_counters c;
    OSSL_PARAM *p;

    qt_seed_src_counters(sp, &c);
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "qtoken QRNG seed provider")) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, QT_DRBG_VERSION)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "qtoken " QT_DRBG_VERSION)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1)) {
        return 0;
    }
    return counter_params(params, &c);
}

static const OSSL_DISPATCH prov_functions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))prov_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params},
    {0, NULL},
};

int
qt_seed_src_provider_setup(struct qt_seed_prov *sp, const char *name,
                           const OSSL_DISPATCH **out)
{
    size_t n = strlen(name);

    if (n >= sizeof(sp->name)) {
        n = sizeof(sp->name) - 1;
    }
    memcpy(sp->name, name, n);
    sp->name[n] = '\0';
    *out = prov_functions;
    return 1;
}
