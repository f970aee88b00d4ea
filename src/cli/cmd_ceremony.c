/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 'qtoken ceremony': a CA root key ceremony end to end, and the offline
 * check of its bundle.
 *
 * root-ca uses the token only through the PKCS#11 function list of the
 * module (dlopen; path from --module, else $QTOKEN_MODULE, else
 * $QTOKEN_PKCS11_MODULE, else the installed module, else the build tree's
 * pkcs11/libqtoken-pkcs11.so beside the qtoken binary's directory): fresh
 * device health test, login, key pair generated in the token (sensitive,
 * never extractable, random CKA_ID), a self-signed CA certificate whose
 * TBSCertificate is built with OpenSSL and signed inside the token with
 * C_Sign, the certificate stored on the token with the key's CKA_ID, then
 * the bundle: root.pem, attestation.jsonl, root-attestation.pem,
 * attestation-key.pem, attestation-ca.pem and transcript.txt (FORMAT.md 5).
 * A failure after the key exists destroys it (the module attests the
 * destruction) and appends a "ceremony" record saying why.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <p11-kit/pkcs11.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../../attest/att.h"
#include "../../device/dev.h"
#include "../common/buf.h"
#include "../common/check.h"
#include "../common/mem.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "cmd_attest.h"

#define CMD "qtoken ceremony"
#define MODULE_NAME "libqtoken-pkcs11.so"
#define SELFTEST_SAMPLES 4096
#define PIN_MAX 256

#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif

/* ------------------------------------------------------------------------
 * Key types
 */

struct key_type {
    const char *name;
    CK_KEY_TYPE ckk;
    CK_MECHANISM_TYPE gen;
    const char *gen_name;
    CK_MECHANISM_TYPE sign;
    int curve_nid;          /* EC / Edwards */
    CK_ULONG bits;          /* RSA */
    const char *md;         /* digest for the certificate signature; NULL: EdDSA */
    int sig_nid;            /* certificate signatureAlgorithm */
};

static const struct key_type key_types[] = {
    {"ec:P-256", CKK_EC, CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", CKM_ECDSA,
     NID_X9_62_prime256v1, 0, "SHA256", NID_ecdsa_with_SHA256},
    {"ec:P-384", CKK_EC, CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", CKM_ECDSA, NID_secp384r1, 0,
     "SHA384", NID_ecdsa_with_SHA384},
    {"ec:P-521", CKK_EC, CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", CKM_ECDSA, NID_secp521r1, 0,
     "SHA512", NID_ecdsa_with_SHA512},
    {"rsa:3072", CKK_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN",
     CKM_SHA256_RSA_PKCS, 0, 3072, "SHA256", NID_sha256WithRSAEncryption},
    {"rsa:4096", CKK_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN",
     CKM_SHA384_RSA_PKCS, 0, 4096, "SHA384", NID_sha384WithRSAEncryption},
    {"ed25519", CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN",
     CKM_EDDSA, NID_ED25519, 0, NULL, NID_ED25519},
};

static const struct key_type *
key_type_find(const char *name)
{
    for (size_t i = 0; i < QT_ARRAY_LEN(key_types); i++) {
        if (strcasecmp(name, key_types[i].name) == 0) {
            return &key_types[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * The ceremony's state and transcript
 */

struct ceremony {
    /* options */
    const char *token, *subject, *out, *pin_file, *module, *label;
    const struct key_type *kt;
    long days;
    int allow_sim;
    /* installation */
    struct qt_conf conf;
    struct qt_attest_qrng q;
    struct qt_att_key *att;
    struct qt_dev_info dev;
    struct qt_ent_stats stats;
    /* module */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int initialized, logged_in;
    CK_SESSION_HANDLE s;
    CK_SLOT_ID slot;
    char token_serial[17];
    CK_OBJECT_HANDLE pub, priv, cert_obj;
    uint8_t id[16];
    char id_hex[33];
    /* results */
    EVP_PKEY *pubkey;
    X509 *root;
    char spki[QT_ATT_HASH_HEX];
    char cert_fp[QT_ATT_HASH_HEX];
    X509 *acert, *ca;               /* the key's attestation certificate, its issuer */
    uint64_t rec_seq;               /* the key's generation record */
    char rec_hash[QT_ATT_HASH_HEX];
    /* transcript */
    FILE *tr;
    char *tr_text;
    size_t tr_len;
    int step;
};

static void tr_line(struct ceremony *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tr_line(struct ceremony *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vfprintf(c->tr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', c->tr);
}

static void step_done(struct ceremony *c, int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One step's result: in the transcript and on stderr. */
static void
step_done(struct ceremony *c, int ok, const char *what, const char *fmt, ...)
{
    char detail[512] = "";
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;

    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    (void)strftime(when, sizeof(when), "%H:%M:%SZ", gmtime_r(&now, &tm));
    c->step++;
    (void)fprintf(c->tr, "step %2d  %s  %-4s %s%s%s\n", c->step, when, ok ? "OK" : "FAIL", what,
                  detail[0] != '\0' ? ": " : "", detail);
    (void)fprintf(stderr, "%s %s%s%s\n", ok ? "[ OK ]" : "[FAIL]", what,
                  detail[0] != '\0' ? ": " : "", detail);
}

static const char *
ckr_text(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return "CKR_OK";
    case CKR_PIN_INCORRECT:
        return "CKR_PIN_INCORRECT (wrong PIN)";
    case CKR_PIN_LOCKED:
        return "CKR_PIN_LOCKED (the token's user PIN is locked)";
    case CKR_USER_PIN_NOT_INITIALIZED:
        return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_DEVICE_ERROR:
        return "CKR_DEVICE_ERROR (entropy source failed its health test)";
    case CKR_TOKEN_NOT_PRESENT:
        return "CKR_TOKEN_NOT_PRESENT";
    case CKR_MECHANISM_INVALID:
        return "CKR_MECHANISM_INVALID (mechanism not supported by the token)";
    case CKR_TEMPLATE_INCONSISTENT:
        return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_FUNCTION_FAILED:
        return "CKR_FUNCTION_FAILED";
    case CKR_GENERAL_ERROR:
        return "CKR_GENERAL_ERROR";
    default:
        return NULL;
    }
}

static const char *
rv_str(CK_RV rv)
{
    static __thread char buf[32];
    const char *t = ckr_text(rv);

    if (t != NULL) {
        return t;
    }
    (void)snprintf(buf, sizeof(buf), "CK_RV 0x%08lx", (unsigned long)rv);
    return buf;
}

static int
exit_for_rv(CK_RV rv)
{
    if (rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED) {
        return QT_EXIT_HEALTH;
    }
    return QT_EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * PIN: --pin-file, else $QTOKEN_PIN, else a prompt on the terminal (no echo)
 */

static int
read_pin(struct ceremony *c, char *pin, size_t cap, size_t *len)
{
    const char *env = getenv("QTOKEN_PIN");
    FILE *f = NULL;
    struct termios old, noecho;
    int tty_changed = 0;
    size_t n;

    if (c->pin_file != NULL) {
        f = fopen(c->pin_file, "r");
        if (f == NULL) {
            (void)fprintf(stderr, CMD ": cannot read the PIN file %s: %s\n", c->pin_file,
                          strerror(errno));
            return -1;
        }
        n = fread(pin, 1, cap - 1, f);
        (void)fclose(f);
        pin[n] = '\0';
    } else if (env != NULL) {
        n = strlen(env);
        if (n >= cap) {
            return -1;
        }
        memcpy(pin, env, n + 1);
    } else {
        f = fopen("/dev/tty", "r+");
        if (f == NULL) {
            (void)fprintf(stderr, CMD ": no terminal for the PIN prompt: use --pin-file FILE "
                                  "or QTOKEN_PIN\n");
            return -1;
        }
        (void)fprintf(f, "User PIN for token '%s': ", c->token);
        (void)fflush(f);
        if (tcgetattr(fileno(f), &old) == 0) {
            noecho = old;
            noecho.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
            tty_changed = tcsetattr(fileno(f), TCSAFLUSH, &noecho) == 0;
        }
        if (fgets(pin, (int)cap, f) == NULL) {
            pin[0] = '\0';
        }
        if (tty_changed) {
            (void)tcsetattr(fileno(f), TCSAFLUSH, &old);
        }
        (void)fputc('\n', f);
        (void)fclose(f);
    }
    n = strlen(pin);
    while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r')) {
        pin[--n] = '\0';
    }
    *len = n;
    return n > 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * The module
 */

static int
file_exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int
module_path(const char *opt, char *out, size_t outlen)
{
    const char *env[] = {"QTOKEN_MODULE", "QTOKEN_PKCS11_MODULE"};
    char exe[PATH_MAX];
    ssize_t n;

    if (opt != NULL) {
        (void)snprintf(out, outlen, "%s", opt);
        return 0;
    }
    for (size_t i = 0; i < QT_ARRAY_LEN(env); i++) {
        const char *v = getenv(env[i]);
        if (v != NULL && v[0] != '\0') {
            (void)snprintf(out, outlen, "%s", v);
            return 0;
        }
    }
#ifdef QT_P11_MODULE_PATH
    if (file_exists(QT_P11_MODULE_PATH)) {
        (void)snprintf(out, outlen, "%s", QT_P11_MODULE_PATH);
        return 0;
    }
#endif
    {
        static const char *const installed[] = {
            "/usr/lib/x86_64-linux-gnu/pkcs11/" MODULE_NAME,
            "/usr/lib/aarch64-linux-gnu/pkcs11/" MODULE_NAME,
            "/usr/lib/pkcs11/" MODULE_NAME,
            "/usr/local/lib/x86_64-linux-gnu/pkcs11/" MODULE_NAME,
            "/usr/local/lib/pkcs11/" MODULE_NAME,
        };
        for (size_t i = 0; i < QT_ARRAY_LEN(installed); i++) {
            if (file_exists(installed[i])) {
                (void)snprintf(out, outlen, "%s", installed[i]);
                return 0;
            }
        }
    }
    /* The build tree: <build>/src/cli/qtoken and <build>/pkcs11/<module>. */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (snprintf(out, outlen, "%s/../../pkcs11/%s", exe, MODULE_NAME) < (int)outlen &&
                file_exists(out)) {
                return 0;
            }
        }
    }
    return -1;
}

static int
module_load(struct ceremony *c)
{
    char path[PATH_MAX + 64];
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    if (module_path(c->module, path, sizeof(path)) != 0) {
        step_done(c, 0, "load the PKCS#11 module", "not found: use --module PATH or QTOKEN_MODULE");
        return QT_EXIT_USAGE;
    }
    c->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (c->dl == NULL) {
        step_done(c, 0, "load the PKCS#11 module", "%s: %s", path, dlerror());
        return QT_EXIT_USAGE;
    }
    *(void **)(&get) = dlsym(c->dl, "C_GetFunctionList");
    if (get == NULL || get(&c->f) != CKR_OK || c->f == NULL) {
        step_done(c, 0, "load the PKCS#11 module", "%s: no C_GetFunctionList", path);
        return QT_EXIT_FAIL;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = c->f->C_Initialize(&args);
    if (rv != CKR_OK) {
        step_done(c, 0, "initialise the PKCS#11 module", "%s", rv_str(rv));
        return exit_for_rv(rv);
    }
    c->initialized = 1;
    step_done(c, 1, "load the PKCS#11 module", "%s", path);
    tr_line(c, "         module: %s", path);
    return QT_EXIT_OK;
}

static void
module_unload(struct ceremony *c)
{
    if (c->f != NULL) {
        if (c->logged_in) {
            (void)c->f->C_Logout(c->s);
            c->logged_in = 0;
        }
        if (c->s != CK_INVALID_HANDLE) {
            (void)c->f->C_CloseSession(c->s);
            c->s = CK_INVALID_HANDLE;
        }
        if (c->initialized) {
            (void)c->f->C_Finalize(NULL);
            c->initialized = 0;
        }
    }
    c->f = NULL;
    if (c->dl != NULL) {
        (void)dlclose(c->dl);
        c->dl = NULL;
    }
}

static void
unpad(char *out, const CK_UTF8CHAR *in, size_t n)
{
    memcpy(out, in, n);
    out[n] = '\0';
    while (n > 0 && out[n - 1] == ' ') {
        out[--n] = '\0';
    }
}

static int
find_token(struct ceremony *c)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    CK_RV rv;
    int found = 0;

    rv = c->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv == CKR_OK && n > 0) {
        slots = calloc(n, sizeof(*slots));
        rv = slots == NULL ? CKR_HOST_MEMORY : c->f->C_GetSlotList(CK_TRUE, slots, &n);
    }
    for (CK_ULONG i = 0; rv == CKR_OK && i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        char label[33];
        if (c->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) {
            continue;
        }
        unpad(label, ti.label, sizeof(ti.label));
        if (strcmp(label, c->token) == 0) {
            c->slot = slots[i];
            unpad(c->token_serial, ti.serialNumber, sizeof(ti.serialNumber));
            found = 1;
        }
    }
    free(slots);
    if (!found) {
        if (rv != CKR_OK) {
            step_done(c, 0, "find the token", "C_GetSlotList: %s", rv_str(rv));
        } else {
            step_done(c, 0, "find the token", "no token labelled '%s'", c->token);
        }
        return QT_EXIT_NOTFOUND;
    }
    step_done(c, 1, "find the token", "'%s' serial %s in slot %lu", c->token, c->token_serial,
              (unsigned long)c->slot);
    tr_line(c, "         token: label '%s', serial %s", c->token, c->token_serial);
    return QT_EXIT_OK;
}

static int
open_and_login(struct ceremony *c)
{
    char *pin = qt_secret_alloc(PIN_MAX);
    size_t pin_len = 0;
    CK_RV rv;
    int ex = QT_EXIT_FAIL;

    if (pin == NULL) {
        return QT_EXIT_FAIL;
    }
    rv = c->f->C_OpenSession(c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s);
    if (rv != CKR_OK) {
        c->s = CK_INVALID_HANDLE;
        step_done(c, 0, "open a read/write session", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    if (read_pin(c, pin, PIN_MAX, &pin_len) != 0) {
        step_done(c, 0, "log in", "no PIN given");
        ex = QT_EXIT_USAGE;
        goto out;
    }
    rv = c->f->C_Login(c->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        step_done(c, 0, "log in as the token user", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    c->logged_in = 1;
    step_done(c, 1, "log in as the token user", NULL);
    ex = QT_EXIT_OK;
out:
    qt_secret_free(pin, PIN_MAX);
    return ex;
}

static int
label_in_use(struct ceremony *c, CK_RV *rv)
{
    CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)(uintptr_t)c->label, strlen(c->label)}};
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;

    *rv = c->f->C_FindObjectsInit(c->s, t, 1);
    if (*rv != CKR_OK) {
        return -1;
    }
    *rv = c->f->C_FindObjects(c->s, &h, 1, &n);
    (void)c->f->C_FindObjectsFinal(c->s);
    return *rv == CKR_OK ? (n > 0) : -1;
}

/* ------------------------------------------------------------------------
 * Key pair
 */

static int
generate_key(struct ceremony *c)
{
    const struct key_type *kt = c->kt;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = {kt->gen, NULL, 0};
    CK_ULONG bits = kt->bits;
    CK_BYTE exp[] = {0x01, 0x00, 0x01};
    unsigned char params[32], *pp = params;
    int plen = 0;
    CK_ATTRIBUTE pub[8], priv[10];
    CK_ULONG np = 0, nv = 0;
    CK_RV rv;
    CK_RV lrv;
    int used;

    used = label_in_use(c, &lrv);
    if (used != 0) {
        step_done(c, 0, "check the key label", used > 0 ? "an object labelled '%s' already "
                                                          "exists on the token" : "'%s': %s",
                  c->label, used > 0 ? "" : rv_str(lrv));
        return used > 0 ? QT_EXIT_FAIL : exit_for_rv(lrv);
    }
    step_done(c, 1, "check the key label", "'%s' is free", c->label);

    /* CKA_ID: random, from the token's QRNG. */
    rv = c->f->C_GenerateRandom(c->s, c->id, sizeof(c->id));
    if (rv != CKR_OK) {
        step_done(c, 0, "draw a random CKA_ID", "%s", rv_str(rv));
        return exit_for_rv(rv);
    }
    qt_hex(c->id_hex, c->id, sizeof(c->id));

    if (kt->curve_nid != NID_undef && kt->curve_nid != 0) {
        ASN1_OBJECT *o = OBJ_nid2obj(kt->curve_nid);
        plen = o != NULL ? i2d_ASN1_OBJECT(o, &pp) : -1;
        if (plen <= 0) {
            return QT_EXIT_FAIL;
        }
    }
#define ADD(arr, n, t, p, l)                                                                       \
    do {                                                                                           \
        arr[n].type = (t);                                                                         \
        arr[n].pValue = (void *)(p);                                                               \
        arr[n].ulValueLen = (CK_ULONG)(l);                                                         \
        n++;                                                                                       \
    } while (0)
    ADD(pub, np, CKA_TOKEN, &yes, sizeof(yes));
    ADD(pub, np, CKA_PRIVATE, &no, sizeof(no));
    ADD(pub, np, CKA_VERIFY, &yes, sizeof(yes));
    ADD(pub, np, CKA_LABEL, c->label, strlen(c->label));
    ADD(pub, np, CKA_ID, c->id, sizeof(c->id));
    if (kt->ckk == CKK_RSA) {
        ADD(pub, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
        ADD(pub, np, CKA_PUBLIC_EXPONENT, exp, sizeof(exp));
    } else {
        ADD(pub, np, CKA_EC_PARAMS, params, plen);
    }
    ADD(priv, nv, CKA_TOKEN, &yes, sizeof(yes));
    ADD(priv, nv, CKA_PRIVATE, &yes, sizeof(yes));
    ADD(priv, nv, CKA_SENSITIVE, &yes, sizeof(yes));
    ADD(priv, nv, CKA_EXTRACTABLE, &no, sizeof(no));
    ADD(priv, nv, CKA_SIGN, &yes, sizeof(yes));
    ADD(priv, nv, CKA_DECRYPT, &no, sizeof(no));
    ADD(priv, nv, CKA_UNWRAP, &no, sizeof(no));
    ADD(priv, nv, CKA_DERIVE, &no, sizeof(no));
    ADD(priv, nv, CKA_LABEL, c->label, strlen(c->label));
    ADD(priv, nv, CKA_ID, c->id, sizeof(c->id));
#undef ADD
    rv = c->f->C_GenerateKeyPair(c->s, &mech, pub, np, priv, nv, &c->pub, &c->priv);
    if (rv != CKR_OK) {
        c->pub = c->priv = CK_INVALID_HANDLE;
        step_done(c, 0, "generate the root key pair in the token", "%s %s", kt->name,
                  rv_str(rv));
        return exit_for_rv(rv);
    }
    step_done(c, 1, "generate the root key pair in the token",
              "%s via %s, CKA_ID %s, sensitive, never extractable", kt->name, kt->gen_name,
              c->id_hex);
    return QT_EXIT_OK;
}

/* Reads the public key back from the token. */
static int
read_public_key(struct ceremony *c)
{
    CK_ATTRIBUTE_TYPE types[] = {CKA_KEY_TYPE, CKA_EC_PARAMS, CKA_EC_POINT, CKA_MODULUS,
                                 CKA_PUBLIC_EXPONENT};
    struct qt_attr attrs[QT_ARRAY_LEN(types)];
    size_t n = 0;
    CK_BBOOL sens = CK_FALSE, ext = CK_TRUE, nev = CK_FALSE;
    CK_ATTRIBUTE pol[] = {{CKA_SENSITIVE, &sens, sizeof(sens)},
                          {CKA_EXTRACTABLE, &ext, sizeof(ext)},
                          {CKA_NEVER_EXTRACTABLE, &nev, sizeof(nev)}};
    CK_RV rv;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    memset(attrs, 0, sizeof(attrs));
    for (size_t i = 0; i < QT_ARRAY_LEN(types); i++) {
        CK_ATTRIBUTE a = {types[i], NULL, 0};
        if (c->f->C_GetAttributeValue(c->s, c->pub, &a, 1) != CKR_OK ||
            a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0) {
            continue;
        }
        a.pValue = malloc(a.ulValueLen);
        if (a.pValue == NULL) {
            goto out;
        }
        if (c->f->C_GetAttributeValue(c->s, c->pub, &a, 1) != CKR_OK) {
            free(a.pValue);
            continue;
        }
        attrs[n].type = types[i];
        attrs[n].val = a.pValue;
        attrs[n].len = a.ulValueLen;
        n++;
    }
    rc = qt_attest_pubkey_from_attrs(attrs, n, &c->pubkey);
    if (rc != QT_OK || qt_att_spki_sha256(c->pubkey, c->spki) != QT_OK) {
        step_done(c, 0, "read the public key", "%s", qt_rc_str(rc));
        goto out;
    }
    /* The private key's policy as the token reports it. */
    rv = c->f->C_GetAttributeValue(c->s, c->priv, pol, QT_ARRAY_LEN(pol));
    if (rv != CKR_OK || sens != CK_TRUE || ext != CK_FALSE || nev != CK_TRUE) {
        step_done(c, 0, "check the private key's policy", "sensitive=%d extractable=%d "
                  "never_extractable=%d (%s)", sens, ext, nev, rv_str(rv));
        goto out;
    }
    step_done(c, 1, "read the public key", "SPKI SHA-256 %s", c->spki);
    tr_line(c, "         private key policy: CKA_SENSITIVE true, CKA_EXTRACTABLE false, "
               "CKA_NEVER_EXTRACTABLE true");
    ex = QT_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++) {
        free(attrs[i].val);
    }
    return ex;
}

/* ------------------------------------------------------------------------
 * The self-signed certificate, signed inside the token
 */

static qt_rc
parse_dn(const char *s, X509_NAME **out)
{
    X509_NAME *name = X509_NAME_new();
    char *copy = strdup(s), *save = NULL, *tok;
    char sep[2] = {s[0] == '/' ? '/' : ',', '\0'};
    qt_rc rc = QT_OK;

    if (name == NULL || copy == NULL) {
        X509_NAME_free(name);
        free(copy);
        return QT_E_NOMEM;
    }
    for (tok = strtok_r(copy, sep, &save); tok != NULL && rc == QT_OK;
         tok = strtok_r(NULL, sep, &save)) {
        char *eq;
        while (*tok == ' ') {
            tok++;
        }
        eq = strchr(tok, '=');
        if (eq == NULL || eq == tok || eq[1] == '\0') {
            rc = QT_E_CONFIG;
            break;
        }
        *eq = '\0';
        if (X509_NAME_add_entry_by_txt(name, tok, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
                                       0) != 1) {
            rc = QT_E_CONFIG;
        }
    }
    if (rc == QT_OK && X509_NAME_entry_count(name) == 0) {
        rc = QT_E_CONFIG;
    }
    free(copy);
    if (rc != QT_OK) {
        X509_NAME_free(name);
        return rc;
    }
    *out = name;
    return QT_OK;
}

static qt_rc
add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return QT_E_CRYPTO;
    }
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return qt_ossl(ok, QT_E_CRYPTO);
}

/* ECDSA R||S (each half n bytes) -> DER ECDSA-Sig-Value. */
static qt_rc
ecdsa_raw_to_der(const uint8_t *raw, size_t len, unsigned char **der, int *derlen)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    qt_rc rc = QT_E_CRYPTO;

    if (sig != NULL && r != NULL && s != NULL && len % 2 == 0 && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;
        *der = NULL;
        *derlen = i2d_ECDSA_SIG(sig, der);
        rc = *derlen > 0 ? QT_OK : QT_E_CRYPTO;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
static qt_rc
assemble_cert(const unsigned char *tbs, int tbslen, const X509_ALGOR *alg,
              const unsigned char *sig, int siglen, X509 **out)
{
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    unsigned char *algder = NULL, *bsder = NULL, *cert = NULL, *p;
    const unsigned char *cp;
    int alglen, bslen, body, total;
    qt_rc rc = QT_E_CRYPTO;

    if (bs == NULL || ASN1_BIT_STRING_set(bs, (unsigned char *)(uintptr_t)sig, siglen) != 1) {
        goto out;
    }
    /* No unused bits: a whole-byte signature value. */
    bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    alglen = i2d_X509_ALGOR(alg, &algder);
    bslen = i2d_ASN1_BIT_STRING(bs, &bsder);
    if (alglen <= 0 || bslen <= 0) {
        goto out;
    }
    body = tbslen + alglen + bslen;
    total = ASN1_object_size(1, body, V_ASN1_SEQUENCE);
    cert = OPENSSL_malloc((size_t)total);
    if (total <= 0 || cert == NULL) {
        goto out;
    }
    p = cert;
    ASN1_put_object(&p, 1, body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, tbs, (size_t)tbslen);
    p += tbslen;
    memcpy(p, algder, (size_t)alglen);
    p += alglen;
    memcpy(p, bsder, (size_t)bslen);
    cp = cert;
    *out = d2i_X509(NULL, &cp, total);
    rc = *out != NULL ? QT_OK : QT_E_CRYPTO;
out:
    OPENSSL_free(cert);
    OPENSSL_free(algder);
    OPENSSL_free(bsder);
    ASN1_BIT_STRING_free(bs);
    return rc;
}

static int
make_certificate(struct ceremony *c)
{
    const struct key_type *kt = c->kt;
    X509 *tmpl = X509_new();
    X509_NAME *name = NULL;
    X509_ALGOR *alg = X509_ALGOR_new();
    unsigned char *tbs = NULL, *der = NULL;
    uint8_t serial[16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    CK_BYTE *sig = NULL;
    CK_ULONG siglen = 0;
    CK_MECHANISM mech = {kt->sign, NULL, 0};
    BIGNUM *bn = NULL;
    int tbslen, derlen = 0;
    CK_RV rv;
    int ex = QT_EXIT_FAIL;

    if (tmpl == NULL || alg == NULL || parse_dn(c->subject, &name) != QT_OK) {
        step_done(c, 0, "build the certificate", "bad subject '%s'", c->subject);
        goto out;
    }
    rv = c->f->C_GenerateRandom(c->s, serial, sizeof(serial));
    if (rv != CKR_OK) {
        step_done(c, 0, "draw the certificate serial", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    /* The signature algorithm goes in the TBSCertificate and outside it. */
    if (bn == NULL ||
        X509_ALGOR_set0(alg, OBJ_nid2obj(kt->sig_nid),
                        kt->ckk == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) != 1 ||
        X509_ALGOR_set0((X509_ALGOR *)(uintptr_t)X509_get0_tbs_sigalg(tmpl),
                        OBJ_nid2obj(kt->sig_nid), kt->ckk == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF,
                        NULL) != 1 ||
        X509_set_version(tmpl, X509_VERSION_3) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(tmpl)) == NULL ||
        X509_set_subject_name(tmpl, name) != 1 || X509_set_issuer_name(tmpl, name) != 1 ||
        X509_set_pubkey(tmpl, c->pubkey) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(tmpl), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(tmpl), (int)c->days, 0, NULL) == NULL ||
        add_ext(tmpl, NID_basic_constraints, "critical,CA:TRUE") != QT_OK ||
        add_ext(tmpl, NID_key_usage, "critical,keyCertSign,cRLSign") != QT_OK ||
        add_ext(tmpl, NID_subject_key_identifier, "hash") != QT_OK ||
        add_ext(tmpl, NID_authority_key_identifier, "keyid:always") != QT_OK) {
        step_done(c, 0, "build the certificate", "OpenSSL refused the TBSCertificate");
        goto out;
    }
    tbslen = i2d_re_X509_tbs(tmpl, &tbs);
    if (tbslen <= 0) {
        goto out;
    }
    step_done(c, 1, "build the TBSCertificate", "%d bytes, %s", tbslen, OBJ_nid2sn(kt->sig_nid));

    /* Sign inside the token: ECDSA over our digest, RSA and EdDSA over the TBS. */
    if (kt->ckk == CKK_EC) {
        if (EVP_Digest(tbs, (size_t)tbslen, md, &mdlen, EVP_get_digestbyname(kt->md), NULL) != 1) {
            goto out;
        }
    }
    rv = c->f->C_SignInit(c->s, &mech, c->priv);
    if (rv == CKR_OK) {
        rv = kt->ckk == CKK_EC ? c->f->C_Sign(c->s, md, mdlen, NULL, &siglen)
                               : c->f->C_Sign(c->s, tbs, (CK_ULONG)tbslen, NULL, &siglen);
    }
    if (rv == CKR_OK) {
        sig = malloc(siglen);
        rv = sig == NULL ? CKR_HOST_MEMORY
             : kt->ckk == CKK_EC ? c->f->C_Sign(c->s, md, mdlen, sig, &siglen)
                                 : c->f->C_Sign(c->s, tbs, (CK_ULONG)tbslen, sig, &siglen);
    }
    if (rv != CKR_OK) {
        step_done(c, 0, "sign the certificate inside the token (C_Sign)", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    if (kt->ckk == CKK_EC) {
        if (ecdsa_raw_to_der(sig, siglen, &der, &derlen) != QT_OK) {
            goto out;
        }
    }
    if (assemble_cert(tbs, tbslen, alg, der != NULL ? der : sig,
                      der != NULL ? derlen : (int)siglen, &c->root) != QT_OK) {
        step_done(c, 0, "assemble the certificate", NULL);
        goto out;
    }
    /* The token's signature must verify with the attested public key. */
    if (X509_verify(c->root, c->pubkey) != 1) {
        step_done(c, 0, "sign the certificate inside the token (C_Sign)",
                  "the signature does not verify");
        goto out;
    }
    {
        unsigned char fp[32];
        unsigned int fplen = 0;
        if (X509_digest(c->root, EVP_sha256(), fp, &fplen) != 1) {
            goto out;
        }
        qt_hex(c->cert_fp, fp, 32);
    }
    step_done(c, 1, "sign the certificate inside the token (C_Sign)",
              "%lu-byte signature verifies; certificate SHA-256 %s", (unsigned long)siglen,
              c->cert_fp);
    ex = QT_EXIT_OK;
out:
    BN_free(bn);
    free(sig);
    OPENSSL_free(der);
    OPENSSL_free(tbs);
    X509_ALGOR_free(alg);
    X509_NAME_free(name);
    X509_free(tmpl);
    return ex;
}

static int
store_certificate(struct ceremony *c)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    unsigned char *value = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
    int vl = i2d_X509(c->root, &value);
    int sl = i2d_X509_NAME(X509_get_subject_name(c->root), &subj);
    int il = i2d_X509_NAME(X509_get_issuer_name(c->root), &iss);
    int nl = i2d_ASN1_INTEGER(X509_get_serialNumber(c->root), &ser);
    CK_RV rv = CKR_HOST_MEMORY;

    if (vl > 0 && sl > 0 && il > 0 && nl > 0) {
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof(cls)},
            {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_PRIVATE, &no, sizeof(no)},
            {CKA_LABEL, (void *)(uintptr_t)c->label, strlen(c->label)},
            {CKA_ID, c->id, sizeof(c->id)},
            {CKA_SUBJECT, subj, (CK_ULONG)sl},
            {CKA_ISSUER, iss, (CK_ULONG)il},
            {CKA_SERIAL_NUMBER, ser, (CK_ULONG)nl},
            {CKA_VALUE, value, (CK_ULONG)vl},
        };
        rv = c->f->C_CreateObject(c->s, t, QT_ARRAY_LEN(t), &c->cert_obj);
    }
    OPENSSL_free(value);
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    OPENSSL_free(ser);
    if (rv != CKR_OK) {
        c->cert_obj = CK_INVALID_HANDLE;
        step_done(c, 0, "store the certificate on the token", "%s", rv_str(rv));
        return exit_for_rv(rv);
    }
    step_done(c, 1, "store the certificate on the token", "CKO_CERTIFICATE, CKA_ID %s, label '%s'",
              c->id_hex, c->label);
    return QT_EXIT_OK;
}

/* Destroys whatever the failed ceremony made on the token. */
static void
destroy_partial(struct ceremony *c)
{
    CK_OBJECT_HANDLE *hs[] = {&c->cert_obj, &c->priv, &c->pub};
    const char *what[] = {"certificate", "private key", "public key"};

    if (c->f == NULL || c->s == CK_INVALID_HANDLE) {
        return;
    }
    for (size_t i = 0; i < QT_ARRAY_LEN(hs); i++) {
        if (*hs[i] != CK_INVALID_HANDLE) {
            CK_RV rv = c->f->C_DestroyObject(c->s, *hs[i]);
            step_done(c, rv == CKR_OK, "destroy the half-made object", "%s: %s", what[i],
                      rv_str(rv));
            if (rv == CKR_OK) {
                *hs[i] = CK_INVALID_HANDLE;
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * Device health, entropy evidence
 */

static void
evidence(struct ceremony *c, struct qt_att_entropy *en)
{
    memset(en, 0, sizeof(*en));
    qt_ent_pipeline_stats(c->q.pipe, &c->stats);
    en->device_type = c->dev.type;
    en->device_serial = c->dev.serial;
    en->simulated = c->dev.simulated;
    en->h_declared = c->stats.h_declared;
    en->h_estimate = c->stats.h_estimate;
    en->raw_samples = c->stats.raw_samples;
    en->startup_runs = c->stats.startup_runs;
    en->failures_rct = c->stats.failures_rct;
    en->failures_apt = c->stats.failures_apt;
    en->failures_block_repeat = c->stats.failures_block_repeat;
    en->failures_estimate = c->stats.failures_estimate;
    en->failures_read = c->stats.failures_read;
    en->state = c->stats.state;
    en->reseeds = c->stats.reseeds;
}

static int
check_device(struct ceremony *c)
{
    struct qt_ent_failure fail;
    qt_rc rc;

    rc = qt_attest_key_open(&c->conf, 1, 1, &c->q, &c->att);
    if (rc != QT_OK) {
        step_done(c, 0, "open the entropy source and the attestation key", "%s", qt_rc_str(rc));
        return rc == QT_E_HEALTH || rc == QT_E_DEVICE || rc == QT_E_TIMEOUT ? QT_EXIT_HEALTH
                                                                           : QT_EXIT_FAIL;
    }
    qt_ent_pipeline_dev_info(c->q.pipe, &c->dev);
    tr_line(c, "         device: %s, serial %s, %u-bit samples, declared H %.4f bits/sample%s",
            c->dev.type, c->dev.serial, c->dev.bits, c->dev.h_declared,
            c->dev.simulated ? ", SIMULATED (not quantum)" : "");
    if (c->dev.detail[0] != '\0') {
        tr_line(c, "         device detail: %s", c->dev.detail);
    }
    if (c->dev.simulated && !c->allow_sim) {
        step_done(c, 0, "check the entropy device", "the device is the simulator 'sim', not a "
                  "QRNG: refused (use --allow-sim for a demonstration)");
        return QT_EXIT_USAGE;
    }
    memset(&fail, 0, sizeof(fail));
    rc = qt_ent_pipeline_selftest(c->q.pipe, SELFTEST_SAMPLES, &fail);
    qt_ent_pipeline_stats(c->q.pipe, &c->stats);
    if (rc != QT_OK) {
        step_done(c, 0, "fresh start-up and health test", "%s at sample %llu: %s",
                  qt_ent_test_name(fail.test), (unsigned long long)fail.sample_index, fail.detail);
        return QT_EXIT_HEALTH;
    }
    step_done(c, 1, "fresh start-up and health test",
              "%s device, %d raw samples, H estimate %.4f (declared %.4f), no failure",
              c->dev.type, SELFTEST_SAMPLES, c->stats.h_estimate, c->stats.h_declared);
    tr_line(c, "         attestation key: %s, SPKI SHA-256 %s", qt_att_key_alg(c->att),
            qt_att_key_fingerprint(c->att));
    return QT_EXIT_OK;
}

/* Appends a "ceremony" record (completion or abort) through the keystore. */
static void
attest_note(struct ceremony *c, const char *note, int with_key)
{
    struct qt_att_entropy en;
    struct qt_att_key_desc kd;
    struct qt_att_event ev;
    uint64_t seq = 0;
    qt_rc rc;

    if (c->att == NULL) {
        return;
    }
    evidence(c, &en);
    memset(&kd, 0, sizeof(kd));
    memset(&ev, 0, sizeof(ev));
    ev.type = QT_ATT_EV_CEREMONY;
    ev.entropy = &en;
    ev.note = note;
    if (with_key && c->pubkey != NULL) {
        kd.mechanism = c->kt->gen_name;
        kd.label = c->label;
        kd.id = c->id;
        kd.id_len = sizeof(c->id);
        kd.is_pair = 1;
        kd.has_spki = 1;
        for (size_t i = 0; i < 32; i++) {
            unsigned v;
            (void)sscanf(c->spki + 2 * i, "%2x", &v);
            kd.spki_sha256[i] = (uint8_t)v;
        }
        ev.key = &kd;
    }
    rc = qt_attest_append(&c->conf, c->token, c->att, &ev, &seq);
    step_done(c, rc == QT_OK, "attest the ceremony in the token's log", "%s%s",
              rc == QT_OK ? "" : qt_rc_str(rc), rc == QT_OK ? note : "");
}

/* ------------------------------------------------------------------------
 * The bundle
 */

static qt_rc
write_pem_x509(const char *path, X509 *x)
{
    char *pem = NULL;
    qt_rc rc = qt_att_cert_pem(x, &pem);

    if (rc == QT_OK) {
        rc = qt_attest_write_file(path, pem, 0);
    }
    free(pem);
    return rc;
}

/* While the key can still be destroyed: its generation record must be in
 * the verified log, and it gets its attestation certificate. */
static int
attest_root_key(struct ceremony *c)
{
    struct qt_att_log log;
    struct qt_att_verify_result res;
    size_t idx;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    memset(&res, 0, sizeof(res));
    qt_att_log_init(&log);
    if ((rc = qt_attest_read_token_log(&c->conf, c->token, &log, NULL)) != QT_OK ||
        (rc = qt_att_log_verify(&log, qt_att_key_pkey(c->att), &res)) != QT_OK) {
        step_done(c, 0, "read and verify the token's attestation log", "%s",
                  res.reason[0] != '\0' ? res.reason : qt_rc_str(rc));
        goto out;
    }
    step_done(c, 1, "read and verify the token's attestation log", "%zu records", res.records);
    if ((rc = qt_att_log_find_key(&log, c->spki, &idx, NULL)) != QT_OK) {
        step_done(c, 0, "find the key's generation record", "no keypair-generate record for "
                  "SPKI SHA-256 %s", c->spki);
        goto out;
    }
    c->rec_seq = log.recs[idx].seq;
    if ((rc = qt_att_record_hash(log.recs[idx].jws, c->rec_hash)) != QT_OK ||
        (rc = qt_att_cert_issue(c->att, c->pubkey, c->label, c->token_serial, c->rec_hash,
                                (int)c->days, &c->acert)) != QT_OK ||
        (rc = qt_att_key_issuer_cert(c->att, &c->ca, NULL)) != QT_OK) {
        step_done(c, 0, "issue the key's attestation certificate", "%s", qt_rc_str(rc));
        goto out;
    }
    step_done(c, 1, "issue the key's attestation certificate",
              "generation record seq %llu, record SHA-256 %s", (unsigned long long)c->rec_seq,
              c->rec_hash);
    tr_line(c, "         root key generation record: seq %llu, sha256 %s",
            (unsigned long long)c->rec_seq, c->rec_hash);
    ex = QT_EXIT_OK;
out:
    qt_att_log_clear(&log);
    return ex;
}

static int
write_bundle(struct ceremony *c)
{
    char path[PATH_MAX];
    struct qt_att_log log;
    struct qt_att_verify_result res;
    char *text = NULL, *pem = NULL;
    size_t len;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    memset(&res, 0, sizeof(res));
    qt_att_log_init(&log);
    if ((rc = qt_attest_read_token_log(&c->conf, c->token, &log, NULL)) != QT_OK ||
        (rc = qt_att_log_verify(&log, qt_att_key_pkey(c->att), &res)) != QT_OK) {
        step_done(c, 0, "export the token's attestation log", "%s",
                  res.reason[0] != '\0' ? res.reason : qt_rc_str(rc));
        goto out;
    }
    step_done(c, 1, "export the token's attestation log", "%zu records, head seq %zu sha256 %s",
              res.records, res.records, res.last_hash);
    tr_line(c, "         log head: seq %zu, sha256 %s", res.records, res.last_hash);
#define OUTFILE(name) (snprintf(path, sizeof(path), "%s/%s", c->out, name) < (int)sizeof(path))
    rc = QT_E_RANGE;
    if (!OUTFILE("root.pem") || (rc = write_pem_x509(path, c->root)) != QT_OK ||
        !OUTFILE("root-attestation.pem") || (rc = write_pem_x509(path, c->acert)) != QT_OK ||
        !OUTFILE("attestation-ca.pem") || (rc = write_pem_x509(path, c->ca)) != QT_OK ||
        (rc = qt_att_log_format(&log, &text, &len)) != QT_OK || !OUTFILE("attestation.jsonl") ||
        (rc = qt_attest_write_file(path, text, 0)) != QT_OK ||
        (rc = qt_att_key_public_pem(c->att, &pem)) != QT_OK ||
        !OUTFILE("attestation-key.pem") || (rc = qt_attest_write_file(path, pem, 0)) != QT_OK) {
        step_done(c, 0, "write the bundle", "%s: %s", path, qt_rc_str(rc));
        goto out;
    }
#undef OUTFILE
    step_done(c, 1, "write the bundle", "%s: root.pem attestation.jsonl root-attestation.pem "
              "attestation-key.pem attestation-ca.pem transcript.txt", c->out);
    ex = QT_EXIT_OK;
out:
    free(text);
    free(pem);
    qt_att_log_clear(&log);
    return ex;
}

static void
transcript_head(struct ceremony *c, int argc, char **argv)
{
    struct passwd *pw = getpwuid(geteuid());
    char host[256] = "?", when[32];
    time_t now = time(NULL);
    struct tm tm;

    (void)gethostname(host, sizeof(host) - 1);
    (void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    tr_line(c, "qtoken root key ceremony transcript");
    tr_line(c, "===================================");
    tr_line(c, "who:      %s (uid %ld) on %s", pw != NULL ? pw->pw_name : "?", (long)geteuid(),
            host);
    tr_line(c, "when:     %s", when);
    tr_line(c, "qtoken:   %s", QT_VERSION);
    (void)fprintf(c->tr, "command: ");
    for (int i = 0; i < argc; i++) {
        (void)fprintf(c->tr, " %s", argv[i]);
    }
    (void)fputc('\n', c->tr);
    tr_line(c, "token:    %s", c->token);
    tr_line(c, "key:      %s, label '%s'", c->kt->name, c->label);
    tr_line(c, "subject:  %s, valid %ld days", c->subject, c->days);
    tr_line(c, "store:    %s", c->conf.store_path);
    tr_line(c, "device:   %s", c->conf.device_spec);
    tr_line(c, "%s", "");
}

static void
transcript_tail(struct ceremony *c, int ex)
{
    struct qt_att_entropy en;

    tr_line(c, "%s", "");
    if (c->q.pipe != NULL) {
        evidence(c, &en);
        tr_line(c, "entropy evidence at the end: device %s serial %s%s, H declared %.4f, "
                   "estimate %.4f, %llu raw samples, %llu start-up runs, failures rct %llu "
                   "apt %llu block-repeat %llu estimate %llu read %llu, state %s",
                en.device_type, en.device_serial, en.simulated ? " (SIMULATED)" : "",
                en.h_declared, en.h_estimate, (unsigned long long)en.raw_samples,
                (unsigned long long)en.startup_runs, (unsigned long long)en.failures_rct,
                (unsigned long long)en.failures_apt,
                (unsigned long long)en.failures_block_repeat,
                (unsigned long long)en.failures_estimate, (unsigned long long)en.failures_read,
                en.state == 0 ? "ok" : "error");
        tr_line(c, "(the key itself was generated by the module's own pipeline on the same "
                   "device; its evidence is in the keypair-generate record)");
    }
    if (c->spki[0] != '\0') {
        tr_line(c, "root public key SPKI SHA-256: %s", c->spki);
    }
    if (c->cert_fp[0] != '\0') {
        tr_line(c, "root certificate SHA-256:     %s", c->cert_fp);
    }
    if (c->att != NULL) {
        tr_line(c, "attestation key SPKI SHA-256: %s", qt_att_key_fingerprint(c->att));
    }
    tr_line(c, "result: %s (exit %d)", ex == QT_EXIT_OK ? "CEREMONY COMPLETED" : "CEREMONY FAILED",
            ex);
}

static void
ceremony_usage(FILE *f)
{
    (void)fprintf(
        f,
        "usage: qtoken ceremony root-ca --token LABEL --key-type TYPE --subject DN --days N\n"
        "                               --out DIR [--label KEYLABEL] [--allow-sim]\n"
        "                               [--pin-file FILE] [--module PATH]\n"
        "       qtoken ceremony verify DIR --pubkey PEM\n"
        "TYPE: ec:P-256 ec:P-384 ec:P-521 rsa:3072 rsa:4096 ed25519.  DN: '/CN=Root/O=Org' or\n"
        "'CN=Root,O=Org'.  The PIN comes from --pin-file, else QTOKEN_PIN, else a prompt.\n"
        "The module: --module, else QTOKEN_MODULE, else the installed %s, else the\n"
        "build tree's pkcs11/%s.  The sim device is refused without --allow-sim.\n"
        "Exit codes: 0 ok, 1 failed, 2 usage or policy, 3 entropy source unhealthy, 4 not found.\n",
        MODULE_NAME, MODULE_NAME);
}

static int
cmd_root_ca(int argc, char **argv)
{
    struct ceremony c;
    const char *kt = NULL, *days = NULL;
    char path[PATH_MAX], note[512];
    int ex;

    memset(&c, 0, sizeof(c));
    c.label = "root-ca";
    c.s = CK_INVALID_HANDLE;
    c.pub = c.priv = c.cert_obj = CK_INVALID_HANDLE;
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--allow-sim") == 0) {
            c.allow_sim = 1;
            continue;
        }
        if (strcmp(argv[i], "--token") == 0) {
            slot = &c.token;
        } else if (strcmp(argv[i], "--key-type") == 0) {
            slot = &kt;
        } else if (strcmp(argv[i], "--subject") == 0) {
            slot = &c.subject;
        } else if (strcmp(argv[i], "--days") == 0) {
            slot = &days;
        } else if (strcmp(argv[i], "--out") == 0) {
            slot = &c.out;
        } else if (strcmp(argv[i], "--pin-file") == 0) {
            slot = &c.pin_file;
        } else if (strcmp(argv[i], "--module") == 0) {
            slot = &c.module;
        } else if (strcmp(argv[i], "--label") == 0) {
            slot = &c.label;
        } else {
            (void)fprintf(stderr, CMD " root-ca: unknown option %s\n", argv[i]);
            ceremony_usage(stderr);
            return QT_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            (void)fprintf(stderr, CMD " root-ca: %s needs a value\n", argv[i]);
            return QT_EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    if (c.token == NULL || kt == NULL || c.subject == NULL || days == NULL || c.out == NULL) {
        ceremony_usage(stderr);
        return QT_EXIT_USAGE;
    }
    c.kt = key_type_find(kt);
    if (c.kt == NULL) {
        (void)fprintf(stderr, CMD " root-ca: unknown key type '%s' (ec:P-256, ec:P-384, "
                              "ec:P-521, rsa:3072, rsa:4096, ed25519)\n", kt);
        return QT_EXIT_USAGE;
    }
    c.days = strtol(days, NULL, 10);
    if (c.days < 1 || c.days > 36500) {
        (void)fprintf(stderr, CMD " root-ca: --days must be 1..36500\n");
        return QT_EXIT_USAGE;
    }
    if (c.label[0] == '\0' || strlen(c.label) > 128) {
        (void)fprintf(stderr, CMD " root-ca: bad --label\n");
        return QT_EXIT_USAGE;
    }
    {
        X509_NAME *n = NULL;
        if (parse_dn(c.subject, &n) != QT_OK) {
            (void)fprintf(stderr, CMD " root-ca: bad subject '%s' (e.g. '/CN=Root CA/O=Org')\n",
                          c.subject);
            return QT_EXIT_USAGE;
        }
        X509_NAME_free(n);
    }
    if (snprintf(path, sizeof(path), "%s/root.pem", c.out) >= (int)sizeof(path)) {
        return QT_EXIT_USAGE;
    }
    if (file_exists(path)) {
        (void)fprintf(stderr, CMD " root-ca: %s already holds a bundle\n", c.out);
        return QT_EXIT_USAGE;
    }
    if (qt_mkdirs(c.out, 0755) != QT_OK) {
        (void)fprintf(stderr, CMD " root-ca: cannot create %s\n", c.out);
        return QT_EXIT_FAIL;
    }
    {
        char err[256] = "";
        if (qt_conf_load(&c.conf, err, sizeof(err)) != QT_OK) {
            (void)fprintf(stderr, CMD ": configuration: %s\n", err);
            return QT_EXIT_USAGE;
        }
    }
    c.tr = open_memstream(&c.tr_text, &c.tr_len);
    if (c.tr == NULL) {
        return QT_EXIT_FAIL;
    }
    transcript_head(&c, argc, argv);

    if ((ex = check_device(&c)) == QT_EXIT_OK && (ex = module_load(&c)) == QT_EXIT_OK &&
        (ex = find_token(&c)) == QT_EXIT_OK && (ex = open_and_login(&c)) == QT_EXIT_OK &&
        (ex = generate_key(&c)) == QT_EXIT_OK && (ex = read_public_key(&c)) == QT_EXIT_OK &&
        (ex = make_certificate(&c)) == QT_EXIT_OK &&
        (ex = store_certificate(&c)) == QT_EXIT_OK) {
        ex = attest_root_key(&c);
    }
    if (ex != QT_EXIT_OK && c.priv != CK_INVALID_HANDLE) {
        /* No half-made key is left behind; the module attests the destruction. */
        destroy_partial(&c);
    }
    module_unload(&c);
    if (ex == QT_EXIT_OK) {
        (void)snprintf(note, sizeof(note), "root-ca completed: certificate sha256 %s, subject %s",
                       c.cert_fp, c.subject);
        attest_note(&c, note, 1);
        ex = write_bundle(&c);
    } else if (c.pub != CK_INVALID_HANDLE || c.priv != CK_INVALID_HANDLE ||
               c.cert_obj != CK_INVALID_HANDLE || c.logged_in || c.step > 4) {
        (void)snprintf(note, sizeof(note), "root-ca aborted (exit %d), label %s: see transcript",
                       ex, c.label);
        attest_note(&c, note, 0);
    }
    transcript_tail(&c, ex);
    (void)fclose(c.tr);
    c.tr = NULL;
    if (snprintf(path, sizeof(path), "%s/transcript.txt", c.out) < (int)sizeof(path) &&
        qt_attest_write_file(path, c.tr_text, 0) != QT_OK) {
        (void)fprintf(stderr, CMD " root-ca: cannot write %s\n", path);
        ex = ex == QT_EXIT_OK ? QT_EXIT_FAIL : ex;
    }
    (void)fprintf(stderr, "%s: %s; transcript in %s\n", CMD,
                  ex == QT_EXIT_OK ? "ceremony completed" : "ceremony FAILED", path);
    free(c.tr_text);
    X509_free(c.root);
    X509_free(c.acert);
    X509_free(c.ca);
    EVP_PKEY_free(c.pubkey);
    qt_att_key_free(c.att);
    qt_attest_qrng_close(&c.q);
    return ex;
}

/* ------------------------------------------------------------------------
 * ceremony verify
 */

static X509 *
read_x509(const char *dir, const char *name)
{
    char path[PATH_MAX];
    FILE *f;
    X509 *x;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        return NULL;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    return x;
}

static int verify_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
verify_fail(const char *fmt, ...)
{
    va_list ap;

    (void)printf("INVALID: ");
    va_start(ap, fmt);
    (void)vprintf(fmt, ap);
    va_end(ap);
    (void)printf("\n");
    return QT_EXIT_FAIL;
}

static int
attr_is(const char *payload, const char *attr, const char *want)
{
    char pat[64];

    (void)snprintf(pat, sizeof(pat), "\"%s\":%s", attr, want);
    return strstr(payload, pat) != NULL;
}

static int
cmd_verify(int argc, char **argv)
{
    const char *dir = NULL, *pubkey = NULL;
    char path[PATH_MAX], fp[QT_ATT_HASH_HEX], rh[QT_ATT_HASH_HEX], ext[QT_ATT_HASH_HEX];
    char err[256] = "", *payload = NULL;
    struct qt_att_log log;
    struct qt_att_verify_result res;
    EVP_PKEY *pin = NULL, *rootkey = NULL, *akey = NULL, *cakey = NULL;
    X509 *root = NULL, *acert = NULL, *ca = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *sctx = NULL;
    size_t idx;
    int ex = QT_EXIT_FAIL;

    qt_att_log_init(&log);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc) {
            pubkey = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            ceremony_usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (dir == NULL || pubkey == NULL) {
        ceremony_usage(stderr);
        return QT_EXIT_USAGE;
    }
    if (qt_att_read_pubkey(pubkey, &pin) != QT_OK) {
        (void)fprintf(stderr, CMD " verify: %s: not a PEM public key or certificate\n", pubkey);
        return QT_EXIT_USAGE;
    }
    /* 1. The log, with the pinned attestation key. */
    if (snprintf(path, sizeof(path), "%s/attestation.jsonl", dir) >= (int)sizeof(path) ||
        qt_att_log_read_file(path, &log, err, sizeof(err)) != QT_OK) {
        ex = verify_fail("attestation.jsonl: %s", err[0] != '\0' ? err : "unreadable");
        goto out;
    }
    if (qt_att_log_verify(&log, pin, &res) != QT_OK) {
        ex = verify_fail("attestation.jsonl: %s", res.reason);
        goto out;
    }
    (void)printf("ok: attestation.jsonl: %zu records of token '%s' (serial %s) verify; head "
                 "sha256 %s\n", res.records, res.token_label, res.token_serial, res.last_hash);
    /* 2. The root certificate's self-signature. */
    root = read_x509(dir, "root.pem");
    if (root == NULL || (rootkey = X509_get_pubkey(root)) == NULL) {
        ex = verify_fail("root.pem: missing or not a certificate");
        goto out;
    }
    if (X509_verify(root, rootkey) != 1 ||
        X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(root)) != 0) {
        ex = verify_fail("root.pem: not validly self-signed");
        goto out;
    }
    (void)printf("ok: root.pem is validly self-signed\n");
    /* 3. Its key was generated in the token, sensitive and never extractable. */
    if (qt_att_spki_sha256(rootkey, fp) != QT_OK ||
        qt_att_log_find_key(&log, fp, &idx, &payload) != QT_OK) {
        ex = verify_fail("root.pem: its key (SPKI SHA-256 %s) has no generation record in the "
                         "log", fp);
        goto out;
    }
    if (!attr_is(payload, "sensitive", "true") || !attr_is(payload, "extractable", "false")) {
        ex = verify_fail("record seq %llu: the root key was not generated sensitive and "
                         "non-extractable", (unsigned long long)log.recs[idx].seq);
        goto out;
    }
    if (qt_att_record_hash(log.recs[idx].jws, rh) != QT_OK) {
        goto out;
    }
    (void)printf("ok: the root key (SPKI SHA-256 %s) was generated in the token: record seq "
                 "%llu\n", fp, (unsigned long long)log.recs[idx].seq);
    /* 4. The key's attestation certificate. */
    acert = read_x509(dir, "root-attestation.pem");
    ca = read_x509(dir, "attestation-ca.pem");
    if (acert == NULL || ca == NULL || (akey = X509_get_pubkey(acert)) == NULL ||
        (cakey = X509_get_pubkey(ca)) == NULL) {
        ex = verify_fail("root-attestation.pem / attestation-ca.pem missing or unreadable");
        goto out;
    }
    if (EVP_PKEY_eq(akey, rootkey) != 1) {
        ex = verify_fail("root-attestation.pem certifies another key than root.pem's");
        goto out;
    }
    if (qt_att_cert_record_hash(acert, ext) != QT_OK || strcmp(ext, rh) != 0) {
        ex = verify_fail("root-attestation.pem does not carry the hash of record seq %llu",
                         (unsigned long long)log.recs[idx].seq);
        goto out;
    }
    if (EVP_PKEY_eq(cakey, pin) != 1) {
        ex = verify_fail("attestation-ca.pem is not the pinned attestation key's certificate");
        goto out;
    }
    store = X509_STORE_new();
    sctx = X509_STORE_CTX_new();
    if (store == NULL || sctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(sctx, store, acert, NULL) != 1 || X509_verify_cert(sctx) != 1) {
        ex = verify_fail("root-attestation.pem does not chain to attestation-ca.pem: %s",
                         sctx != NULL ? X509_verify_cert_error_string(
                                            X509_STORE_CTX_get_error(sctx))
                                      : "no memory");
        goto out;
    }
    (void)printf("ok: root-attestation.pem certifies the root key, carries record seq %llu's "
                 "hash and chains to the pinned attestation key\n",
                 (unsigned long long)log.recs[idx].seq);
    (void)printf("VALID: ceremony bundle %s\n", dir);
    ex = QT_EXIT_OK;
out:
    free(payload);
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    EVP_PKEY_free(pin);
    EVP_PKEY_free(rootkey);
    EVP_PKEY_free(akey);
    EVP_PKEY_free(cakey);
    X509_free(root);
    X509_free(acert);
    X509_free(ca);
    qt_att_log_clear(&log);
    return ex;
}

int
qt_cmd_ceremony(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        ceremony_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? QT_EXIT_USAGE : QT_EXIT_OK;
    }
    for (int j = 2; j < argc; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            ceremony_usage(stdout);
            return QT_EXIT_OK;
        }
    }
    if (strcmp(argv[1], "root-ca") == 0) {
        return cmd_root_ca(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argc - 1, argv + 1);
    }
    (void)fprintf(stderr, CMD ": unknown sub-command '%s'\n", argv[1]);
    ceremony_usage(stderr);
    return QT_EXIT_USAGE;
}
