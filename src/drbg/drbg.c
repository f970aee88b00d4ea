/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token's DRBG: a private OSSL_LIB_CTX whose random chain is seeded by
 * the QRNG only.  This file owns the libctx set-up, the generate/reseed/mix
 * paths and the full-entropy mode.
 *
 * Theory of operation
 *
 * qt_drbg_new adds an in-library provider ("qtoken-seed", seed_src.c) to a
 * fresh OSSL_LIB_CTX, loads it and the default provider, and names
 * QRNG-SEED as the libctx's seed source and CTR-DRBG (AES-256-CTR, derivation
 * function) as its DRBG type (RAND_set_seed_source_type, RAND_set_DRBG_type).
 * It then creates the primary DRBG and checks that its instantiation really
 * pulled from QRNG-SEED (the seed counters moved): the libctx never runs on
 * OS entropy.  The default OSSL_LIB_CTX of the host process is not touched.
 *
 *   QRNG-SEED --seed--> primary CTR-DRBG --seed--> public / private DRBGs
 *       |                (reseeds with prediction   (per thread: RAND_bytes_ex,
 *       |                 resistance cascade here)   keygen in this libctx)
 *       +--seed--> full-entropy CTR-DRBG (qt_drbg_generate in full mode only)
 *
 * Additional input, credited zero: a per-drbg counter, pid, tid, time, and
 * (conf mix_os_entropy) 32 bytes of getrandom().  Every reseed of the
 * primary we issue (periodic, prediction resistance, fork) and every
 * full-entropy request carries it; ordinary generate calls carry it when
 * due: the first of every QT_DRBG_MIX_CALLS calls of the drbg, or the first
 * after QT_DRBG_MIX_MS since the last mix, and otherwise none (so a short
 * request costs no syscall and no derivation-function pass over ~100
 * bytes).  Uniqueness per call and per process is not needed from it:
 * the DRBG state advances on every call, and a forked child reseeds before
 * its first output (see Fork safety).  Mixing is not crediting: the only
 * entropy OpenSSL counts is what QRNG-SEED hands it.
 *
 * Prediction resistance.  qt_drbg_generate(pr=1) asks the thread's public
 * DRBG for prediction resistance: it reseeds from the primary, which itself
 * reseeds from QRNG-SEED first, so every request starts from fresh QRNG
 * entropy (256 bits).  "Fresh" means read from the device during the
 * request: the pull is marked (qt_seed_src_thread_fresh) and the pipeline
 * discards its buffered output and extracts the seed from new samples only
 * (qt_ent_pipeline_get_fresh: >= params.fresh_samples, gated by the
 * continuous health tests, judged by the estimator with the window they
 * join), so a device that died since the last read fails the request
 * (QT_E_HEALTH or the device error) rather than being served from samples
 * read before it began.  OpenSSL serves at most 64 KiB per generate call; a
 * longer request is split and only its first part carries the flag (one
 * fresh seed per request, as SP 800-90A defines prediction resistance).
 * qt_drbg_reseed reseeds the primary the same way (one fresh draw); the
 * public and private
 * DRBGs of every thread notice the primary's new reseed counter and reseed
 * before their next output.
 *
 * Periodic reseed.  OpenSSL reseeds the primary rarely (after 2^8 child
 * reseeds or an hour); qt_drbg_generate reseeds it (fresh draw) when the
 * last reseed is older than QT_DRBG_RESEED_MS (10 s), so output keeps being
 * backed by a device that answered recently and a dead device makes even
 * ordinary requests fail within that time.
 *
 * Full-entropy mode (conf full_entropy, or force_full), after SP 800-90C
 * RBG3(RS): a separate CTR-DRBG (AES-256, strength 256) whose parent is its
 * own QRNG-SEED ctx.  The output is produced in blocks of at most
 * QT_DRBG_FULL_BLOCK = 24 bytes (192 bits); each block is one generate call
 * with prediction resistance, so OpenSSL reseeds the DRBG with 256 fresh bits
 * of QRNG entropy (32 bytes of extractor output, credited 8 bits per byte)
 * immediately before it: >= block length + 64 bits.  After each block the
 * seed ctx's own byte counter is checked; a block not backed that way is
 * wiped and the call fails (QT_E_INTERNAL).  So every output bit is backed by
 * a fresh QRNG bit, plus 64 bits of margin per block.  The DRBG chain is used
 * as the RBG3(RS) construction uses it: as the mechanism that turns fresh
 * full-entropy input into output; its 256-bit strength bounds the work
 * factor per block, which the 192-bit block stays below.
 *
 * Fork safety.  OpenSSL's DRBGs reseed when they see a new pid; on top of
 * that qt_drbg_generate compares getpid() with the pid it last ran in
 * whenever a fork(2) happened since its last check (pthread_atfork counter,
 * so the common call makes no syscall) and, in a child, reseeds the primary
 * with prediction resistance before any output (the pipeline re-opens the
 * device in the child); that reseed's additional input carries the pid.
 * A child therefore never emits the parent's stream.
 *
 * Fail closed.  When QRNG-SEED cannot deliver, OpenSSL's DRBG refuses to
 * generate; qt_drbg_generate then wipes the caller's buffer and returns the
 * pipeline's error (QT_E_HEALTH or the device error).  It also refuses while
 * the pipeline is in its error state (after one recovery attempt through a
 * prediction-resistance reseed), even though the DRBG could still run on its
 * old seed.
 */
#include "drbg.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"
#include "../common/log.h"
#include "../common/mem.h"
#include "../common/osrand.h"
#include "../entropy/ent.h"
#include "seed_src.h"

#define BUILTIN_NAME "qtoken-seed"
#define DRBG_STRENGTH 256
/* OpenSSL's CTR-DRBG serves at most 2^16 bytes per generate call. */
#define GENERATE_CHUNK ((size_t)1 << 16)
/* Personalisation string of the full-entropy DRBG (not secret). */
#define FULL_PERS "qtoken full-entropy RBG3(RS)"

struct qt_drbg {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *seed_prov;
    OSSL_PROVIDER *default_prov;
    struct qt_seed_prov *sp;      /* owned by seed_prov: its teardown frees it */
    struct qt_ent_pipeline *pipe; /* borrowed */
    int mix_os;
    int full_entropy;
    pthread_mutex_t full_lock;    /* guards the full-entropy chain */
    EVP_RAND_CTX *full_seed;      /* QRNG-SEED ctx of the full-entropy chain */
    EVP_RAND_CTX *full_drbg;      /* CTR-DRBG on top of full_seed */
    atomic_int pid;               /* process that last generated */
    atomic_uint fork_gen_seen;    /* fork_gen when pid was last compared */
    atomic_int_fast64_t seeded_ms; /* monotonic time of the last primary reseed */
    atomic_uint_fast64_t addin_counter;
    atomic_uint_fast64_t gen_calls;   /* ordinary generate calls (mixing schedule) */
    atomic_int_fast64_t mixed_ms;     /* monotonic time of the last mixed generate */
    atomic_uint_fast64_t full_blocks;
    atomic_uint_fast64_t full_seed_bytes;
    atomic_uint_fast64_t bytes_out;
};

/* Additional input of every request we issue: distinct per call and per
 * process; OS bytes optional.  Credited zero. */
struct addin {
    char tag[8];
    uint64_t counter;
    int64_t pid;
    int64_t tid;
    struct timespec mono;
    struct timespec real;
    uint8_t os[32];
};

/* The provider context handed to the builtin provider's init, which OpenSSL
 * calls synchronously inside OSSL_PROVIDER_load on this thread. */
static _Thread_local struct qt_seed_prov *pending_sp;

static int
builtin_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
             void **provctx)
{
    struct qt_seed_prov *sp = pending_sp;

    (void)handle;
    (void)in;
    /* Only qt_drbg_new may load this provider: it has no pipeline otherwise. */
    if (sp == NULL) {
        return 0;
    }
    pending_sp = NULL;
    *provctx = sp;
    return qt_seed_src_provider_setup(sp, BUILTIN_NAME, out);
}

/* Logs the newest OpenSSL error of this thread (the caller pops the mark). */
static void
log_ossl(enum qt_log_level level, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256];

    if (e == 0) {
        qt_log(level, "drbg: %s failed", what);
        return;
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    qt_log(level, "drbg: %s failed: %s", what, buf);
}

static int current_pid(struct qt_drbg *d);
static pid_t current_tid(void);

static void
build_addin(struct qt_drbg *d, struct addin *a)
{
    static atomic_int warned;

    memset(a, 0, sizeof(*a));
    memcpy(a->tag, "qtoken", 6);
    a->counter = atomic_fetch_add(&d->addin_counter, 1);
    a->pid = (int64_t)current_pid(d);
    a->tid = (int64_t)current_tid();
    (void)clock_gettime(CLOCK_MONOTONIC, &a->mono);
    (void)clock_gettime(CLOCK_REALTIME, &a->real);
    if (!d->mix_os) {
        return;
    }
    if (qt_os_random(a->os, sizeof(a->os)) != QT_OK &&
        atomic_exchange(&warned, 1) == 0) {
        /* Credited zero anyway: losing it costs no assessed entropy. */
        qt_log(QT_LOG_WARN, "drbg: getrandom failed; OS entropy not mixed in");
    }
}

/* The error to report after OpenSSL refused: the pipeline's, if it failed
 * since `failures_before`, else a crypto error. */
static qt_rc
failure_rc(struct qt_drbg *d, uint64_t failures_before)
{
    struct qt_seed_counters c;
    struct qt_ent_failure f;

    qt_seed_src_counters(d->sp, &c);
    if (c.failures == failures_before) {
        return QT_E_CRYPTO;
    }
    qt_ent_pipeline_last_failure(d->pipe, &f);
    return f.rc != QT_OK ? f.rc : QT_E_HEALTH;
}

static uint64_t
seed_failures(struct qt_drbg *d)
{
    struct qt_seed_counters c;

    qt_seed_src_counters(d->sp, &c);
    return c.failures;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Additional input due on this ordinary generate call (see the schedule in
 * the theory of operation); now: monotonic ms. */
static int
mix_due(struct qt_drbg *d, int64_t now)
{
    uint64_t k = atomic_fetch_add_explicit(&d->gen_calls, 1, memory_order_relaxed);

    if (k % QT_DRBG_MIX_CALLS == 0 || now - atomic_load(&d->mixed_ms) >= QT_DRBG_MIX_MS) {
        atomic_store(&d->mixed_ms, now);
        return 1;
    }
    return 0;
}

/* Counts fork(2)s in this process image (pthread_atfork child handler,
 * unregistered by glibc if the module is unloaded): check_fork compares
 * getpid() only when it moved.  A child made without fork(2) (raw clone) is
 * still caught by OpenSSL's own per-generate fork check and the pipeline's
 * pid check, which reseed from the QRNG in the child. */
static atomic_uint fork_gen;
static atomic_int fork_hooked; /* the handler is registered */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void
register_fork_handler(void)
{
    if (pthread_atfork(NULL, NULL, on_fork_child) != 0) {
        /* check_fork then compares getpid() on every call */
        qt_log(QT_LOG_WARN, "drbg: pthread_atfork failed; checking the pid on every call");
        return;
    }
    atomic_store(&fork_hooked, 1);
}

/* This process's pid without a system call: the pid check_fork (or a
 * reseed) recorded, while no fork(2) happened since; getpid() otherwise. */
static int
current_pid(struct qt_drbg *d)
{
    /* check_fork stores pid before fork_gen_seen: a matching generation
     * means the pid loaded after it is this process's */
    if (atomic_load(&fork_hooked) && atomic_load(&fork_gen) == atomic_load(&d->fork_gen_seen)) {
        return atomic_load(&d->pid);
    }
    return (int)getpid();
}

/* This thread's id, asked once per thread and fork generation (a forked
 * child's thread has a new id). */
static pid_t
current_tid(void)
{
    static _Thread_local pid_t tid;
    static _Thread_local unsigned tid_gen;
    unsigned gen = atomic_load(&fork_gen);

    if (tid == 0 || tid_gen != gen || !atomic_load(&fork_hooked)) {
        tid = gettid();
        tid_gen = gen;
    }
    return tid;
}

/* Reseeds the primary with prediction resistance (fresh QRNG entropy). */
static qt_rc
reseed_primary(struct qt_drbg *d)
{
    EVP_RAND_CTX *primary = RAND_get0_primary(d->libctx);
    uint64_t before = seed_failures(d);
    struct addin a;
    int ok;

    if (primary == NULL) {
        return failure_rc(d, before);
    }
    build_addin(d, &a);
    qt_seed_src_thread_fresh(1);
    ok = EVP_RAND_reseed(primary, 1, NULL, 0, (const unsigned char *)&a, sizeof(a));
    qt_seed_src_thread_fresh(0);
    qt_wipe(&a, sizeof(a));
    if (!ok) {
        log_ossl(QT_LOG_INFO, "reseed");
        return failure_rc(d, before);
    }
    atomic_store(&d->seeded_ms, now_ms());
    return QT_OK;
}

/* Periodic reseed: a primary not reseeded for QT_DRBG_RESEED_MS is reseeded
 * (from a fresh draw) before the next output, so a device that died is
 * noticed within that time by ordinary requests too, however few seeds
 * OpenSSL's own reseed intervals would ask for. */
static qt_rc
check_age(struct qt_drbg *d, int64_t now)
{
    if (now - atomic_load(&d->seeded_ms) <= QT_DRBG_RESEED_MS) {
        return QT_OK;
    }
    return reseed_primary(d);
}

/* Refuses output while the pipeline is in error, after giving it one chance
 * to recover through a reseed (its retry policy decides). */
static qt_rc
check_source(struct qt_drbg *d)
{
    if (qt_ent_pipeline_ready(d->pipe)) {
        return QT_OK;
    }
    return reseed_primary(d);
}

/* In a forked child: fresh QRNG entropy before the first output. */
static qt_rc
check_fork(struct qt_drbg *d)
{
    unsigned gen = atomic_load(&fork_gen);
    int now;

    /* No fork(2) since the last check: no syscall on the per-call path */
    if (gen == atomic_load(&d->fork_gen_seen) && atomic_load(&fork_hooked)) {
        return QT_OK;
    }
    now = (int)getpid();
    if (now != atomic_load(&d->pid)) {
        QT_TRY(reseed_primary(d));
        atomic_store(&d->pid, now);
    }
    atomic_store(&d->fork_gen_seen, gen);
    return QT_OK;
}

static qt_rc
generate_chain(struct qt_drbg *d, uint8_t *out, size_t n, int pr, int64_t now)
{
    EVP_RAND_CTX *pub = RAND_get0_public(d->libctx);
    uint64_t before = seed_failures(d);
    struct addin a;
    size_t off, len;
    int ok, mix;

    if (pub == NULL) {
        log_ossl(QT_LOG_INFO, "public DRBG");
        return failure_rc(d, before);
    }
    for (off = 0; off < n; off += len) {
        len = n - off < GENERATE_CHUNK ? n - off : GENERATE_CHUNK;
        /* Additional input on schedule (prediction-resistant requests
         * always: their cost is the device read anyway) */
        mix = (pr && off == 0) || mix_due(d, now);
        if (mix) {
            build_addin(d, &a);
        }
        /* Prediction resistance: the request starts from fresh QRNG entropy
         * (its first <= 64 KiB part is a prediction-resistant generate). */
        qt_seed_src_thread_fresh(pr && off == 0);
        ok = EVP_RAND_generate(pub, out + off, len, DRBG_STRENGTH, pr && off == 0,
                               mix ? (const unsigned char *)&a : NULL, mix ? sizeof(a) : 0);
        qt_seed_src_thread_fresh(0);
        if (mix) {
            qt_wipe(&a, sizeof(a));
        }
        if (!ok) {
            log_ossl(QT_LOG_INFO, "generate");
            return failure_rc(d, before);
        }
    }
    return QT_OK;
}

static int
ctx_seed_bytes(EVP_RAND_CTX *seed, uint64_t *bytes)
{
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_uint64(QT_SEED_PARAM_BYTES, bytes);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_RAND_CTX_get_params(seed, params);
}

/* Creates the full-entropy chain; caller holds full_lock. */
static qt_rc
full_chain_inlock(struct qt_drbg *d)
{
    EVP_RAND *seed_alg = NULL;
    EVP_RAND *ctr_alg = NULL;
    OSSL_PARAM params[2];
    uint64_t before = seed_failures(d);
    qt_rc rc = QT_E_CRYPTO;

    if (d->full_drbg != NULL) {
        return QT_OK;
    }
    seed_alg = EVP_RAND_fetch(d->libctx, QT_SEED_SRC_NAME, NULL);
    ctr_alg = EVP_RAND_fetch(d->libctx, "CTR-DRBG", NULL);
    if (seed_alg == NULL || ctr_alg == NULL) {
        log_ossl(QT_LOG_ERROR, "fetch for the full-entropy chain");
        goto out;
    }
    d->full_seed = EVP_RAND_CTX_new(seed_alg, NULL);
    if (d->full_seed == NULL || !EVP_RAND_instantiate(d->full_seed, 0, 0, NULL, 0, NULL)) {
        log_ossl(QT_LOG_ERROR, "full-entropy seed source");
        goto out;
    }
    d->full_drbg = EVP_RAND_CTX_new(ctr_alg, d->full_seed);
    if (d->full_drbg == NULL) {
        log_ossl(QT_LOG_ERROR, "full-entropy DRBG");
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER, "AES-256-CTR", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_RAND_instantiate(d->full_drbg, DRBG_STRENGTH, 1, (const unsigned char *)FULL_PERS,
                              sizeof(FULL_PERS) - 1, params)) {
        log_ossl(QT_LOG_INFO, "full-entropy DRBG instantiate");
        rc = failure_rc(d, before);
        goto out;
    }
    rc = QT_OK;
out:
    if (rc != QT_OK) {
        EVP_RAND_CTX_free(d->full_drbg);
        EVP_RAND_CTX_free(d->full_seed);
        d->full_drbg = NULL;
        d->full_seed = NULL;
    }
    EVP_RAND_free(ctr_alg);
    EVP_RAND_free(seed_alg);
    return rc;
}

static qt_rc
generate_full(struct qt_drbg *d, uint8_t *out, size_t n)
{
    uint64_t before_fail = seed_failures(d);
    uint64_t s0, s1;
    struct addin a;
    size_t off, len;
    qt_rc rc;
    int ok;

    if (pthread_mutex_lock(&d->full_lock) != 0) {
        return QT_E_INTERNAL;
    }
    if ((rc = full_chain_inlock(d)) != QT_OK) {
        goto out;
    }
    /* One additional input per request (OS bytes once); the counter makes
     * each block's distinct. */
    build_addin(d, &a);
    for (off = 0; off < n; off += len) {
        len = n - off < QT_DRBG_FULL_BLOCK ? n - off : QT_DRBG_FULL_BLOCK;
        if (!ctx_seed_bytes(d->full_seed, &s0)) {
            rc = QT_E_CRYPTO;
            goto out;
        }
        a.counter++;
        /* Prediction resistance: OpenSSL reseeds from full_seed first. */
        ok = EVP_RAND_generate(d->full_drbg, out + off, len, DRBG_STRENGTH, 1,
                               (const unsigned char *)&a, sizeof(a));
        if (!ok) {
            log_ossl(QT_LOG_INFO, "full-entropy generate");
            rc = failure_rc(d, before_fail);
            goto out;
        }
        if (!ctx_seed_bytes(d->full_seed, &s1)) {
            rc = QT_E_CRYPTO;
            goto out;
        }
        /* The RBG3(RS) rule, checked rather than assumed. */
        if ((s1 - s0) * 8 < (uint64_t)len * 8 + 64) {
            qt_log(QT_LOG_ERROR, "drbg: full-entropy block of %zu bytes backed by %llu seed bytes",
                   len, (unsigned long long)(s1 - s0));
            rc = QT_E_INTERNAL;
            goto out;
        }
        atomic_fetch_add(&d->full_blocks, 1);
        atomic_fetch_add(&d->full_seed_bytes, (uint_fast64_t)(s1 - s0));
    }
    rc = QT_OK;
out:
    qt_wipe(&a, sizeof(a));
    (void)pthread_mutex_unlock(&d->full_lock);
    return rc;
}

qt_rc
qt_drbg_new(struct qt_ent_pipeline *p, const struct qt_conf *conf, struct qt_drbg **out)
{
    struct qt_drbg *d = NULL;
    struct qt_seed_prov *leftover;
    struct qt_seed_counters c;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE_REF(p);
    QT_ENSURE_REF(conf);
    QT_ENSURE_REF(out);
    *out = NULL;

    ERR_set_mark();
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if (pthread_mutex_init(&d->full_lock, NULL) != 0) {
        free(d);
        d = NULL;
        rc = QT_E_NOMEM;
        goto out;
    }
    d->pipe = p;
    d->mix_os = conf->mix_os_entropy;
    d->full_entropy = conf->full_entropy;
    (void)pthread_once(&fork_once, register_fork_handler);
    atomic_init(&d->pid, (int)getpid());
    /* one past the count: the first call compares the pid */
    atomic_init(&d->fork_gen_seen, atomic_load(&fork_gen) - 1u);
    atomic_init(&d->seeded_ms, now_ms());
    atomic_init(&d->addin_counter, 0);
    atomic_init(&d->gen_calls, 0);
    atomic_init(&d->mixed_ms, now_ms());
    atomic_init(&d->full_blocks, 0);
    atomic_init(&d->full_seed_bytes, 0);
    atomic_init(&d->bytes_out, 0);

    d->libctx = OSSL_LIB_CTX_new();
    d->sp = qt_seed_src_prov_new(p);
    if (d->libctx == NULL || d->sp == NULL) {
        qt_seed_src_prov_free(d->sp);
        d->sp = NULL;
        rc = QT_E_NOMEM;
        goto out;
    }
    if (!OSSL_PROVIDER_add_builtin(d->libctx, BUILTIN_NAME, builtin_init)) {
        qt_seed_src_prov_free(d->sp);
        d->sp = NULL;
        log_ossl(QT_LOG_ERROR, "add seed provider");
        goto out;
    }
    pending_sp = d->sp;
    d->seed_prov = OSSL_PROVIDER_load(d->libctx, BUILTIN_NAME);
    leftover = pending_sp;
    pending_sp = NULL;
    if (d->seed_prov == NULL) {
        /* init never ran: the provider context is still ours to free. */
        qt_seed_src_prov_free(leftover);
        d->sp = NULL;
        log_ossl(QT_LOG_ERROR, "load seed provider");
        goto out;
    }
    d->default_prov = OSSL_PROVIDER_load(d->libctx, "default");
    if (d->default_prov == NULL) {
        log_ossl(QT_LOG_ERROR, "load default provider");
        goto out;
    }
    if (!RAND_set_seed_source_type(d->libctx, QT_SEED_SRC_NAME, NULL) ||
        !RAND_set_DRBG_type(d->libctx, "CTR-DRBG", NULL, "AES-256-CTR", NULL)) {
        log_ossl(QT_LOG_ERROR, "configure DRBG chain");
        goto out;
    }
    /* Instantiates the primary: its seed must come from QRNG-SEED. */
    if (RAND_get0_primary(d->libctx) == NULL) {
        log_ossl(QT_LOG_INFO, "primary DRBG");
        rc = failure_rc(d, 0);
        goto out;
    }
    qt_seed_src_counters(d->sp, &c);
    if (c.calls == 0) {
        qt_log(QT_LOG_ERROR, "drbg: primary DRBG was not seeded by %s", QT_SEED_SRC_NAME);
        rc = QT_E_INTERNAL;
        goto out;
    }
    *out = d;
    d = NULL;
    rc = QT_OK;
out:
    ERR_pop_to_mark();
    qt_drbg_free(d);
    return rc;
}

OSSL_LIB_CTX *
qt_drbg_libctx(struct qt_drbg *d)
{
    return d != NULL ? d->libctx : NULL;
}

qt_rc
qt_drbg_generate(struct qt_drbg *d, uint8_t *out, size_t n, int prediction_resistance,
                 int force_full)
{
    int64_t now;
    qt_rc rc;

    QT_ENSURE_REF(d);
    QT_ENSURE(out != NULL || n == 0, QT_E_ARG);
    if (n == 0) {
        return QT_OK;
    }
    ERR_set_mark();
    if ((rc = check_fork(d)) != QT_OK) {
        goto out;
    }
    now = now_ms();
    if ((rc = check_source(d)) != QT_OK || (rc = check_age(d, now)) != QT_OK) {
        goto out;
    }
    if (force_full || d->full_entropy) {
        rc = generate_full(d, out, n);
    } else {
        rc = generate_chain(d, out, n, prediction_resistance != 0, now);
    }
out:
    ERR_pop_to_mark();
    if (rc != QT_OK) {
        qt_wipe(out, n);
        return rc;
    }
    atomic_fetch_add(&d->bytes_out, (uint_fast64_t)n);
    qt_ent_pipeline_note_served(d->pipe, (uint64_t)n * 8);
    return QT_OK;
}

qt_rc
qt_drbg_reseed(struct qt_drbg *d)
{
    qt_rc rc;

    QT_ENSURE_REF(d);
    ERR_set_mark();
    rc = reseed_primary(d);
    ERR_pop_to_mark();
    if (rc == QT_OK) {
        /* In a forked child this reseed is also the fork reseed (its
         * additional input carries the child's pid): record it as
         * check_fork would.  Without a fork since, nothing to record. */
        unsigned gen = atomic_load(&fork_gen);

        if (gen != atomic_load(&d->fork_gen_seen) || !atomic_load(&fork_hooked)) {
            atomic_store(&d->pid, (int)getpid());
            atomic_store(&d->fork_gen_seen, gen);
        }
    }
    return rc;
}

uint64_t
qt_drbg_thread_seed_bytes(void)
{
    return qt_seed_src_thread_bytes();
}

qt_rc
qt_drbg_mix(struct qt_drbg *d, const uint8_t *in, size_t n)
{
    EVP_RAND_CTX *primary;
    uint64_t before;
    size_t off, len;
    qt_rc rc = QT_OK;

    QT_ENSURE_REF(d);
    QT_ENSURE(in != NULL || n == 0, QT_E_ARG);
    ERR_set_mark();
    before = seed_failures(d);
    primary = RAND_get0_primary(d->libctx);
    if (primary == NULL) {
        rc = failure_rc(d, before);
        goto out;
    }
    /* Reseed with the caller's bytes as additional input: mixed, credited
     * zero; the reseed's entropy comes from QRNG-SEED as always. */
    for (off = 0; off < n; off += len) {
        len = n - off < GENERATE_CHUNK ? n - off : GENERATE_CHUNK;
        if (!EVP_RAND_reseed(primary, 0, NULL, 0, in + off, len)) {
            log_ossl(QT_LOG_INFO, "mix");
            rc = failure_rc(d, before);
            goto out;
        }
    }
out:
    ERR_pop_to_mark();
    return rc;
}

uint64_t
qt_drbg_reseed_count(struct qt_drbg *d)
{
    struct qt_seed_counters c;

    if (d == NULL) {
        return 0;
    }
    qt_seed_src_counters(d->sp, &c);
    return c.calls;
}

void
qt_drbg_counters(struct qt_drbg *d, struct qt_drbg_counters *out)
{
    struct qt_seed_counters c;

    memset(out, 0, sizeof(*out));
    if (d == NULL) {
        return;
    }
    qt_seed_src_counters(d->sp, &c);
    out->seed_calls = c.calls;
    out->seed_bytes = c.bytes;
    out->seed_failures = c.failures;
    out->full_blocks = atomic_load(&d->full_blocks);
    out->full_seed_bytes = atomic_load(&d->full_seed_bytes);
    out->bytes_out = atomic_load(&d->bytes_out);
}

void
qt_drbg_free(struct qt_drbg *d)
{
    if (d == NULL) {
        return;
    }
    EVP_RAND_CTX_free(d->full_drbg);
    EVP_RAND_CTX_free(d->full_seed);
    if (d->default_prov != NULL) {
        (void)OSSL_PROVIDER_unload(d->default_prov);
    }
    if (d->seed_prov != NULL) {
        (void)OSSL_PROVIDER_unload(d->seed_prov);
    }
    /* Frees the DRBG chain and tears the seed provider down (frees d->sp). */
    OSSL_LIB_CTX_free(d->libctx);
    (void)pthread_mutex_destroy(&d->full_lock);
    qt_wipe(d, sizeof(*d));
    free(d);
}
