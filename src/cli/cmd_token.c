/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken token: list, init, check, rekey, backup, restore.  The store is
 * the configured one (QTOKEN_STORE / [store] path).  Randomness (master
 * keys, salts, IVs) comes from the QRNG pipeline through the token DRBG,
 * started only when a command first needs random bytes, so `list` and
 * `check` work without the entropy device.  PINs: cli_pin.h.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../attest/att.h"
#include "../../device/dev.h"
#include "../../keystore/ks.h"
#include "../common/conf.h"
#include "../common/mem.h"
#include "../drbg/drbg.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "cmd_attest.h"
#include "cli_pin.h"
#include "cli_util.h"

struct tok_ctx {
    struct qt_conf conf;
    char inst[QT_CONF_STR + 32];
    struct qt_ks_env env;
    struct qt_ent_pipeline *pipe;
    struct qt_drbg *drbg;
    qt_rc rng_err; /* the entropy source failed (exit 3) */
};

/* The keystore's rng: the QRNG DRBG, started on first use.  Key-sized
 * requests get prediction resistance (a fresh QRNG reseed first). */
static qt_rc
tok_rng(void *arg, uint8_t *out, size_t n)
{
    struct tok_ctx *c = arg;
    qt_rc rc;

    if (c->drbg == NULL) {
        if ((rc = qt_ent_pipeline_new(c->conf.device_spec, &c->conf, &c->pipe)) != QT_OK ||
            (rc = qt_drbg_new(c->pipe, &c->conf, &c->drbg)) != QT_OK) {
            (void)fprintf(stderr, "qtoken token: entropy source '%s': %s\n", c->conf.device_spec,
                          qt_rc_str(rc));
            c->rng_err = rc;
            return rc;
        }
    }
    rc = qt_drbg_generate(c->drbg, out, n, n >= 16, 0);
    if (rc != QT_OK) {
        c->rng_err = rc;
    }
    return rc;
}

static int
tok_setup(struct tok_ctx *c)
{
    int ret;
    qt_rc rc;

    memset(c, 0, sizeof(*c));
    if ((ret = qt_cli_conf("token", NULL, &c->conf)) != QT_EXIT_OK) {
        return ret;
    }
    if ((rc = qt_conf_install_dir(&c->conf, c->inst, sizeof(c->inst))) != QT_OK) {
        (void)fprintf(stderr, "qtoken token: installation dir under '%s': %s\n",
                      c->conf.store_path, qt_rc_str(rc));
        return QT_EXIT_FAIL;
    }
    c->env = (struct qt_ks_env){.store_dir = c->conf.store_path,
                                .install_dir = c->inst,
                                .rng = tok_rng,
                                .rng_ctx = c,
                                .pin_max_failures = c->conf.pin_max_failures};
    return QT_EXIT_OK;
}

static void
tok_teardown(struct tok_ctx *c)
{
    qt_drbg_free(c->drbg);
    qt_ent_pipeline_free(c->pipe);
    c->drbg = NULL;
    c->pipe = NULL;
}

static int
tok_exit(const struct tok_ctx *c, qt_rc rc)
{
    if (rc == QT_OK) {
        return QT_EXIT_OK;
    }
    if (c->rng_err != QT_OK) {
        return QT_EXIT_HEALTH;
    }
    switch (rc) {
    case QT_E_NOTFOUND:
        return QT_EXIT_NOTFOUND;
    case QT_E_ARG:
    case QT_E_CONFIG:
    case QT_E_PIN_INVALID:
        return QT_EXIT_USAGE;
    default:
        return QT_EXIT_FAIL;
    }
}

static void
usage(FILE *f)
{
    (void)fprintf(
        f,
        "usage: qtoken token <command> [options]\n\n"
        "  list [--json]                         tokens in the store\n"
        "  init --label L [--no-user-pin]        create a token (master key from the QRNG);\n"
        "                                        SO PIN: --so-pin-file F | QTOKEN_SO_PIN | prompt\n"
        "                                        user PIN: --pin-file F | QTOKEN_PIN | prompt\n"
        "  check [--token L] [--login] [--so]    verify every seal and MAC (exit 1 on damage);\n"
        "                                        private objects' seals need a login (used when\n"
        "                                        a PIN is given or with --login)\n"
        "  rekey --token L [--so]                new master key, every object re-sealed\n"
        "  backup --token L --out FILE [--so]    sealed copy, opens only with a PIN\n"
        "  restore --in FILE [--so]              bring a backup into this store\n\n"
        "PIN for a login: --pin-file FILE, else QTOKEN_PIN, else a prompt (--so: the SO PIN).\n"
        "Store: QTOKEN_STORE, else [store] path in QTOKEN_CONF.\n"
        "Exit: 0 ok, 1 failure or damage found, 2 usage, 3 entropy source, 4 not found.\n");
}

struct tok_opts {
    const char *label, *out, *in, *pin_file, *so_pin_file;
    int json, login, so, no_user_pin;
};

static int
parse(int argc, char **argv, struct tok_opts *o)
{
    static const struct option opts[] = {
        {"token", required_argument, NULL, 't'},   {"label", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},     {"in", required_argument, NULL, 'i'},
        {"pin-file", required_argument, NULL, 'p'}, {"so-pin-file", required_argument, NULL, 'P'},
        {"json", no_argument, NULL, 'j'},           {"login", no_argument, NULL, 'l'},
        {"so", no_argument, NULL, 's'},             {"no-user-pin", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int ch;

    memset(o, 0, sizeof(*o));
    optind = 0;
    while ((ch = getopt_long(argc, argv, "t:o:i:p:P:jlsnh", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            o->label = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'i':
            o->in = optarg;
            break;
        case 'p':
            o->pin_file = optarg;
            break;
        case 'P':
            o->so_pin_file = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'l':
            o->login = 1;
            break;
        case 's':
            o->so = 1;
            break;
        case 'n':
            o->no_user_pin = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    return QT_EXIT_OK;
}

/* Logs t in with the PIN from --pin-file / QTOKEN_PIN / prompt. */
static qt_rc
login(struct qt_ks_token *t, const struct tok_opts *o)
{
    uint8_t *pin = qt_secret_alloc(QT_CLI_PIN_MAX);
    size_t len = 0;
    qt_rc rc;

    if (pin == NULL) {
        return QT_E_NOMEM;
    }
    rc = qt_cli_pin_read(o->pin_file, "QTOKEN_PIN", o->so ? "SO PIN: " : "User PIN: ", pin,
                         QT_CLI_PIN_MAX, &len);
    if (rc == QT_OK) {
        rc = qt_ks_login(t, o->so ? QT_KS_SO : QT_KS_USER, pin, len);
    }
    qt_secret_free(pin, QT_CLI_PIN_MAX);
    if (rc != QT_OK) {
        (void)fprintf(stderr, "qtoken token: login: %s\n", qt_rc_str(rc));
    }
    return rc;
}

static qt_rc
open_label(struct tok_ctx *c, const char *label, struct qt_ks_token **t)
{
    qt_rc rc = qt_ks_token_open_label(&c->env, label, t);

    if (rc != QT_OK) {
        (void)fprintf(stderr, "qtoken token: token '%s': %s\n", label, qt_rc_str(rc));
    }
    return rc;
}

static int
cmd_list(struct tok_ctx *c, const struct tok_opts *o)
{
    json_object *arr = o->json ? json_object_new_array() : NULL;
    char **paths = NULL;
    size_t n = 0;
    qt_rc rc;

    if ((rc = qt_ks_list(&c->env, &paths, &n)) != QT_OK) {
        (void)fprintf(stderr, "qtoken token list: %s: %s\n", c->conf.store_path, qt_rc_str(rc));
        json_object_put(arr);
        return tok_exit(c, rc);
    }
    if (!o->json) {
        (void)printf("%-32s  %-16s  %7s  %-9s  %s\n", "LABEL", "SERIAL", "OBJECTS", "USER PIN",
                     "SO PIN");
    }
    for (size_t i = 0; i < n; i++) {
        struct qt_ks_token *t = NULL;
        struct qt_ks_token_info info;
        qt_rc r = qt_ks_token_open(&c->env, paths[i], &t);

        if (r == QT_OK) {
            r = qt_ks_token_info(t, &info);
        }
        qt_ks_token_close(t);
        if (r != QT_OK) {
            if (o->json) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "path", json_object_new_string(paths[i]));
                json_object_object_add(e, "error", json_object_new_string(qt_rc_str(r)));
                json_object_array_add(arr, e);
            } else {
                (void)printf("%-32s  (%s: %s)\n", "?", paths[i], qt_rc_str(r));
            }
            continue;
        }
        const char *user = !info.user_pin_initialized ? "unset"
                           : info.user_pin_locked     ? "LOCKED"
                           : info.user_failures > 0   ? "count-low"
                                                      : "ok";
        const char *so = info.so_pin_locked ? "LOCKED" : info.so_failures > 0 ? "count-low" : "ok";
        if (o->json) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "label", json_object_new_string(info.label));
            json_object_object_add(e, "serial", json_object_new_string(info.serial));
            json_object_object_add(e, "path", json_object_new_string(info.path));
            json_object_object_add(e, "objects", json_object_new_int64((int64_t)info.objects));
            json_object_object_add(e, "user_pin_initialized",
                                   json_object_new_boolean(info.user_pin_initialized));
            json_object_object_add(e, "user_pin_locked",
                                   json_object_new_boolean(info.user_pin_locked));
            json_object_object_add(e, "so_pin_locked", json_object_new_boolean(info.so_pin_locked));
            json_object_object_add(e, "user_failures",
                                   json_object_new_int((int)info.user_failures));
            json_object_object_add(e, "so_failures", json_object_new_int((int)info.so_failures));
            json_object_object_add(e, "max_failures", json_object_new_int((int)info.max_failures));
            json_object_object_add(e, "master_key_generation",
                                   json_object_new_int64((int64_t)info.mk_generation));
            json_object *k = json_object_new_object();
            json_object_object_add(k, "memory_kib", json_object_new_int64(info.kdf.memory_kib));
            json_object_object_add(k, "passes", json_object_new_int64(info.kdf.passes));
            json_object_object_add(k, "lanes", json_object_new_int64(info.kdf.lanes));
            json_object_object_add(e, "argon2id", k);
            json_object_array_add(arr, e);
        } else {
            (void)printf("%-32s  %-16s  %7llu  %-9s  %s\n", info.label, info.serial,
                         (unsigned long long)info.objects, user, so);
        }
    }
    if (o->json) {
        (void)printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    }
    qt_ks_free_list(paths, n);
    return QT_EXIT_OK;
}

/* Appends the token-init record (and pin-init when the user PIN was set) to
 * the new token's log, in one transaction, signed by the installation's
 * attestation key, with the entropy evidence of this process's pipeline. */
static qt_rc
attest_init(struct tok_ctx *c, struct qt_ks_token *t, int user_pin_set)
{
    struct qt_att_key *ak = NULL;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    struct qt_att_event ev = {.type = QT_ATT_EV_TOKEN_INIT, .entropy = &en};
    qt_rc rc;

    qt_attest_evidence(c->pipe, c->drbg, &di, &en);
    if ((rc = qt_att_key_open_conf(&c->conf, c->drbg != NULL ? qt_drbg_libctx(c->drbg) : NULL, 1,
                                   &ak)) != QT_OK) {
        return rc;
    }
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    rc = qt_attest_token_event(t, ak, &ev, NULL);
    if (rc == QT_OK && user_pin_set) {
        ev.type = QT_ATT_EV_PIN_INIT;
        ev.user = "user";
        rc = qt_attest_token_event(t, ak, &ev, NULL);
    }
    if (rc == QT_OK) {
        rc = qt_ks_txn_commit(t);
    } else {
        qt_ks_txn_rollback(t);
    }
out:
    qt_att_key_free(ak);
    return rc;
}

static int
cmd_init(struct tok_ctx *c, const struct tok_opts *o)
{
    struct qt_ks_kdf_params kdf = {.memory_kib = c->conf.argon2_memory_kib,
                                   .passes = c->conf.argon2_passes,
                                   .lanes = c->conf.argon2_lanes};
    struct qt_ks_token *t = NULL;
    uint8_t *so = qt_secret_alloc(QT_CLI_PIN_MAX), *user = qt_secret_alloc(QT_CLI_PIN_MAX);
    size_t so_len = 0, user_len = 0;
    int created = 0;
    qt_rc rc = QT_E_NOMEM;

    if (o->label == NULL) {
        usage(stderr);
        rc = QT_E_ARG;
        goto out;
    }
    if (so == NULL || user == NULL) {
        goto out;
    }
    if ((rc = qt_cli_pin_read(o->so_pin_file, "QTOKEN_SO_PIN", "New SO PIN: ", so, QT_CLI_PIN_MAX,
                              &so_len)) != QT_OK ||
        (!o->no_user_pin &&
         (rc = qt_cli_pin_read(o->pin_file, "QTOKEN_PIN", "New user PIN: ", user, QT_CLI_PIN_MAX,
                               &user_len)) != QT_OK)) {
        (void)fprintf(stderr, "qtoken token init: PIN: %s\n", qt_rc_str(rc));
        goto out;
    }
    if ((rc = qt_ks_token_create(&c->env, o->label, so, so_len, &kdf, &t)) != QT_OK) {
        (void)fprintf(stderr, "qtoken token init: '%s': %s\n", o->label, qt_rc_str(rc));
        goto out;
    }
    created = 1;
    if (!o->no_user_pin &&
        ((rc = qt_ks_login(t, QT_KS_SO, so, so_len)) != QT_OK ||
         (rc = qt_ks_init_pin(t, user, user_len)) != QT_OK)) {
        (void)fprintf(stderr, "qtoken token init: user PIN: %s\n", qt_rc_str(rc));
        goto out;
    }
    if ((rc = attest_init(c, t, !o->no_user_pin)) != QT_OK) {
        (void)fprintf(stderr, "qtoken token init: attestation: %s\n", qt_rc_str(rc));
        goto out;
    }
    created = 0;
    (void)printf("token '%s' created: %s\n", o->label, qt_ks_token_path(t));
out:
    /* A token whose log does not start with its token-init record would never
     * verify: one that could not be attested is removed again. */
    if (created && t != NULL) {
        struct qt_ks_token *doomed = t;
        t = NULL;
        if (qt_ks_token_delete(doomed) != QT_OK) { /* consumes doomed */
            (void)fprintf(stderr, "qtoken token init: could not remove the unattested token "
                                  "'%s'\n", o->label);
        }
    }
    qt_ks_token_close(t);
    qt_secret_free(so, QT_CLI_PIN_MAX);
    qt_secret_free(user, QT_CLI_PIN_MAX);
    return tok_exit(c, rc);
}

struct check_ctx {
    const char *label;
    unsigned problems;
};

static void
on_damage(void *arg, uint64_t id, const char *what)
{
    struct check_ctx *k = arg;

    k->problems++;
    if (id != 0) {
        (void)printf("token '%s': object %llu: %s\n", k->label, (unsigned long long)id, what);
    } else {
        (void)printf("token '%s': %s\n", k->label, what);
    }
}

static int
cmd_check(struct tok_ctx *c, const struct tok_opts *o)
{
    char **paths = NULL;
    size_t n = 0;
    int ret = QT_EXIT_OK, seen = 0;
    qt_rc rc;

    if ((rc = qt_ks_list(&c->env, &paths, &n)) != QT_OK) {
        (void)fprintf(stderr, "qtoken token check: %s\n", qt_rc_str(rc));
        return tok_exit(c, rc);
    }
    for (size_t i = 0; i < n; i++) {
        struct qt_ks_token *t = NULL;
        struct qt_ks_token_info info;
        struct check_ctx k = {.label = paths[i]};
        uint64_t unverified = 0;

        rc = qt_ks_token_open(&c->env, paths[i], &t);
        if (rc == QT_OK) {
            rc = qt_ks_token_info(t, &info);
        }
        if (rc != QT_OK) {
            /* Unreadable: its label cannot be trusted, so report it always. */
            (void)printf("%s: DAMAGED: %s\n", paths[i], qt_rc_str(rc));
            ret = QT_EXIT_FAIL;
            qt_ks_token_close(t);
            continue;
        }
        if (o->label != NULL && strcmp(info.label, o->label) != 0) {
            qt_ks_token_close(t);
            continue;
        }
        seen++;
        k.label = info.label;
        if ((o->login || qt_cli_pin_available(o->pin_file, "QTOKEN_PIN")) &&
            (rc = login(t, o)) != QT_OK) {
            qt_ks_token_close(t);
            return tok_exit(c, rc);
        }
        rc = qt_ks_check_ex(t, on_damage, &k, &unverified);
        qt_ks_token_close(t);
        if (rc == QT_OK) {
            (void)printf("token '%s': ok (%llu objects", info.label,
                         (unsigned long long)info.objects);
            if (unverified > 0) {
                (void)printf("; %llu private objects' seals not opened: log in to check them",
                             (unsigned long long)unverified);
            }
            (void)printf(")\n");
        } else {
            (void)printf("token '%s': DAMAGED (%u problems)\n", info.label, k.problems);
            ret = QT_EXIT_FAIL;
        }
    }
    qt_ks_free_list(paths, n);
    if (o->label != NULL && seen == 0) {
        (void)fprintf(stderr, "qtoken token check: no token '%s'\n", o->label);
        return QT_EXIT_NOTFOUND;
    }
    return ret;
}

struct rekey_att {
    struct tok_ctx *c;
    struct qt_ks_token *t;
};

/* qt_ks_rekey_cb's hook: the `rekey` record, appended inside the rotation's
 * transaction (both commit or neither).  The master key was drawn already,
 * so the QRNG pipeline and DRBG exist: the record carries their evidence and
 * the key signs with the QRNG library context. */
static qt_rc
rekey_record(void *ctx, uint64_t generation)
{
    struct rekey_att *r = ctx;
    struct qt_att_key *ak = NULL;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    char note[64];
    struct qt_att_event ev = {.type = QT_ATT_EV_REKEY, .entropy = &en, .note = note};
    qt_rc rc;

    qt_attest_evidence(r->c->pipe, r->c->drbg, &di, &en);
    (void)snprintf(note, sizeof(note), "master key generation %llu, every object re-sealed",
                   (unsigned long long)generation);
    if ((rc = qt_att_key_open_conf(&r->c->conf,
                                   r->c->drbg != NULL ? qt_drbg_libctx(r->c->drbg) : NULL, 1,
                                   &ak)) != QT_OK) {
        return rc;
    }
    rc = qt_attest_token_event(r->t, ak, &ev, NULL);
    qt_att_key_free(ak);
    return rc;
}

static int
cmd_rekey_backup(struct tok_ctx *c, const struct tok_opts *o, int backup)
{
    struct qt_ks_token *t = NULL;
    qt_rc rc;

    if (o->label == NULL || (backup && o->out == NULL)) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if ((rc = open_label(c, o->label, &t)) != QT_OK || (rc = login(t, o)) != QT_OK) {
        goto out;
    }
    if (backup) {
        rc = qt_ks_backup(t, o->out);
    } else {
        struct rekey_att r = {.c = c, .t = t};

        rc = qt_ks_rekey_cb(t, rekey_record, &r);
    }
    if (rc != QT_OK) {
        (void)fprintf(stderr, "qtoken token %s: %s\n", backup ? "backup" : "rekey", qt_rc_str(rc));
    } else if (backup) {
        (void)printf("token '%s' backed up to %s (sealed; opens with a PIN)\n", o->label, o->out);
    } else {
        (void)printf("token '%s': new master key, every object re-sealed (attested)\n",
                     o->label);
    }
out:
    qt_ks_token_close(t);
    return tok_exit(c, rc);
}

static int
cmd_restore(struct tok_ctx *c, const struct tok_opts *o)
{
    struct qt_ks_token *t = NULL;
    struct qt_ks_token_info info;
    uint8_t *pin = qt_secret_alloc(QT_CLI_PIN_MAX);
    size_t len = 0;
    qt_rc rc = QT_E_NOMEM;

    if (o->in == NULL) {
        usage(stderr);
        qt_secret_free(pin, QT_CLI_PIN_MAX);
        return QT_EXIT_USAGE;
    }
    if (pin == NULL) {
        goto out;
    }
    if ((rc = qt_cli_pin_read(o->pin_file, "QTOKEN_PIN", o->so ? "SO PIN: " : "User PIN: ", pin,
                              QT_CLI_PIN_MAX, &len)) != QT_OK ||
        (rc = qt_ks_restore(&c->env, o->in, o->so ? QT_KS_SO : QT_KS_USER, pin, len, &t)) !=
            QT_OK ||
        (rc = qt_ks_token_info(t, &info)) != QT_OK) {
        (void)fprintf(stderr, "qtoken token restore: %s: %s\n", o->in, qt_rc_str(rc));
        goto out;
    }
    (void)printf("token '%s' restored: %s\n", info.label, info.path);
out:
    qt_ks_token_close(t);
    qt_secret_free(pin, QT_CLI_PIN_MAX);
    return tok_exit(c, rc);
}

int
qt_cmd_token(int argc, char **argv)
{
    struct tok_ctx *c;
    struct tok_opts o;
    const char *sub;
    int ret;

    if (argc < 2 || qt_cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? QT_EXIT_USAGE : QT_EXIT_OK;
    }
    sub = argv[1];
    if ((ret = parse(argc - 1, argv + 1, &o)) != QT_EXIT_OK) {
        return ret < 0 ? QT_EXIT_OK : ret;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return QT_EXIT_FAIL;
    }
    if ((ret = tok_setup(c)) != QT_EXIT_OK) {
        free(c);
        return ret;
    }
    if (strcmp(sub, "list") == 0) {
        ret = cmd_list(c, &o);
    } else if (strcmp(sub, "init") == 0) {
        ret = cmd_init(c, &o);
    } else if (strcmp(sub, "check") == 0) {
        ret = cmd_check(c, &o);
    } else if (strcmp(sub, "rekey") == 0) {
        ret = cmd_rekey_backup(c, &o, 0);
    } else if (strcmp(sub, "backup") == 0) {
        ret = cmd_rekey_backup(c, &o, 1);
    } else if (strcmp(sub, "restore") == 0) {
        ret = cmd_restore(c, &o);
    } else {
        (void)fprintf(stderr, "qtoken token: unknown command '%s'\n", sub);
        usage(stderr);
        ret = QT_EXIT_USAGE;
    }
    tok_teardown(c);
    free(c);
    return ret;
}
