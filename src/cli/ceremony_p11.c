/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ceremony's work inside the token, through the PKCS#11 function list
 * only (DESIGN.md: the CLI uses the module only through its function list):
 * loading the module, finding the token, logging in, generating the root key
 * pair (sensitive, never extractable, random CKA_ID from C_GenerateRandom),
 * reading its public key back, building the TBSCertificate with OpenSSL and
 * signing it with C_Sign (ECDSA R||S converted to DER, RSA PKCS#1 v1.5 and
 * EdDSA as they come), storing the certificate as a CKO_CERTIFICATE with
 * the key's CKA_ID, and destroying what a failed ceremony left behind.
 */
#include <dlfcn.h>
#include <limits.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/check.h"
#include "../common/mem.h"
#include "ceremony.h"
#include "cli.h"
#include "cli_pin.h"

#define MODULE_NAME QT_CEREMONY_MODULE_NAME

/* ------------------------------------------------------------------------
 * Key types
 */

static const struct qt_ceremony_key_type key_types[] = {
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

const struct qt_ceremony_key_type *
qt_ceremony_p11_key_type(const char *name)
{
    for (size_t i = 0; i < QT_ARRAY_LEN(key_types); i++) {
        if (strcasecmp(name, key_types[i].name) == 0) {
            return &key_types[i];
        }
    }
    return NULL;
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
 * The module
 */

int
qt_ceremony_p11_file_exists(const char *p)
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
    if (qt_ceremony_p11_file_exists(QT_P11_MODULE_PATH)) {
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
            if (qt_ceremony_p11_file_exists(installed[i])) {
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
            char rel[PATH_MAX + 64], abs[PATH_MAX];
            if (snprintf(rel, sizeof(rel), "%s/../../pkcs11/%s", exe, MODULE_NAME) <
                    (int)sizeof(rel) &&
                realpath(rel, abs) != NULL && qt_ceremony_p11_file_exists(abs)) {
                (void)snprintf(out, outlen, "%s", abs);
                return 0;
            }
        }
    }
    return -1;
}

int
qt_ceremony_p11_load(struct qt_ceremony *c)
{
    char path[PATH_MAX + 64];
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    if (module_path(c->module, path, sizeof(path)) != 0) {
        qt_ceremony_step(c, 0, "load the PKCS#11 module",
                         "not found: use --module PATH or QTOKEN_MODULE");
        return QT_EXIT_USAGE;
    }
    c->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (c->dl == NULL) {
        qt_ceremony_step(c, 0, "load the PKCS#11 module", "%s: %s", path, dlerror());
        return QT_EXIT_USAGE;
    }
    *(void **)(&get) = dlsym(c->dl, "C_GetFunctionList");
    if (get == NULL || get(&c->f) != CKR_OK || c->f == NULL) {
        qt_ceremony_step(c, 0, "load the PKCS#11 module", "%s: no C_GetFunctionList", path);
        return QT_EXIT_FAIL;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = c->f->C_Initialize(&args);
    if (rv != CKR_OK) {
        qt_ceremony_step(c, 0, "initialise the PKCS#11 module", "%s", rv_str(rv));
        return exit_for_rv(rv);
    }
    c->initialized = 1;
    qt_ceremony_step(c, 1, "load the PKCS#11 module", "%s", path);
    qt_ceremony_note(c, "         module: %s", path);
    return QT_EXIT_OK;
}

void
qt_ceremony_p11_unload(struct qt_ceremony *c)
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

int
qt_ceremony_p11_find_token(struct qt_ceremony *c)
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
            qt_ceremony_step(c, 0, "find the token", "C_GetSlotList: %s", rv_str(rv));
        } else {
            qt_ceremony_step(c, 0, "find the token", "no token labelled '%s'", c->token);
        }
        return QT_EXIT_NOTFOUND;
    }
    qt_ceremony_step(c, 1, "find the token", "'%s' serial %s in slot %lu", c->token,
                     c->token_serial, (unsigned long)c->slot);
    qt_ceremony_note(c, "         token: label '%s', serial %s", c->token, c->token_serial);
    return QT_EXIT_OK;
}

int
qt_ceremony_p11_login(struct qt_ceremony *c)
{
    uint8_t *pin = qt_secret_alloc(QT_CLI_PIN_MAX);
    char prompt[96];
    size_t pin_len = 0;
    CK_RV rv;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    if (pin == NULL) {
        return QT_EXIT_FAIL;
    }
    rv = c->f->C_OpenSession(c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s);
    if (rv != CKR_OK) {
        c->s = CK_INVALID_HANDLE;
        qt_ceremony_step(c, 0, "open a read/write session", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    /* --pin-file, else QTOKEN_PIN, else a prompt without echo (cli_pin.h). */
    (void)snprintf(prompt, sizeof(prompt), "User PIN for token '%s': ", c->token);
    rc = qt_cli_pin_read(c->pin_file, "QTOKEN_PIN", prompt, pin, QT_CLI_PIN_MAX, &pin_len);
    if (rc != QT_OK) {
        qt_ceremony_step(c, 0, "log in", "no PIN: %s (use --pin-file FILE or QTOKEN_PIN)",
                         qt_rc_str(rc));
        ex = QT_EXIT_USAGE;
        goto out;
    }
    rv = c->f->C_Login(c->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        qt_ceremony_step(c, 0, "log in as the token user", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    c->logged_in = 1;
    qt_ceremony_step(c, 1, "log in as the token user", NULL);
    ex = QT_EXIT_OK;
out:
    qt_secret_free(pin, QT_CLI_PIN_MAX);
    return ex;
}

static int
label_in_use(struct qt_ceremony *c, CK_RV *rv)
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

int
qt_ceremony_p11_generate(struct qt_ceremony *c)
{
    const struct qt_ceremony_key_type *kt = c->kt;
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
        qt_ceremony_step(c, 0, "check the key label",
                         used > 0 ? "an object labelled '%s' already "
                                    "exists on the token"
                                  : "'%s': %s",
                         c->label, used > 0 ? "" : rv_str(lrv));
        return used > 0 ? QT_EXIT_FAIL : exit_for_rv(lrv);
    }
    qt_ceremony_step(c, 1, "check the key label", "'%s' is free", c->label);

    /* CKA_ID: random, from the token's QRNG. */
    rv = c->f->C_GenerateRandom(c->s, c->id, sizeof(c->id));
    if (rv != CKR_OK) {
        qt_ceremony_step(c, 0, "draw a random CKA_ID", "%s", rv_str(rv));
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
        qt_ceremony_step(c, 0, "generate the root key pair in the token", "%s %s", kt->name,
                         rv_str(rv));
        return exit_for_rv(rv);
    }
    qt_ceremony_step(c, 1, "generate the root key pair in the token",
                     "%s via %s, CKA_ID %s, sensitive, never extractable", kt->name, kt->gen_name,
                     c->id_hex);
    return QT_EXIT_OK;
}

/* Reads the public key back from the token. */
int
qt_ceremony_p11_read_public(struct qt_ceremony *c)
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
        qt_ceremony_step(c, 0, "read the public key", "%s", qt_rc_str(rc));
        goto out;
    }
    /* The private key's policy as the token reports it. */
    rv = c->f->C_GetAttributeValue(c->s, c->priv, pol, QT_ARRAY_LEN(pol));
    if (rv != CKR_OK || sens != CK_TRUE || ext != CK_FALSE || nev != CK_TRUE) {
        qt_ceremony_step(c, 0, "check the private key's policy",
                         "sensitive=%d extractable=%d "
                         "never_extractable=%d (%s)",
                         sens, ext, nev, rv_str(rv));
        goto out;
    }
    qt_ceremony_step(c, 1, "read the public key", "SPKI SHA-256 %s", c->spki);
    qt_ceremony_note(c, "         private key policy: CKA_SENSITIVE true, CKA_EXTRACTABLE false, "
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

qt_rc
qt_ceremony_p11_parse_dn(const char *s, X509_NAME **out)
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
assemble_cert(const unsigned char *tbs, int tbslen, const X509_ALGOR *alg, const unsigned char *sig,
              int siglen, X509 **out)
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

int
qt_ceremony_p11_certificate(struct qt_ceremony *c)
{
    const struct qt_ceremony_key_type *kt = c->kt;
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

    if (tmpl == NULL || alg == NULL || qt_ceremony_p11_parse_dn(c->subject, &name) != QT_OK) {
        qt_ceremony_step(c, 0, "build the certificate", "bad subject '%s'", c->subject);
        goto out;
    }
    rv = c->f->C_GenerateRandom(c->s, serial, sizeof(serial));
    if (rv != CKR_OK) {
        qt_ceremony_step(c, 0, "draw the certificate serial", "%s", rv_str(rv));
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
        qt_att_cert_add_ext(tmpl, tmpl, NID_basic_constraints, "critical,CA:TRUE") != QT_OK ||
        qt_att_cert_add_ext(tmpl, tmpl, NID_key_usage, "critical,keyCertSign,cRLSign") != QT_OK ||
        qt_att_cert_add_ext(tmpl, tmpl, NID_subject_key_identifier, "hash") != QT_OK ||
        qt_att_cert_add_ext(tmpl, tmpl, NID_authority_key_identifier, "keyid:always") != QT_OK) {
        qt_ceremony_step(c, 0, "build the certificate", "OpenSSL refused the TBSCertificate");
        goto out;
    }
    tbslen = i2d_re_X509_tbs(tmpl, &tbs);
    if (tbslen <= 0) {
        goto out;
    }
    qt_ceremony_step(c, 1, "build the TBSCertificate", "%d bytes, %s", tbslen,
                     OBJ_nid2sn(kt->sig_nid));

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
        rv = sig == NULL         ? CKR_HOST_MEMORY
             : kt->ckk == CKK_EC ? c->f->C_Sign(c->s, md, mdlen, sig, &siglen)
                                 : c->f->C_Sign(c->s, tbs, (CK_ULONG)tbslen, sig, &siglen);
    }
    if (rv != CKR_OK) {
        qt_ceremony_step(c, 0, "sign the certificate inside the token (C_Sign)", "%s", rv_str(rv));
        ex = exit_for_rv(rv);
        goto out;
    }
    if (kt->ckk == CKK_EC) {
        if (ecdsa_raw_to_der(sig, siglen, &der, &derlen) != QT_OK) {
            goto out;
        }
    }
    if (assemble_cert(tbs, tbslen, alg, der != NULL ? der : sig, der != NULL ? derlen : (int)siglen,
                      &c->root) != QT_OK) {
        qt_ceremony_step(c, 0, "assemble the certificate", NULL);
        goto out;
    }
    /* The token's signature must verify with the attested public key. */
    if (X509_verify(c->root, c->pubkey) != 1) {
        qt_ceremony_step(c, 0, "sign the certificate inside the token (C_Sign)",
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
    qt_ceremony_step(c, 1, "sign the certificate inside the token (C_Sign)",
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

int
qt_ceremony_p11_store_certificate(struct qt_ceremony *c)
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
        qt_ceremony_step(c, 0, "store the certificate on the token", "%s", rv_str(rv));
        return exit_for_rv(rv);
    }
    qt_ceremony_step(c, 1, "store the certificate on the token",
                     "CKO_CERTIFICATE, CKA_ID %s, label '%s'", c->id_hex, c->label);
    return QT_EXIT_OK;
}

/* Destroys whatever the failed ceremony made on the token. */
void
qt_ceremony_p11_destroy_partial(struct qt_ceremony *c)
{
    CK_OBJECT_HANDLE *hs[] = {&c->cert_obj, &c->priv, &c->pub};
    const char *what[] = {"certificate", "private key", "public key"};

    if (c->f == NULL || c->s == CK_INVALID_HANDLE) {
        return;
    }
    for (size_t i = 0; i < QT_ARRAY_LEN(hs); i++) {
        if (*hs[i] != CK_INVALID_HANDLE) {
            CK_RV rv = c->f->C_DestroyObject(c->s, *hs[i]);
            qt_ceremony_step(c, rv == CKR_OK, "destroy the half-made object", "%s: %s", what[i],
                             rv_str(rv));
            if (rv == CKR_OK) {
                *hs[i] = CK_INVALID_HANDLE;
            }
        }
    }
}
