/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash safety of the token store (issue 3): ROUNDS times, a writer process
 * creates and destroys objects (each create in one transaction with an
 * attestation-log record, like the PKCS#11 layer does) and is killed with
 * SIGKILL at a random moment.  After every kill the store is opened afresh
 * and checked: qt_ks_check (SQLite integrity, every MAC and seal, log
 * numbering) and an object count against the writer's side log, which is
 * fsync'ed after each commit:
 *   "C id"  committed create       -> the object must exist
 *   "d id"  destroy about to start -> either state is fine
 *   "D id"  committed destroy      -> the object must never exist again
 * Objects present but not logged are the at-most-one create per round that
 * committed just before the kill; they must verify like the others.
 * After every round the real `qtoken token check` runs too (argv[2], if given).
 *
 * usage: test_keystore_crash [ROUNDS] [QTOKEN_EXE]
 * Prints "N passed, N failed" (checks) as its last line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../keystore/ks.h"
#include "../../src/common/osrand.h"
#include "check.h"

#define MAX_ID 200000
#define PIN ((const uint8_t *)"crash-user-pin")
#define PIN_LEN 14

static char root[256], store[300], inst[300], sidelog[300];
static struct qt_ks_env env;
static const struct qt_ks_kdf_params kdf = {.memory_kib = 64, .passes = 1, .lanes = 1};

static qt_rc
rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return qt_os_random(out, n);
}

static void
side(int fd, char op, uint64_t id)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "%c %llu\n", op, (unsigned long long)id);

    if (write(fd, line, (size_t)n) != n || fdatasync(fd) != 0) {
        _exit(3);
    }
}

/* The writer: runs until killed. */
static void
writer(unsigned seed)
{
    struct qt_ks_token *t = NULL;
    CK_OBJECT_CLASS cls_data = CKO_DATA, cls_key = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t val[32];
    char label[32];
    int fd;

    srand(seed);
    fd = open(sidelog, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || qt_ks_token_open_label(&env, "crash", &t) != QT_OK ||
        qt_ks_login(t, QT_KS_USER, PIN, PIN_LEN) != QT_OK) {
        _exit(2);
    }
    for (unsigned n = 0;; n++) {
        uint64_t *ids = NULL, id = 0, seq = 0;
        size_t cnt = 0;
        char *jws = NULL;

        if (qt_ks_obj_find(t, NULL, 0, &ids, &cnt) != QT_OK) {
            _exit(4);
        }
        if (cnt > 0 && (cnt > 40 || rand() % 3 == 0)) {
            id = ids[(size_t)rand() % cnt];
            free(ids);
            side(fd, 'd', id);
            if (qt_ks_obj_destroy(t, id) != QT_OK) {
                _exit(5);
            }
            side(fd, 'D', id);
            continue;
        }
        free(ids);
        int priv = rand() % 2;
        struct qt_attr a[5] = {
            {CKA_CLASS, (uint8_t *)(priv ? &cls_key : &cls_data), sizeof(CK_OBJECT_CLASS)},
            {CKA_PRIVATE, priv ? &yes : &no, 1},
            {CKA_LABEL, (uint8_t *)label, 0},
            {CKA_VALUE, val, sizeof(val)},
            {CKA_TOKEN, &yes, 1},
        };
        a[2].len = (size_t)snprintf(label, sizeof(label), "w%u-%u", seed, n);
        (void)rng(NULL, val, sizeof(val));
        if (qt_ks_txn_begin(t) != QT_OK || qt_ks_obj_create(t, a, 5, &id) != QT_OK ||
            qt_ks_log_tail(t, &seq, &jws) != QT_OK) {
            _exit(6);
        }
        free(jws);
        (void)snprintf(label, sizeof(label), "create %llu", (unsigned long long)id);
        if (qt_ks_log_append(t, seq + 1, label) != QT_OK || qt_ks_txn_commit(t) != QT_OK) {
            _exit(7);
        }
        side(fd, 'C', id);
    }
}

static unsigned char state[MAX_ID]; /* 0 unknown, 'C', 'd', 'D' */

static void
read_sidelog(void)
{
    FILE *f = fopen(sidelog, "r");
    char op;
    unsigned long long id;

    memset(state, 0, sizeof(state));
    if (f == NULL) {
        return;
    }
    while (fscanf(f, " %c %llu", &op, &id) == 2) {
        if (id < MAX_ID) {
            state[id] = (unsigned char)op;
        }
    }
    (void)fclose(f);
}

static void
report(void *ctx, uint64_t id, const char *what)
{
    (void)fprintf(stderr, "round %d: damage: object %llu: %s\n", *(int *)ctx,
                  (unsigned long long)id, what);
}

static void
verify(int round, unsigned *unlogged_total)
{
    struct qt_ks_token *t = NULL;
    uint64_t *ids = NULL;
    size_t cnt = 0;
    unsigned lost = 0, resurrected = 0, unlogged = 0;
    static unsigned char present[MAX_ID];

    if (qt_ks_token_open_label(&env, "crash", &t) != QT_OK ||
        qt_ks_login(t, QT_KS_USER, PIN, PIN_LEN) != QT_OK) {
        check(0, "round %d: store does not open", round);
        qt_ks_token_close(t);
        return;
    }
    check(qt_ks_check(t, report, &round) == QT_OK, "round %d: qt_ks_check found damage", round);
    check(qt_ks_obj_find(t, NULL, 0, &ids, &cnt) == QT_OK, "round %d: find", round);
    read_sidelog();
    memset(present, 0, sizeof(present));
    for (size_t i = 0; i < cnt; i++) {
        if (ids[i] < MAX_ID) {
            present[ids[i]] = 1;
        }
        if (ids[i] >= MAX_ID || state[ids[i]] == 'D') {
            resurrected++;
        } else if (state[ids[i]] == 0) {
            unlogged++;
        }
    }
    for (uint64_t id = 0; id < MAX_ID; id++) {
        if (state[id] == 'C' && !present[id]) {
            lost++;
        }
    }
    check(lost == 0, "round %d: %u committed objects lost", round, lost);
    check(resurrected == 0, "round %d: %u destroyed objects came back", round, resurrected);
    /* An unlogged object committed just before a kill is adopted by the next
     * writer (it finds and may destroy it); more than one new per round
     * would mean commits the side log should have seen. */
    check(unlogged <= *unlogged_total + 1, "round %d: %u unlogged objects", round, unlogged);
    *unlogged_total = unlogged;
    free(ids);
    qt_ks_token_close(t);
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Runs cmd through sh with the store in the environment; returns the exit
 * status and (if out != NULL) the first outlen-1 bytes of its stdout. */
static int
run(const char *cmd, char *out, size_t outlen)
{
    char full[2048];
    FILE *p;
    size_t n = 0;
    int st;

    snprintf(full, sizeof(full), "QTOKEN_CONF= QTOKEN_STORE='%s' QTOKEN_PIN=crash-user-pin %s",
             store, cmd);
    p = popen(full, "r");
    if (p == NULL) {
        return -1;
    }
    if (out != NULL) {
        n = fread(out, 1, outlen - 1, p);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof(sink), p) > 0) {
        }
    }
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The CLI on the store the writers left: list, backup/restore, and a
 * damaged row named by `qtoken token check` with exit 1. */
static void
cli_checks(const char *qtoken)
{
    char cmd[1500], out[8192];
    uint64_t *ids = NULL, victim = 0;
    size_t cnt = 0;
    struct qt_ks_token *t = NULL;
    sqlite3 *db = NULL;

    snprintf(cmd, sizeof(cmd), "'%s' token list --json", qtoken);
    check(run(cmd, out, sizeof(out)) == 0 && strstr(out, "\"label\":\"crash\"") != NULL,
          "token list --json names the token");
    snprintf(cmd, sizeof(cmd), "'%s' token backup --token crash --out '%s/crash.qtb'", qtoken,
             root);
    check(run(cmd, NULL, 0) == 0, "token backup");
    snprintf(cmd, sizeof(cmd), "QTOKEN_STORE='%s/restored' '%s' token restore --in '%s/crash.qtb'",
             root, qtoken, root);
    check(run(cmd, NULL, 0) == 0, "token restore into an empty store");
    snprintf(cmd, sizeof(cmd), "QTOKEN_STORE='%s/restored' '%s' token check --token crash", root,
             qtoken);
    check(run(cmd, out, sizeof(out)) == 0 && strstr(out, ": ok (") != NULL,
          "restored token checks ok: %s", out);
    snprintf(cmd, sizeof(cmd), "'%s' token rekey --token crash", qtoken);
    check(run(cmd, NULL, 0) == 0, "token rekey");

    /* damage one public row's attribute bytes: check names it, exit 1 */
    if (qt_ks_token_open_label(&env, "crash", &t) == QT_OK) {
        CK_BBOOL no = CK_FALSE;
        struct qt_attr q = {CKA_PRIVATE, &no, 1};
        if (qt_ks_obj_find(t, &q, 1, &ids, &cnt) == QT_OK && cnt > 0) {
            victim = ids[0];
        }
        free(ids);
        check(sqlite3_open(qt_ks_token_path(t), &db) == SQLITE_OK, "raw open");
    }
    qt_ks_token_close(t);
    check(victim != 0, "a public object to damage");
    if (victim == 0 || db == NULL) {
        sqlite3_close(db);
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "UPDATE objects SET attrs = substr(attrs, 1, 20) ||"
             " CASE WHEN substr(attrs, 21, 1) = x'5a' THEN x'a5' ELSE x'5a' END ||"
             " substr(attrs, 22) WHERE id = %llu",
             (unsigned long long)victim);
    sqlite3_busy_timeout(db, 10000);
    check(sqlite3_exec(db, cmd, NULL, NULL, NULL) == SQLITE_OK, "damage a row");
    sqlite3_close(db);
    char want[64];
    snprintf(want, sizeof(want), "object %llu:", (unsigned long long)victim);
    snprintf(cmd, sizeof(cmd), "'%s' token check --token crash", qtoken);
    check(run(cmd, out, sizeof(out)) == 1 && strstr(out, want) != NULL,
          "token check exits 1 naming %s: %s", want, out);
}

int
main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    const char *qtoken = argc > 2 ? argv[2] : NULL;
    struct qt_ks_token *t = NULL;
    unsigned unlogged = 0, seed0;
    struct timespec t0, t1;
    int fd;

    (void)rng(NULL, (uint8_t *)&seed0, sizeof(seed0));
    snprintf(root, sizeof(root), "/tmp/qt-ks-crash-XXXXXX");
    if (mkdtemp(root) == NULL) {
        return 1;
    }
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(inst, sizeof(inst), "%s/store/installation", root);
    snprintf(sidelog, sizeof(sidelog), "%s/side.log", root);
    env = (struct qt_ks_env){.store_dir = store, .install_dir = inst, .rng = rng,
                             .pin_max_failures = 10};
    fd = open(sidelog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0, "side log");
    (void)close(fd);
    check(qt_ks_token_create(&env, "crash", (const uint8_t *)"so", 2, &kdf, &t) == QT_OK,
          "create token");
    check(qt_ks_login(t, QT_KS_SO, (const uint8_t *)"so", 2) == QT_OK &&
              qt_ks_init_pin(t, PIN, PIN_LEN) == QT_OK,
          "init user pin");
    qt_ks_token_close(t); /* no SQLite connection may cross fork() */

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 1; r <= rounds && failed == 0; r++) {
        unsigned delay_us;
        pid_t pid;
        int st = 0;

        (void)rng(NULL, (uint8_t *)&delay_us, sizeof(delay_us));
        delay_us = 2000 + delay_us % 40000; /* login takes ~1-2 ms; then 0-40 ms of work */
        pid = fork();
        if (pid == 0) {
            writer(seed0 + (unsigned)r);
        }
        check(pid > 0, "fork");
        usleep(delay_us);
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "round %d: writer ended on its own (status %d)", r, st);
        verify(r, &unlogged);
        if (qtoken != NULL) {
            char cmd[1200];
            snprintf(cmd, sizeof(cmd),
                     "QTOKEN_CONF= QTOKEN_STORE='%s' QTOKEN_PIN=crash-user-pin '%s' token check"
                     " --token crash >/dev/null",
                     store, qtoken);
            check(system(cmd) == 0, "round %d: qtoken token check failed", r);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (qtoken != NULL && failed == 0) {
        cli_checks(qtoken);
    }
    read_sidelog();
    unsigned commits = 0, destroys = 0;
    for (int i = 0; i < MAX_ID; i++) {
        commits += state[i] == 'C' || state[i] == 'D' || state[i] == 'd';
        destroys += state[i] == 'D';
    }
    (void)printf("%d rounds in %.1f s: %u objects created (logged), %u destroyed, final check "
                 "above\n",
                 rounds, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                 commits, destroys);
    (void)nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    (void)printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
