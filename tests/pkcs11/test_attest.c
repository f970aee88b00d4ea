/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation records of session-object key generations through the
 * module ([attest] session_keys, attest/FORMAT.md 2.5): in batch mode (the
 * default) they are queued and written as one session-keys record at
 * C_CloseSession, C_CloseAllSessions, C_Logout, C_Finalize, at 256 keys,
 * at the next generation once the oldest is 1 s old, and before any other
 * record; a forked child never writes its parent's queue; in each mode one
 * record per key, written before the key is handed out.  The log is read as
 * a verifier would (qtoken attest export), and a session key is found inside
 * its batch record by `qtoken attest verify --key-pubkey`.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11test.h"

#define SESSION_KEYS "\"event\":\"session-keys\""

static void
setup_each(void)
{
    p11t_env(NULL, "[attest]\nsession_keys = each\n");
    p11t_load();
    CK_OK(F->C_Initialize(NULL));
    p11t_slot = p11t_new_token("test");
}

/* Occurrences of needle in s. */
static size_t
count_in(const char *s, const char *needle)
{
    size_t k = 0;

    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        k++;
    }
    return k;
}

static void
hex(char *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
}

/* "\"spki_sha256\":\"<hex>\"" of a public key object, as the record says it. */
static void
spki_field(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, char out[96])
{
    unsigned char der[512], md[32];
    char hx[65];
    CK_ULONG n = p11t_attr(h, pub, CKA_PUBLIC_KEY_INFO, der, sizeof(der));

    cr_assert(n > 0 && n <= sizeof(der), "CKA_PUBLIC_KEY_INFO");
    cr_assert_eq(EVP_Digest(der, n, md, NULL, EVP_sha256(), NULL), 1);
    hex(hx, md, 32);
    snprintf(out, 96, "\"spki_sha256\":\"%s\"", hx);
}

/* "\"kcv\":\"<hex>\"" of a secret key. */
static void
kcv_field(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, char out[64])
{
    unsigned char kcv[16];
    char hx[33];
    CK_ULONG n = p11t_attr(h, k, CKA_CHECK_VALUE, kcv, sizeof(kcv));

    cr_assert(n > 0 && n <= sizeof(kcv), "CKA_CHECK_VALUE");
    hex(hx, kcv, n);
    snprintf(out, 64, "\"kcv\":\"%s\"", hx);
}

/* The index in log of the only session-keys record (asserts there is one). */
static size_t
the_batch(const struct p11t_log *log)
{
    size_t at = log->n;

    cr_assert_eq(p11t_count_with(log, SESSION_KEYS, NULL, NULL), 1, "one session-keys record");
    for (size_t i = 0; i < log->n; i++) {
        if (strstr(log->payload[i], SESSION_KEYS) != NULL) {
            at = i;
        }
    }
    return at;
}

static size_t
log_len(void)
{
    struct p11t_log log;
    size_t n;

    p11t_read_log("test", &log);
    n = log.n;
    p11t_free_log(&log);
    return n;
}

/* A session AES key readable without login (CKA_PRIVATE false). */
static void
public_aes(CK_SESSION_HANDLE h)
{
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 16;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_PRIVATE, &no, sizeof(no)}};
    CK_OBJECT_HANDLE k;

    CK_OK(F->C_GenerateKey(h, &m, t, 2, &k));
}

static double
now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- batch mode ---------------------------------------------------------- */

Test(attest, session_keys_are_one_record_at_close, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub[4], priv[4], aes[3];
    char ec_fp[4][96], aes_kcv[3][64];
    struct p11t_log log;
    size_t base = log_len(), b;

    for (int i = 0; i < 4; i++) {
        p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub[i], &priv[i]);
        spki_field(h, pub[i], ec_fp[i]);
    }
    for (int i = 0; i < 3; i++) {
        aes[i] = p11t_aes(h, 32, 0, 0);
        kcv_field(h, aes[i], aes_kcv[i]);
    }
    /* queued: nothing in the log yet */
    cr_assert_eq(log_len(), base, "no record before the session closes");
    CK_OK(F->C_CloseSession(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "one record for the 7 keys");
    b = the_batch(&log);
    cr_assert_eq(b, base);
    cr_assert_eq(count_in(log.payload[b], "\"event\":\"keypair-generate\""), 4);
    cr_assert_eq(count_in(log.payload[b], "\"event\":\"key-generate\""), 3);
    cr_assert_eq(count_in(log.payload[b], "\"prediction_resistance\":true"), 7 + 1);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(count_in(log.payload[b], ec_fp[i]), 1, "key pair %d in the batch", i);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(count_in(log.payload[b], aes_kcv[i]), 1, "AES key %d in the batch", i);
    }
    /* the record-level evidence: the source at writing time */
    cr_assert_not_null(strstr(log.payload[b], "\"entropy\":{\"device_type\":\"sim\""));
    p11t_free_log(&log);
    /* closing again writes nothing more */
    h = p11t_open(p11t_slot, 0);
    CK_OK(F->C_CloseSession(h));
    cr_assert_eq(log_len(), base + 1);
}

Test(attest, batch_written_at_256_keys, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    struct p11t_log log;
    size_t base = log_len(), b;
    double t0 = now_s();

    for (int i = 0; i < 255; i++) {
        (void)p11t_aes(h, 16, 0, 0);
    }
    /* the 1 s age rule would also write: this test is about the size rule */
    cr_assert_lt(now_s() - t0, 1.0, "255 AES keys took %.2f s", now_s() - t0);
    cr_assert_eq(log_len(), base, "255 keys: still queued");
    (void)p11t_aes(h, 16, 0, 0);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "the 256th key writes the batch");
    b = the_batch(&log);
    cr_assert_eq(count_in(log.payload[b], "\"event\":\"key-generate\""), 256);
    p11t_free_log(&log);
    for (int i = 256; i < 300; i++) {
        (void)p11t_aes(h, 16, 0, 0);
    }
    cr_assert_eq(log_len(), base + 1, "44 more keys: queued");
    CK_OK(F->C_CloseSession(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 2);
    cr_assert_eq(count_in(log.payload[base + 1], "\"event\":\"key-generate\""), 44);
    cr_assert_not_null(strstr(log.payload[base + 1], SESSION_KEYS));
    p11t_free_log(&log);
}

Test(attest, batch_written_at_next_keygen_after_1s, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    struct p11t_log log;
    size_t base = log_len();

    (void)p11t_aes(h, 32, 0, 0);
    p11t_ec(h, P11T_ED25519, sizeof(P11T_ED25519), CKM_EC_EDWARDS_KEY_PAIR_GEN, 0, &pub, &priv);
    usleep(1100 * 1000);
    cr_assert_eq(log_len(), base, "age alone writes nothing: the next call does");
    (void)p11t_aes(h, 32, 0, 0);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1);
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    /* the call wrote the queue as it found it: the new key starts the next */
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 1);
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"keypair-generate\""), 1);
    cr_assert_eq(count_in(log.payload[base], "\"curve\":\"Ed25519\""), 1);
    p11t_free_log(&log);
    /* the queue started over: the next key waits */
    (void)p11t_aes(h, 32, 0, 0);
    cr_assert_eq(log_len(), base + 1);
}

/* A process that keeps calling the module but makes no more keys (a server
 * signing with its session keys) still gets their record about a second
 * later: any entry point writes a queue whose oldest key is 1 s old; a
 * younger one it leaves alone. */
Test(attest, any_call_writes_a_batch_1s_old, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_SESSION_INFO si;
    unsigned char r[16];
    struct p11t_log log;
    size_t base = log_len();

    (void)p11t_aes(h, 32, 0, 0);
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r)));
    CK_OK(F->C_GetSessionInfo(h, &si));
    cr_assert_eq(log_len(), base, "a young queue waits");
    usleep(1100 * 1000);
    cr_assert_eq(log_len(), base, "no timer: nothing without a call");
    CK_OK(F->C_GetSessionInfo(h, &si));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "C_GetSessionInfo wrote the 1 s old queue");
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 1);
    p11t_free_log(&log);
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r)));
    cr_assert_eq(log_len(), base + 1, "nothing queued: nothing more");
}

Test(attest, finalize_writes_the_batch, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    char fp[96];
    struct p11t_log log;
    size_t base = log_len();

    p11t_ec(h, P11T_P384, sizeof(P11T_P384), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    spki_field(h, pub, fp);
    (void)p11t_aes(h, 16, 0, 0);
    cr_assert_eq(log_len(), base);
    CK_OK(F->C_Finalize(NULL)); /* sessions still open */
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1);
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base], fp), 1);
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 1);
    p11t_free_log(&log);
}

Test(attest, logout_and_close_all_write_the_batch, .init = p11t_setup_token, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session(), h2 = p11t_open(p11t_slot, 0);
    struct p11t_log log;
    size_t base = log_len();

    (void)p11t_aes(h, 16, 0, 0);
    public_aes(h2);
    CK_OK(F->C_Logout(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "C_Logout writes the slot's queue");
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 2);
    p11t_free_log(&log);
    public_aes(h2); /* logged out: a public key */
    cr_assert_eq(log_len(), base + 1);
    CK_OK(F->C_CloseAllSessions(p11t_slot));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 2, "C_CloseAllSessions writes it");
    cr_assert_not_null(strstr(log.payload[base + 1], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base + 1], "\"event\":\"key-generate\""), 1);
    p11t_free_log(&log);
}

/* The queue is written before any other record of the token: a token key
 * generated between session keys comes after the keys made before it. */
Test(attest, pending_batch_precedes_the_token_key_record, .init = p11t_setup_token,
     .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE spub[2], spriv[2], tpub, tpriv, k;
    char sfp[2][96], tfp[96];
    struct p11t_log log;
    size_t base = log_len();

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &spub[0], &spriv[0]);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &spub[1], &spriv[1]);
    spki_field(h, spub[0], sfp[0]);
    spki_field(h, spub[1], sfp[1]);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 1, &tpub, &tpriv);
    spki_field(h, tpub, tfp);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 2);
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS), "%s", log.payload[base]);
    cr_assert_eq(count_in(log.payload[base], sfp[0]), 1);
    cr_assert_eq(count_in(log.payload[base], sfp[1]), 1);
    cr_assert_eq(count_in(log.payload[base], tfp), 0);
    cr_assert_not_null(strstr(log.payload[base + 1], "\"event\":\"keypair-generate\""));
    cr_assert_eq(count_in(log.payload[base + 1], tfp), 1);
    p11t_free_log(&log);
    /* a session key, then the token key's destruction: the same order */
    k = p11t_aes(h, 32, 0, 0);
    CK_OK(F->C_DestroyObject(h, tpriv));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 4);
    cr_assert_not_null(strstr(log.payload[base + 2], SESSION_KEYS));
    cr_assert_not_null(strstr(log.payload[base + 3], "\"event\":\"key-destroy\""));
    p11t_free_log(&log);
    (void)k;
    CK_OK(F->C_CloseSession(h));
    cr_assert_eq(log_len(), base + 4, "nothing left to write");
}

/* A wrong PIN's login-failure record (written by the keystore's login hook,
 * in its transaction) comes after the keys queued before it. */
Test(attest, pending_batch_precedes_a_login_failure_record, .init = p11t_setup_token,
     .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    struct p11t_log log;
    size_t base = log_len();

    public_aes(h);
    public_aes(h);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"000000", 6), CKR_PIN_INCORRECT);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 2);
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 2);
    cr_assert_not_null(strstr(log.payload[base + 1], "\"event\":\"login-failure\""));
    p11t_free_log(&log);
    public_aes(h);
    CK_OK(F->C_CloseSession(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 3, "the third key only");
    cr_assert_eq(count_in(log.payload[base + 2], "\"event\":\"key-generate\""), 1);
    p11t_free_log(&log);
}

/* A forked child with its own C_Initialize generates one public AES-128
 * session key (closing its session first if close_session) and finalizes;
 * the child exits 0 when every call succeeded (no Criterion assertion runs
 * in it, hence not public_aes). */
static void
child_public_aes(int close_session)
{
    int status;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
        CK_ULONG len = 16;
        CK_BBOOL no = CK_FALSE;
        CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_PRIVATE, &no, sizeof(no)}};
        CK_SESSION_HANDLE ch;
        CK_OBJECT_HANDLE k;
        int bad = 0;

        bad |= F->C_Initialize(NULL) != CKR_OK;
        bad |= F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION, NULL, NULL, &ch) != CKR_OK;
        bad |= F->C_GenerateKey(ch, &m, t, 2, &k) != CKR_OK;
        if (close_session) {
            bad |= F->C_CloseSession(ch) != CKR_OK;
        }
        bad |= F->C_Finalize(NULL) != CKR_OK;
        _exit(bad ? 3 : 0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

/* The parent queues session keys and forks: a child that exits without
 * C_Initialize, and one that initialises, makes a session key of its own and
 * finalises, write nothing of the parent's; the parent writes its keys once. */
Test(attest, forked_child_does_not_write_the_parents_queue, .init = p11t_setup_token,
     .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub[3], priv[3];
    char fp[3][96];
    struct p11t_log log;
    size_t base = log_len(), total = 0;
    int status;
    pid_t pid;

    for (int i = 0; i < 3; i++) {
        p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub[i], &priv[i]);
        spki_field(h, pub[i], fp[i]);
    }
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        _exit(0); /* no C_Initialize, no C_Finalize */
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    child_public_aes(0);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "only the child's own key");
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 1);
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"keypair-generate\""), 0);
    p11t_free_log(&log);
    CK_OK(F->C_CloseSession(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 2);
    for (size_t r = 0; r < log.n; r++) {
        total += count_in(log.payload[r], "\"event\":\"keypair-generate\"");
    }
    cr_assert_eq(total, 3, "each parent key once");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(count_in(log.payload[base + 1], fp[i]), 1);
    }
    p11t_free_log(&log);
}

/* A batch written inside another event's transaction (a token key's
 * destruction) stays queued until known committed; here another process
 * appends meanwhile, so the module looks the record up: found, its keys are
 * not written a second time. */
Test(attest, batch_in_another_events_transaction_is_written_once, .init = p11t_setup_token,
     .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE tpub, tpriv;
    struct p11t_log log;
    size_t base, total = 0;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 1, &tpub, &tpriv);
    base = log_len();
    (void)p11t_aes(h, 32, 0, 0);
    (void)p11t_aes(h, 32, 0, 0);
    CK_OK(F->C_DestroyObject(h, tpriv));
    child_public_aes(1);
    CK_OK(F->C_CloseSession(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 3, "batch, key-destroy, the child's batch");
    cr_assert_not_null(strstr(log.payload[base], SESSION_KEYS));
    cr_assert_eq(count_in(log.payload[base], "\"event\":\"key-generate\""), 2);
    cr_assert_not_null(strstr(log.payload[base + 1], "\"event\":\"key-destroy\""));
    cr_assert_not_null(strstr(log.payload[base + 2], SESSION_KEYS));
    for (size_t r = base; r < log.n; r++) {
        total += count_in(log.payload[r], "\"event\":\"key-generate\"");
    }
    cr_assert_eq(total, 3);
    p11t_free_log(&log);
}

/* ---- a verifier finds a session key inside its batch record --------------- */

static void
sh(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    size_t n;

    cr_assert_not_null(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    (void)pclose(p);
}

Test(attest, cli_verify_finds_a_session_key_in_its_batch, .init = p11t_setup_token,
     .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub[3], priv[3];
    unsigned char der[512];
    const unsigned char *d = der;
    char qt[256], cmd[2048], out[8192], path[128];
    const char *m = QT_P11_MODULE, *cut = strstr(m, "/pkcs11/");
    EVP_PKEY *pk;
    CK_ULONG n;
    FILE *f;

    for (int i = 0; i < 3; i++) {
        p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub[i], &priv[i]);
    }
    n = p11t_attr(h, pub[1], CKA_PUBLIC_KEY_INFO, der, sizeof(der));
    cr_assert(n > 0 && n <= sizeof(der));
    pk = d2i_PUBKEY(NULL, &d, (long)n);
    cr_assert_not_null(pk);
    snprintf(path, sizeof(path), "%s/k1.pem", p11t_dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PUBKEY(f, pk), 1);
    fclose(f);
    EVP_PKEY_free(pk);
    CK_OK(F->C_CloseSession(h));
    cr_assert_not_null(cut);
    snprintf(qt, sizeof(qt), "%.*s/src/cli/qtoken", (int)(cut - m), m);
    snprintf(cmd, sizeof(cmd),
             "'%s' attest pubkey > '%s/att.pem' && '%s' attest export --token test --out "
             "'%s/log.jsonl' 2>/dev/null && '%s' attest verify '%s/log.jsonl' --pubkey "
             "'%s/att.pem' --key-pubkey '%s'; echo \"exit $?\"",
             qt, p11t_dir, qt, p11t_dir, qt, p11t_dir, p11t_dir, path);
    sh(cmd, out, sizeof(out));
    cr_assert_not_null(strstr(out, "valid: "), "%s", out);
    cr_assert_not_null(strstr(out, "entry 1 of its \"keys\" (a session-keys record)"), "%s", out);
    cr_assert_not_null(strstr(out, "session-keys"), "%s", out);
    cr_assert_not_null(strstr(out, "exit 0"), "%s", out);
}

/* ---- each mode ------------------------------------------------------------- */

Test(attest, each_mode_one_record_per_session_key, .init = setup_each, .fini = p11t_teardown)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv, k;
    char fp[96], kcv[64];
    struct p11t_log log;
    size_t base = log_len();

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    spki_field(h, pub, fp);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1, "written before the key was handed out");
    cr_assert_not_null(strstr(log.payload[base], "\"event\":\"keypair-generate\""));
    cr_assert_eq(count_in(log.payload[base], fp), 1);
    p11t_free_log(&log);
    k = p11t_aes(h, 32, 0, 0);
    kcv_field(h, k, kcv);
    (void)p11t_aes(h, 16, 0, 0);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 3);
    cr_assert_not_null(strstr(log.payload[base + 1], "\"event\":\"key-generate\""));
    cr_assert_eq(count_in(log.payload[base + 1], kcv), 1);
    cr_assert_eq(p11t_count_with(&log, SESSION_KEYS, NULL, NULL), 0);
    p11t_free_log(&log);
    CK_OK(F->C_CloseSession(h));
    cr_assert_eq(log_len(), base + 3, "nothing queued");
}
