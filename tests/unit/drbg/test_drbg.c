/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/drbg: the QRNG-SEED seed source really feeds the private
 * libctx's DRBGs, failures propagate (no output, no fallback), prediction
 * resistance and full-entropy accounting, fork safety, libctx isolation.
 * Every test uses the real entropy pipeline over the sim device, with a
 * private QTOKEN_STORE.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../src/common/conf.h"
#include "../../../src/drbg/drbg.h"
#include "../../../src/drbg/seed_src.h"
#include "../../../src/entropy/ent.h"

static char store[64];
static struct qt_conf conf;
static struct qt_ent_pipeline *pipe_;
static struct qt_drbg *drbg;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    char err[256];

    (void)snprintf(store, sizeof(store), "/tmp/qt-drbg-XXXXXX");
    cr_assert_not_null(mkdtemp(store));
    setenv("QTOKEN_STORE", store, 1);
    unsetenv("QTOKEN_CONF");
    unsetenv("QTOKEN_DEVICE");
    cr_assert_eq(qt_conf_load(&conf, err, sizeof(err)), QT_OK, "%s", err);
}

static void
teardown(void)
{
    qt_drbg_free(drbg);
    drbg = NULL;
    qt_ent_pipeline_free(pipe_);
    pipe_ = NULL;
    (void)nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
open_both(const char *spec)
{
    cr_assert_eq(qt_ent_pipeline_new(spec, &conf, &pipe_), QT_OK, "pipeline %s", spec);
    cr_assert_eq(qt_drbg_new(pipe_, &conf, &drbg), QT_OK);
}

static int
all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

TestSuite(drbg, .init = setup, .fini = teardown);

Test(drbg, seed_source_pulls_from_the_pipeline)
{
    struct qt_drbg_counters c0, c1;
    struct qt_ent_stats s0, s1;
    uint8_t buf[64];

    open_both("sim:seed=1");
    qt_drbg_counters(drbg, &c0);
    /* The primary's instantiation was seeded by QRNG-SEED. */
    cr_assert_geq(c0.seed_calls, 1);
    cr_assert_geq(c0.seed_bytes, 32);
    cr_assert_eq(qt_drbg_reseed_count(drbg), c0.seed_calls);
    qt_ent_pipeline_stats(pipe_, &s0);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 1, 0), QT_OK);
    qt_drbg_counters(drbg, &c1);
    qt_ent_pipeline_stats(pipe_, &s1);
    cr_assert_gt(c1.seed_calls, c0.seed_calls, "prediction resistance pulled a seed");
    cr_assert_geq(c1.seed_bytes - c0.seed_bytes, 32);
    cr_assert_geq(s1.reseeds, s0.reseeds + 1, "reseed noted in the pipeline stats");
    cr_assert_geq(s1.bits_served, s0.bits_served + 8 * sizeof(buf));
    cr_assert_eq(c1.bytes_out, c0.bytes_out + sizeof(buf));
    cr_assert_not(all_zero(buf, sizeof(buf)));
}

Test(drbg, without_prediction_resistance_no_new_seed)
{
    struct qt_drbg_counters c0, c1;
    uint8_t buf[256];

    open_both("sim:seed=2");
    /* The first request instantiates this thread's public DRBG from the primary. */
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    qt_drbg_counters(drbg, &c0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    }
    qt_drbg_counters(drbg, &c1);
    cr_assert_eq(c1.seed_calls, c0.seed_calls);
    cr_assert_eq(qt_drbg_reseed(drbg), QT_OK);
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(c0.seed_calls, c1.seed_calls + 1, "qt_drbg_reseed pulls one seed");
}

Test(drbg, outputs_differ_between_calls_and_instances)
{
    struct qt_ent_pipeline *p2 = NULL;
    struct qt_drbg *d2 = NULL;
    uint8_t a[32], b[32], c[32];

    /* Same device seed twice: the DRBG output still differs (additional input,
     * nonce from distinct entropy windows is not assumed: compare calls). */
    open_both("sim:seed=3");
    cr_assert_eq(qt_drbg_generate(drbg, a, sizeof(a), 0, 0), QT_OK);
    cr_assert_eq(qt_drbg_generate(drbg, b, sizeof(b), 0, 0), QT_OK);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    cr_assert_eq(qt_ent_pipeline_new("sim", &conf, &p2), QT_OK);
    cr_assert_eq(qt_drbg_new(p2, &conf, &d2), QT_OK);
    cr_assert_eq(qt_drbg_generate(d2, c, sizeof(c), 0, 0), QT_OK);
    cr_assert_neq(memcmp(a, c, sizeof(a)), 0);
    qt_drbg_free(d2);
    qt_ent_pipeline_free(p2);
}

/* A device that fails: either the DRBG cannot be instantiated, or a later
 * prediction-resistant request fails; never output after the failure. */
Test(drbg, failure_propagates_and_no_output)
{
    struct qt_drbg_counters c;
    uint8_t buf[4096];
    qt_rc rc = QT_OK;
    int i;

    cr_assert_eq(qt_ent_pipeline_new("sim:seed=1,fault=read-error@200000", &conf, &pipe_), QT_OK);
    rc = qt_drbg_new(pipe_, &conf, &drbg);
    /* Each prediction-resistant request reads a fresh window: the fault,
     * well past the start-up window, is reached within a few requests. */
    for (i = 0; rc == QT_OK && i < 30000; i++) {
        memset(buf, 0xA5, 256);
        rc = qt_drbg_generate(drbg, buf, 256, 1, 0);
    }
    cr_assert_neq(rc, QT_OK, "the read error reached the DRBG");
    cr_assert(rc == QT_E_HEALTH || rc == QT_E_IO || rc == QT_E_DEVICE || rc == QT_E_TIMEOUT,
              "rc %d (%s)", rc, qt_rc_str(rc));
    if (drbg == NULL) {
        return; /* failed at instantiation: nothing to generate from */
    }
    cr_assert(all_zero(buf, 256), "the failed request's buffer is wiped");
    qt_drbg_counters(drbg, &c);
    cr_assert_geq(c.seed_failures, 1);
    /* Sticky: no output with or without prediction resistance, nor in full mode. */
    memset(buf, 0xA5, sizeof(buf));
    cr_assert_neq(qt_drbg_generate(drbg, buf, 64, 0, 0), QT_OK);
    cr_assert(all_zero(buf, 64));
    memset(buf, 0xA5, sizeof(buf));
    cr_assert_neq(qt_drbg_generate(drbg, buf, 64, 0, 1), QT_OK);
    cr_assert(all_zero(buf, 64));
    cr_assert_neq(qt_drbg_reseed(drbg), QT_OK);
}

static uint64_t
raw_samples(void)
{
    struct qt_ent_stats st;

    qt_ent_pipeline_stats(pipe_, &st);
    return st.raw_samples;
}

/* Samples a fresh (prediction-resistance) draw of one seed reads. */
static uint64_t
fresh_samples(const struct qt_ent_params *pa)
{
    return pa->fresh_samples;
}

/* qt_drbg_reseed (pkcs11 key generation) and prediction-resistant requests
 * draw from samples read during the call; ordinary requests do not read. */
Test(drbg, prediction_resistance_reads_fresh_samples)
{
    struct qt_ent_params pa;
    uint8_t buf[64];
    uint64_t r0;

    open_both("sim:seed=1");
    qt_ent_pipeline_params(pipe_, &pa);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    r0 = raw_samples();
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    cr_assert_eq(raw_samples(), r0, "no device read without prediction resistance");
    cr_assert_eq(qt_drbg_reseed(drbg), QT_OK);
    cr_assert_eq(raw_samples(), r0 + fresh_samples(&pa), "qt_drbg_reseed read new samples");
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 1, 0), QT_OK);
    cr_assert_eq(raw_samples(), r0 + 2 * fresh_samples(&pa),
                 "prediction resistance read new samples");
    /* Full-entropy mode uses released output (each bit once): the fresh
     * draws left none, so it reads one window. */
    cr_assert_eq(qt_drbg_generate(drbg, buf, 24, 0, 1), QT_OK);
    cr_assert_eq(raw_samples(), r0 + 2 * fresh_samples(&pa) + pa.window,
                 "full-entropy block served from a window");
}

/* A device dead since the start-up window: the reseed fails with the
 * pipeline's error (so pkcs11 refuses the key) although output read before
 * the death is still buffered. */
Test(drbg, reseed_fails_when_device_died_after_first_window)
{
    static const char *const specs[] = {"sim:seed=1,fault=stuck@66000",
                                        "sim:seed=1,fault=dead@66000"};
    struct qt_ent_opts fast = {.read_timeout_ms = 30};
    struct qt_ent_failure f;
    uint8_t buf[32];
    qt_rc rc;

    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(qt_ent_pipeline_new_ex(specs[i], &conf, &fast, &pipe_, &f), QT_OK);
        cr_assert_eq(qt_drbg_new(pipe_, &conf, &drbg), QT_OK);
        cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
        rc = qt_drbg_reseed(drbg);
        cr_assert(rc == QT_E_HEALTH || rc == QT_E_TIMEOUT, "%s: reseed %s", specs[i],
                  qt_rc_str(rc));
        memset(buf, 0xA5, sizeof(buf));
        cr_assert_neq(qt_drbg_generate(drbg, buf, sizeof(buf), 1, 0), QT_OK);
        cr_assert(all_zero(buf, sizeof(buf)));
        qt_drbg_free(drbg);
        drbg = NULL;
        qt_ent_pipeline_free(pipe_);
        pipe_ = NULL;
    }
}

/* Ordinary requests: once the primary's last reseed is older than
 * QT_DRBG_RESEED_MS it is reseeded from a fresh window, so a device dead
 * since start-up fails them too (one wait of ~10 s for both devices). */
Test(drbg, periodic_reseed_notices_a_dead_device, .timeout = 60)
{
    struct qt_ent_pipeline *p2 = NULL;
    struct qt_drbg *d2 = NULL;
    struct qt_ent_params pa;
    uint8_t buf[64];
    uint64_t r0;

    open_both("sim:seed=1");
    cr_assert_eq(qt_ent_pipeline_new("sim:seed=1,fault=stuck@66000", &conf, &p2), QT_OK);
    cr_assert_eq(qt_drbg_new(p2, &conf, &d2), QT_OK);
    qt_ent_pipeline_params(pipe_, &pa);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    cr_assert_eq(qt_drbg_generate(d2, buf, sizeof(buf), 0, 0), QT_OK);
    r0 = raw_samples();
    (void)usleep((QT_DRBG_RESEED_MS + 300) * 1000);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    cr_assert_eq(raw_samples(), r0 + fresh_samples(&pa), "the periodic reseed read new samples");
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    cr_assert_eq(raw_samples(), r0 + fresh_samples(&pa), "and only once per period");
    memset(buf, 0xA5, sizeof(buf));
    cr_assert_eq(qt_drbg_generate(d2, buf, sizeof(buf), 0, 0), QT_E_HEALTH);
    cr_assert(all_zero(buf, sizeof(buf)));
    qt_drbg_free(d2);
    qt_ent_pipeline_free(p2);
}

Test(drbg, failure_at_instantiation_gives_no_drbg)
{
    struct qt_ent_opts opts = {.defer_startup = 1};
    struct qt_ent_failure f;
    qt_rc rc;

    /* Start-up deferred to the first pull, which is the primary DRBG's
     * instantiation: the read error must make qt_drbg_new fail, not fall
     * back to another seed. */
    cr_assert_eq(qt_ent_pipeline_new_ex("sim:seed=1,fault=read-error@0", &conf, &opts, &pipe_, &f),
                 QT_OK);
    rc = qt_drbg_new(pipe_, &conf, &drbg);
    cr_assert(rc == QT_E_IO || rc == QT_E_DEVICE || rc == QT_E_HEALTH, "rc %s", qt_rc_str(rc));
    cr_assert_null(drbg);
    qt_ent_pipeline_last_failure(pipe_, &f);
    cr_assert_neq(f.test, QT_ENT_TEST_NONE);
}

Test(drbg, full_entropy_reseed_accounting)
{
    struct qt_drbg_counters c0, c1;
    static uint8_t buf[1000];
    uint64_t blocks = (sizeof(buf) + QT_DRBG_FULL_BLOCK - 1) / QT_DRBG_FULL_BLOCK;

    open_both("sim:seed=4");
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 1), QT_OK);
    qt_drbg_counters(drbg, &c1);
    cr_assert_eq(c1.full_blocks - c0.full_blocks, blocks);
    /* Each block preceded by a reseed of >= its length + 64 bits. */
    cr_assert_geq((c1.full_seed_bytes - c0.full_seed_bytes) * 8, sizeof(buf) * 8 + 64 * blocks);
    /* ... and those reseeds are QRNG-SEED pulls (plus the chain's instantiation). */
    cr_assert_geq(c1.seed_calls - c0.seed_calls, blocks);
    cr_assert_geq(c1.seed_bytes - c0.seed_bytes, c1.full_seed_bytes - c0.full_seed_bytes);
    cr_assert_not(all_zero(buf, sizeof(buf)));
}

Test(drbg, full_entropy_from_config)
{
    struct qt_drbg_counters c0, c1;
    uint8_t buf[50];

    conf.full_entropy = 1;
    open_both("sim:seed=5");
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(qt_drbg_generate(drbg, buf, sizeof(buf), 0, 0), QT_OK);
    qt_drbg_counters(drbg, &c1);
    cr_assert_eq(c1.full_blocks - c0.full_blocks, 3); /* 24 + 24 + 2 */
}

Test(drbg, fork_child_never_repeats_parent)
{
    uint8_t mine[64], theirs[64];
    int fds[2];
    pid_t pid;
    int st;

    conf.mix_os_entropy = 0; /* the distinction must not rest on getrandom */
    open_both("sim:seed=6");
    cr_assert_eq(qt_drbg_generate(drbg, mine, 16, 0, 0), QT_OK); /* state in use before fork */
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        uint8_t out[64];
        int ok = qt_drbg_generate(drbg, out, sizeof(out), 0, 0) == QT_OK;
        ssize_t w = ok ? write(fds[1], out, sizeof(out)) : -1;
        _exit(w == (ssize_t)sizeof(out) ? 0 : 1);
    }
    close(fds[1]);
    cr_assert_eq(qt_drbg_generate(drbg, mine, sizeof(mine), 0, 0), QT_OK);
    cr_assert_eq(read(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_neq(memcmp(mine, theirs, sizeof(mine)), 0, "child repeated the parent's bytes");
}

/* Two children of one parent on a fixed-seed sim device (each child
 * re-opens it, so both get the same QRNG samples): their outputs still
 * differ, because the child's reseed of the primary carries the pid as
 * additional input (ordinary generate calls mostly carry none). */
static void
child_output(uint8_t *out, size_t n)
{
    int fds[2];
    pid_t pid;
    int st;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        uint8_t buf[64];
        int ok = n <= sizeof(buf) && qt_drbg_generate(drbg, buf, n, 0, 0) == QT_OK;
        ssize_t w = ok ? write(fds[1], buf, n) : -1;
        _exit(w == (ssize_t)n ? 0 : 1);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], out, n), (ssize_t)n);
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(drbg, fork_siblings_differ)
{
    uint8_t a[64], b[64];

    conf.mix_os_entropy = 0; /* the distinction must not rest on getrandom */
    open_both("sim:seed=8");
    cr_assert_eq(qt_drbg_generate(drbg, a, 16, 0, 0), QT_OK);
    child_output(a, sizeof(a));
    child_output(b, sizeof(b));
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "two children emitted the same bytes");
}

Test(drbg, fork_child_full_entropy_differs)
{
    uint8_t mine[48], theirs[48];
    int fds[2];
    pid_t pid;
    int st;

    conf.mix_os_entropy = 0;
    open_both("sim:seed=7");
    cr_assert_eq(qt_drbg_generate(drbg, mine, 8, 0, 1), QT_OK);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        uint8_t out[48];
        int ok = qt_drbg_generate(drbg, out, sizeof(out), 0, 1) == QT_OK;
        ssize_t w = ok ? write(fds[1], out, sizeof(out)) : -1;
        _exit(w == (ssize_t)sizeof(out) ? 0 : 1);
    }
    close(fds[1]);
    cr_assert_eq(qt_drbg_generate(drbg, mine, sizeof(mine), 0, 1), QT_OK);
    cr_assert_eq(read(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_neq(memcmp(mine, theirs, sizeof(mine)), 0);
}

Test(drbg, libctx_is_isolated_from_the_default)
{
    struct qt_drbg_counters c0, c1;
    OSSL_LIB_CTX *lc;
    EVP_RAND *r;
    uint8_t buf[32];

    open_both("sim:seed=8");
    lc = qt_drbg_libctx(drbg);
    cr_assert_not_null(lc);
    cr_assert_neq((void *)RAND_get0_primary(NULL), (void *)RAND_get0_primary(lc));
    /* QRNG-SEED exists in our libctx only. */
    r = EVP_RAND_fetch(NULL, QT_SEED_SRC_NAME, NULL);
    cr_assert_null(r, "the default libctx must not see QRNG-SEED");
    r = EVP_RAND_fetch(lc, QT_SEED_SRC_NAME, NULL);
    cr_assert_not_null(r);
    EVP_RAND_free(r);
    /* The host's RAND_bytes does not touch our source. */
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(RAND_bytes(buf, sizeof(buf)), 1);
    qt_drbg_counters(drbg, &c1);
    cr_assert_eq(c1.seed_calls, c0.seed_calls);
    /* Our libctx's own RAND serves (its chain is seeded by QRNG-SEED). */
    cr_assert_eq(RAND_bytes_ex(lc, buf, sizeof(buf), 256), 1);
}

static unsigned
reseed_counter(EVP_RAND_CTX *ctx)
{
    OSSL_PARAM params[2];
    unsigned r = 0;

    params[0] = OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, &r);
    params[1] = OSSL_PARAM_construct_end();
    cr_assert_eq(EVP_RAND_CTX_get_params(ctx, params), 1);
    return r;
}

/* Prediction resistance for keygen: after qt_drbg_reseed, the private DRBG
 * that OpenSSL's keygen in our libctx uses reseeds from the freshly reseeded
 * primary before producing the key. */
Test(drbg, keygen_in_libctx_after_reseed)
{
    struct qt_drbg_counters c0, c1;
    OSSL_LIB_CTX *lc;
    EVP_RAND_CTX *priv;
    unsigned r0, r1, p0, p1;
    EVP_PKEY *k;

    open_both("sim:seed=9");
    lc = qt_drbg_libctx(drbg);
    k = EVP_PKEY_Q_keygen(lc, NULL, "EC", "P-256"); /* instantiates this thread's private DRBG */
    cr_assert_not_null(k);
    EVP_PKEY_free(k);
    priv = RAND_get0_private(lc);
    cr_assert_not_null(priv);
    r0 = reseed_counter(priv);
    p0 = reseed_counter(RAND_get0_primary(lc));
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(qt_drbg_reseed(drbg), QT_OK);
    qt_drbg_counters(drbg, &c1);
    cr_assert_eq(c1.seed_calls, c0.seed_calls + 1, "one fresh QRNG seed");
    p1 = reseed_counter(RAND_get0_primary(lc));
    cr_assert_neq(p1, p0, "the primary reseeded");
    k = EVP_PKEY_Q_keygen(lc, NULL, "EC", "P-256");
    cr_assert_not_null(k);
    EVP_PKEY_free(k);
    r1 = reseed_counter(priv);
    cr_assert_neq(r1, r0, "the private DRBG reseeded before the key");
}

Test(drbg, seed_source_ctx_counts_its_own_pulls)
{
    EVP_RAND *r;
    EVP_RAND_CTX *ctx;
    uint64_t calls = 0, bytes = 0;
    OSSL_PARAM params[3];
    uint8_t buf[100];

    open_both("sim:seed=10");
    r = EVP_RAND_fetch(qt_drbg_libctx(drbg), QT_SEED_SRC_NAME, NULL);
    cr_assert_not_null(r);
    ctx = EVP_RAND_CTX_new(r, NULL);
    EVP_RAND_free(r);
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_RAND_instantiate(ctx, 256, 0, NULL, 0, NULL), 1);
    cr_assert_eq(EVP_RAND_generate(ctx, buf, sizeof(buf), 256, 0, NULL, 0), 1);
    cr_assert_eq(EVP_RAND_generate(ctx, buf, 10, 256, 0, NULL, 0), 1);
    params[0] = OSSL_PARAM_construct_uint64(QT_SEED_PARAM_CALLS, &calls);
    params[1] = OSSL_PARAM_construct_uint64(QT_SEED_PARAM_BYTES, &bytes);
    params[2] = OSSL_PARAM_construct_end();
    cr_assert_eq(EVP_RAND_CTX_get_params(ctx, params), 1);
    cr_assert_eq(calls, 2);
    cr_assert_eq(bytes, 110);
    cr_assert_eq(EVP_RAND_get_strength(ctx), 1024);
    EVP_RAND_CTX_free(ctx);
}

Test(drbg, mix_is_accepted_and_changes_nothing_credited)
{
    struct qt_drbg_counters c0, c1;
    uint8_t in[100] = {1, 2, 3};

    open_both("sim:seed=11");
    qt_drbg_counters(drbg, &c0);
    cr_assert_eq(qt_drbg_mix(drbg, in, sizeof(in)), QT_OK);
    cr_assert_eq(qt_drbg_mix(drbg, NULL, 0), QT_OK);
    qt_drbg_counters(drbg, &c1);
    /* A mix is a reseed: its entropy still comes from QRNG-SEED. */
    cr_assert_geq(c1.seed_calls, c0.seed_calls + 1);
}

struct thread_arg {
    struct qt_drbg *d;
    uint8_t out[4][32];
    int ok;
};

static void *
thread_main(void *v)
{
    struct thread_arg *a = v;

    a->ok = 1;
    for (int i = 0; i < 4; i++) {
        if (qt_drbg_generate(a->d, a->out[i], sizeof(a->out[i]), i & 1, i == 3) != QT_OK) {
            a->ok = 0;
        }
    }
    return NULL;
}

Test(drbg, threads_get_distinct_output)
{
    struct thread_arg a[4];
    pthread_t t[4];

    open_both("sim:seed=12");
    for (int i = 0; i < 4; i++) {
        a[i].d = drbg;
        cr_assert_eq(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], NULL), 0);
        cr_assert(a[i].ok);
    }
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++) {
            cr_assert_neq(memcmp(a[i].out[0], a[j].out[0], 32), 0);
        }
    }
}

Test(drbg, arguments_checked)
{
    uint8_t b[4];

    cr_assert_eq(qt_drbg_new(NULL, &conf, &drbg), QT_E_ARG);
    cr_assert_eq(qt_drbg_generate(NULL, b, sizeof(b), 0, 0), QT_E_ARG);
    open_both("sim:seed=13");
    cr_assert_eq(qt_drbg_generate(drbg, NULL, 4, 0, 0), QT_E_ARG);
    cr_assert_eq(qt_drbg_generate(drbg, NULL, 0, 0, 0), QT_OK);
    cr_assert_eq(qt_drbg_mix(drbg, NULL, 4), QT_E_ARG);
    cr_assert_eq(qt_drbg_reseed(NULL), QT_E_ARG);
    cr_assert_null(qt_drbg_libctx(NULL));
    qt_drbg_free(NULL);
}
