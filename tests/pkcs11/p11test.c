/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the PKCS#11 API suite (see p11test.h). */
#define _XOPEN_SOURCE 700
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11test.h"
#include <dlfcn.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef QT_P11_MODULE
#error "QT_P11_MODULE must name the built libqtoken-pkcs11.so"
#endif

CK_FUNCTION_LIST *F;
char p11t_dir[64];
CK_SLOT_ID p11t_slot;
static void *dl;
static int initialised;

const unsigned char P11T_P256[10] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const unsigned char P11T_P384[7] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
const unsigned char P11T_P521[7] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
const unsigned char P11T_K256[7] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
const unsigned char P11T_ED25519[5] = {0x06, 0x03, 0x2b, 0x65, 0x70};
const unsigned char P11T_ED448[5] = {0x06, 0x03, 0x2b, 0x65, 0x71};

void
p11t_env(const char *device, const char *extra_conf)
{
    char path[128], store[128];
    FILE *f;

    snprintf(p11t_dir, sizeof(p11t_dir), "/tmp/qt-p11-XXXXXX");
    cr_assert_not_null(mkdtemp(p11t_dir));
    snprintf(path, sizeof(path), "%s/qtoken.conf", p11t_dir);
    snprintf(store, sizeof(store), "%s/store", p11t_dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n%s\n",
            extra_conf ? extra_conf : "");
    fclose(f);
    setenv("QTOKEN_CONF", path, 1);
    setenv("QTOKEN_STORE", store, 1);
    setenv("QTOKEN_DEVICE", device ? device : "sim:seed=7", 1);
}

void
p11t_load(void)
{
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);

    dl = dlopen(QT_P11_MODULE, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(dl, "dlopen: %s", dlerror());
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    cr_assert_not_null(get);
    cr_assert_eq(get(&F), CKR_OK);
}

void *
p11t_handle(void)
{
    return dl;
}

void
p11t_setup(void)
{
    p11t_env(NULL, NULL);
    p11t_load();
    CK_OK(F->C_Initialize(NULL));
    initialised = 1;
}

void
p11t_setup_token(void)
{
    p11t_setup();
    p11t_slot = p11t_new_token("test");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
p11t_teardown(void)
{
    if (F != NULL) {
        (void)F->C_Finalize(NULL); /* CKR_CRYPTOKI_NOT_INITIALIZED if the test finalised */
    }
    if (p11t_dir[0] != '\0') {
        nftw(p11t_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

CK_SLOT_ID
p11t_empty_slot(void)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;

    CK_OK(F->C_GetSlotList(CK_TRUE, NULL, &n));
    cr_assert_leq(n, 64);
    CK_OK(F->C_GetSlotList(CK_TRUE, slots, &n));
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;

        CK_OK(F->C_GetTokenInfo(slots[i], &ti));
        if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
            return slots[i];
        }
    }
    cr_assert_fail("no empty slot");
    return 0;
}

CK_SLOT_ID
p11t_new_token(const char *label)
{
    CK_UTF8CHAR lbl[32];
    CK_SLOT_ID slot = p11t_empty_slot();
    CK_SESSION_HANDLE h;
    size_t n = strlen(label);

    memset(lbl, ' ', sizeof(lbl));
    memcpy(lbl, label, n);
    CK_OK(F->C_InitToken(slot, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN), lbl));
    CK_OK(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    CK_OK(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN)));
    CK_OK(F->C_InitPIN(h, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    CK_OK(F->C_Logout(h));
    CK_OK(F->C_CloseSession(h));
    return slot;
}

CK_SESSION_HANDLE
p11t_open(CK_SLOT_ID slot, int rw)
{
    CK_SESSION_HANDLE h;

    CK_OK(F->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &h));
    return h;
}

CK_SESSION_HANDLE
p11t_user_session(void)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);

    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    return h;
}

CK_ULONG
p11t_count(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    CK_OBJECT_HANDLE o[256];
    CK_ULONG got = 0, total = 0;

    CK_OK(F->C_FindObjectsInit(h, tmpl, n));
    do {
        CK_OK(F->C_FindObjects(h, o, 256, &got));
        total += got;
    } while (got > 0);
    CK_OK(F->C_FindObjectsFinal(h));
    return total;
}

CK_ULONG
p11t_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, void *buf, CK_ULONG cap)
{
    CK_ATTRIBUTE a = {t, buf, cap};

    (void)F->C_GetAttributeValue(h, o, &a, 1);
    return a.ulValueLen;
}

EVP_PKEY *
p11t_pubkey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
    unsigned char buf[2048];
    const unsigned char *p = buf;
    CK_ULONG n = p11t_attr(h, o, CKA_PUBLIC_KEY_INFO, buf, sizeof(buf));
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);

    cr_assert_not_null(k);
    return k;
}

CK_BBOOL
p11t_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
    CK_BBOOL b = 0xee;
    CK_ATTRIBUTE a = {t, &b, sizeof(b)};

    CK_OK(F->C_GetAttributeValue(h, o, &a, 1));
    return b;
}

CK_ULONG
p11t_ulong(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
    CK_ULONG v = 0;
    CK_ATTRIBUTE a = {t, &v, sizeof(v)};

    CK_OK(F->C_GetAttributeValue(h, o, &a, 1));
    return v;
}

CK_OBJECT_HANDLE
p11t_aes(CK_SESSION_HANDLE h, CK_ULONG len, int token, int extractable)
{
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_BBOOL tok = token ? CK_TRUE : CK_FALSE, ext = extractable ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &tok, sizeof(tok)},
        {CKA_EXTRACTABLE, &ext, sizeof(ext)},
    };
    CK_OBJECT_HANDLE k;

    CK_OK(F->C_GenerateKey(h, &m, t, 3, &k));
    return k;
}

void
p11t_ec(CK_SESSION_HANDLE h, const unsigned char *params, size_t plen, CK_MECHANISM_TYPE mech,
        int token, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = {mech, NULL, 0};
    CK_BBOOL tok = token ? CK_TRUE : CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {
        {CKA_EC_PARAMS, (void *)params, plen},
        {CKA_TOKEN, &tok, sizeof(tok)},
    };
    CK_ATTRIBUTE st[] = {
        {CKA_TOKEN, &tok, sizeof(tok)},
        {CKA_DERIVE, &yes, sizeof(yes)},
    };

    CK_OK(F->C_GenerateKeyPair(h, &m, pt, 2, st, mech == CKM_EC_KEY_PAIR_GEN ? 2 : 1, pub, priv));
}

void
p11t_rsa(CK_SESSION_HANDLE h, CK_ULONG bits, int token, CK_OBJECT_HANDLE *pub,
         CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL tok = token ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE pt[] = {
        {CKA_MODULUS_BITS, &bits, sizeof(bits)},
        {CKA_TOKEN, &tok, sizeof(tok)},
    };
    CK_ATTRIBUTE st[] = {
        {CKA_TOKEN, &tok, sizeof(tok)},
    };

    CK_OK(F->C_GenerateKeyPair(h, &m, pt, 2, st, 1, pub, priv));
}

/* ---- the token's attestation log, read as a verifier would: exported by
 * the built `qtoken attest export` (beside the module in the build tree),
 * each record's JWS payload decoded. */

static void
qtoken_path(char *out, size_t cap)
{
    const char *m = QT_P11_MODULE, *cut = strstr(m, "/pkcs11/");

    cr_assert_not_null(cut);
    cr_assert_lt((size_t)(cut - m) + sizeof("/src/cli/qtoken"), cap);
    snprintf(out, cap, "%.*s/src/cli/qtoken", (int)(cut - m), m);
}

/* base64url (no padding) -> NUL-terminated text */
static char *
b64url_text(const char *s, size_t n)
{
    size_t padded = (n + 3) / 4 * 4;
    unsigned char *in = calloc(padded + 1, 1), *out = calloc(padded + 1, 1);
    int len;

    cr_assert(in != NULL && out != NULL);
    for (size_t i = 0; i < padded; i++) {
        in[i] = i < n ? (s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i]) : '=';
    }
    len = EVP_DecodeBlock(out, in, (int)padded);
    cr_assert_geq(len, 0);
    out[len - (int)(padded - n)] = '\0';
    free(in);
    return (char *)out;
}

void
p11t_read_log(const char *label, struct p11t_log *log)
{
    char cmd[512], qt[256], *line = NULL;
    size_t cap = 0;
    FILE *p;

    memset(log, 0, sizeof(*log));
    qtoken_path(qt, sizeof(qt));
    snprintf(cmd, sizeof(cmd), "'%s' attest export --token '%s'", qt, label);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    /* getline: a session-keys record of 256 keys is a line of some 200 KB */
    while (getline(&line, &cap, p) > 0) {
        char *j = strstr(line, "\"jws\":\""), *d1, *d2;

        cr_assert_not_null(j, "export line: %s", line);
        j += 7;
        d1 = strchr(j, '.');
        cr_assert_not_null(d1);
        d2 = strchr(d1 + 1, '.');
        cr_assert_not_null(d2);
        cr_assert_lt(log->n, P11T_LOG_MAX);
        log->payload[log->n++] = b64url_text(d1 + 1, (size_t)(d2 - d1 - 1));
    }
    free(line);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

void
p11t_free_log(struct p11t_log *log)
{
    for (size_t i = 0; i < log->n; i++) {
        free(log->payload[i]);
    }
    log->n = 0;
}

/* Records whose payload holds every one of the (NULL-terminated) strings. */
size_t
p11t_count_with(const struct p11t_log *log, const char *a, const char *b, const char *c)
{
    size_t k = 0;

    for (size_t i = 0; i < log->n; i++) {
        if (strstr(log->payload[i], a) != NULL && (b == NULL || strstr(log->payload[i], b)) &&
            (c == NULL || strstr(log->payload[i], c))) {
            k++;
        }
    }
    return k;
}
