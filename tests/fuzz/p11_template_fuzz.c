/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: CK_ATTRIBUTE templates through the PKCS#11 module.  The
 * built libqtoken-pkcs11.so (QT_P11_MODULE) is loaded with dlopen and
 * used only through its function list, on a token initialised in a temp
 * store at start (cheap Argon2, a seeded sim device) with the user logged
 * in on a session that stays open.  Objects every input can reach: a data
 * object, an AES key (generated) and an EC P-256 key pair (generated).
 *
 * Input: byte 0 = operations, byte 1 = pool object (bits 0-1) and keygen
 * mechanism (bits 2-3), then three templates T1 T2 T3, each a count byte
 * then attributes:
 *   type   one byte: index into the table below, or 0xff + 4 bytes raw type
 *   value  one byte L: 0x00..0xef  L bytes follow
 *                      0xf0        NULL, length 0
 *                      0xf1 n      NULL, length n (a length query)
 *                      0xf2 v      CK_ULONG v
 *                      0xf3/0xf4   CK_BBOOL TRUE/FALSE
 *                      0xf5 ...    nested template (count + attributes)
 *                      0xf6 hi lo  hi*256+lo bytes follow
 * Every value lives in its own exact-size allocation, so ASan sees a read
 * or write past what the caller gave.  Operations (bits of byte 0):
 *   0 read-only session   1 C_CreateObject(T1)   2 C_FindObjects(T2)
 *   3 C_GetAttributeValue(T2)   4 C_SetAttributeValue(T3)
 *   5 C_CopyObject(T3)   6 logged out for this input
 *   7 C_GenerateKey(T1) / C_GenerateKeyPair(T1, T3), mechanism from
 *     bits 2-3 of byte 1: AES, generic secret, EC, EdDSA
 * Get/set/copy work on the created object, or on a fresh copy of the pool
 * object (so that inputs do not change the pool), or on the pool object
 * itself (get only) when it cannot be copied.  Objects made are destroyed.
 * Any CK_RV is fine; a crash, a leak, a length that claims more than the
 * caller's buffer, or a made object without CKA_CLASS is not.
 */
#define _XOPEN_SOURCE 700
#include <dlfcn.h>
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* QT_P11_STATIC (the libFuzzer build, README.md): the module's static
 * library is linked in and C_GetFunctionList called directly, so that its
 * code is instrumented in the fuzzer binary. */
#if !defined(QT_P11_MODULE) && !defined(QT_P11_STATIC)
#error "QT_P11_MODULE must name the built libqtoken-pkcs11.so"
#endif

#define SO_PIN "12345678"
#define USER_PIN "123456"
#define MAX_ATTRS 16
#define MAX_INPUT 4096

static const CK_ATTRIBUTE_TYPE types[] = {
    CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_APPLICATION, CKA_VALUE, CKA_OBJECT_ID,
    CKA_CERTIFICATE_TYPE, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_KEY_TYPE, CKA_SUBJECT, CKA_ID,
    CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_SIGN, CKA_SIGN_RECOVER,
    CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE, CKA_START_DATE, CKA_END_DATE, CKA_MODULUS,
    CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
    CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT, CKA_PUBLIC_KEY_INFO, CKA_VALUE_LEN,
    CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE,
    CKA_KEY_GEN_MECHANISM, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_EC_PARAMS,
    CKA_EC_POINT, CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED, CKA_TRUSTED,
    CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE, CKA_ALLOWED_MECHANISMS,
    CKA_CHECK_VALUE, CKA_HW_FEATURE_TYPE, CKA_CERTIFICATE_CATEGORY, CKA_URL,
    CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_HASH_OF_ISSUER_PUBLIC_KEY, CKA_NAME_HASH_ALGORITHM,
    CKA_VALUE_BITS, CKA_VENDOR_DEFINED, CKA_VENDOR_DEFINED | 1u, 0x4a2UL /* no such attribute */,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static CK_FUNCTION_LIST *F;
#ifndef QT_P11_STATIC
static void *dl;
#endif
static char dir[64];
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE main_session;
static CK_OBJECT_HANDLE pool[4];
static size_t npool;

/* A parsed template: the attributes and every allocation behind them. */
struct tmpl {
    CK_ATTRIBUTE a[MAX_ATTRS];
    CK_ULONG n;
    void *allocs[MAX_ATTRS * (MAX_ATTRS + 2)];
    size_t nallocs;
    CK_ULONG cap[MAX_ATTRS]; /* the caller's buffer size of each value */
};

struct cursor {
    const uint8_t *p;
    size_t n;
};

static int
take(struct cursor *c, uint8_t *b)
{
    if (c->n == 0) {
        return 0;
    }
    *b = *c->p++;
    c->n--;
    return 1;
}

static void *
keep(struct tmpl *t, size_t len)
{
    void *p;

    if (t->nallocs == sizeof(t->allocs) / sizeof(t->allocs[0])) {
        return NULL;
    }
    if ((p = malloc(len > 0 ? len : 1)) == NULL) {
        return NULL;
    }
    t->allocs[t->nallocs++] = p;
    return p;
}

static void
tmpl_free(struct tmpl *t)
{
    for (size_t i = 0; i < t->nallocs; i++) {
        free(t->allocs[i]);
    }
    memset(t, 0, sizeof(*t));
}

static int parse_list(struct cursor *c, struct tmpl *t, CK_ATTRIBUTE *out, CK_ULONG *n, int depth);

/*
 * Raw bytes given for an attribute-array attribute (CKA_WRAP_TEMPLATE ...):
 * the module must read each whole CK_ATTRIBUTE they hold (a template on
 * create/set/find, the caller's buffers on get), so a pointer in them must
 * be valid, as the spec requires of any caller.  Keep the types, make each
 * entry an empty value; a trailing partial entry stays as it is.
 */
static void
defuse(void *p, size_t len)
{
    for (size_t off = 0; off + sizeof(CK_ATTRIBUTE) <= len; off += sizeof(CK_ATTRIBUTE)) {
        CK_ATTRIBUTE e;

        memcpy(&e, (uint8_t *)p + off, sizeof(e));
        e.pValue = NULL;
        e.ulValueLen = 0;
        memcpy((uint8_t *)p + off, &e, sizeof(e));
    }
}

/* One attribute; 0 when the input ran out. */
static int
parse_attr(struct cursor *c, struct tmpl *t, CK_ATTRIBUTE *a, int depth)
{
    uint8_t b;
    uint8_t l;

    if (!take(c, &b)) {
        return 0;
    }
    if (b == 0xff) {
        uint8_t r[4];

        for (size_t i = 0; i < 4; i++) {
            if (!take(c, &r[i])) {
                return 0;
            }
        }
        a->type = ((CK_ULONG)r[0] << 24) | ((CK_ULONG)r[1] << 16) | ((CK_ULONG)r[2] << 8) | r[3];
    } else {
        a->type = types[b % N_TYPES];
    }
    if (!take(c, &l)) {
        return 0;
    }
    a->pValue = NULL;
    a->ulValueLen = 0;
    if (l < 0xf0 || l == 0xf6) {
        size_t len = l;

        if (l == 0xf6) {
            uint8_t hi, lo;

            if (!take(c, &hi) || !take(c, &lo)) {
                return 0;
            }
            len = ((size_t)hi << 8) | lo;
        }
        if (len > c->n) {
            len = c->n;
        }
        if ((a->pValue = keep(t, len)) == NULL) {
            return 0;
        }
        memcpy(a->pValue, c->p, len);
        a->ulValueLen = len;
        c->p += len;
        c->n -= len;
        if ((a->type & CKF_ARRAY_ATTRIBUTE) && a->type != CKA_ALLOWED_MECHANISMS) {
            defuse(a->pValue, len);
        }
        return 1;
    }
    switch (l) {
    case 0xf0:
        return 1;
    case 0xf1:
        if (!take(c, &b)) {
            return 0;
        }
        a->ulValueLen = b;
        return 1;
    case 0xf2: {
        CK_ULONG v;

        if (!take(c, &b) || (a->pValue = keep(t, sizeof(v))) == NULL) {
            return 0;
        }
        v = b;
        memcpy(a->pValue, &v, sizeof(v));
        a->ulValueLen = sizeof(v);
        return 1;
    }
    case 0xf3:
    case 0xf4:
        if ((a->pValue = keep(t, sizeof(CK_BBOOL))) == NULL) {
            return 0;
        }
        *(CK_BBOOL *)a->pValue = l == 0xf3 ? CK_TRUE : CK_FALSE;
        a->ulValueLen = sizeof(CK_BBOOL);
        return 1;
    case 0xf5: {
        CK_ATTRIBUTE *inner;
        CK_ULONG m = 0;

        if (depth > 0 || (inner = keep(t, MAX_ATTRS * sizeof(*inner))) == NULL) {
            return 0;
        }
        if (!parse_list(c, t, inner, &m, depth + 1)) {
            return 0;
        }
        a->pValue = inner;
        a->ulValueLen = m * sizeof(*inner);
        return 1;
    }
    default:
        /* 0xf7..0xfe: an empty value of a non-NULL pointer. */
        a->pValue = keep(t, 0);
        return a->pValue != NULL;
    }
}

static int
parse_list(struct cursor *c, struct tmpl *t, CK_ATTRIBUTE *out, CK_ULONG *n, int depth)
{
    uint8_t count;

    *n = 0;
    if (!take(c, &count)) {
        return 1; /* an empty template */
    }
    count %= MAX_ATTRS + 1;
    while (*n < count) {
        if (!parse_attr(c, t, &out[*n], depth)) {
            return 1; /* input ran out: what was read so far */
        }
        (*n)++;
    }
    return 1;
}

static void
parse_tmpl(struct cursor *c, struct tmpl *t)
{
    memset(t, 0, sizeof(*t));
    (void)parse_list(c, t, t->a, &t->n, 0);
    for (CK_ULONG i = 0; i < t->n; i++) {
        t->cap[i] = t->a[i].ulValueLen;
    }
}

static int verbose;

static void
note(const char *fn, CK_RV rv)
{
    /* Not failures (any CK_RV is allowed) but worth a look when fuzzing;
     * QT_FUZZ_VERBOSE=1 shows every result (for writing corpus files). */
    if (verbose || rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED ||
        rv == CKR_DEVICE_ERROR) {
        fprintf(stderr, "p11_template_fuzz: %s -> 0x%lx\n", fn, (unsigned long)rv);
    }
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
cleanup(void)
{
    if (F != NULL) {
        (void)F->C_Finalize(NULL);
        F = NULL;
    }
    if (dir[0] != '\0') {
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

#define MUST(expr)                                                                                 \
    do {                                                                                           \
        CK_RV rv_ = (expr);                                                                        \
        if (rv_ != CKR_OK) {                                                                       \
            fuzz_fail("%s -> 0x%lx", #expr, (unsigned long)rv_);                                   \
        }                                                                                          \
    } while (0)

static void
make_pool(void)
{
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_OBJECT_CLASS data_class = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ULONG aes_len = 32;
    CK_ATTRIBUTE data[] = {
        {CKA_CLASS, &data_class, sizeof(data_class)},
        {CKA_LABEL, "fuzz data", 9},
        {CKA_VALUE, "hello", 5},
    };
    CK_ATTRIBUTE aes[] = {
        {CKA_VALUE_LEN, &aes_len, sizeof(aes_len)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_LABEL, "fuzz aes", 8},
    };
    CK_ATTRIBUTE ec_pub[] = {
        {CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
        {CKA_VERIFY, &yes, sizeof(yes)},
    };
    CK_ATTRIBUTE ec_priv[] = {
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
    };
    CK_MECHANISM aes_gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_MECHANISM ec_gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};

    MUST(F->C_CreateObject(main_session, data, 3, &pool[0]));
    MUST(F->C_GenerateKey(main_session, &aes_gen, aes, 3, &pool[1]));
    MUST(F->C_GenerateKeyPair(main_session, &ec_gen, ec_pub, 2, ec_priv, 2, &pool[2], &pool[3]));
    npool = 4;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
    CK_UTF8CHAR label[32];
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    CK_SESSION_HANDLE so;
    char path[128], store[128];
    FILE *f;

    (void)argc;
    (void)argv;
    verbose = getenv("QT_FUZZ_VERBOSE") != NULL;
    (void)snprintf(dir, sizeof(dir), "/tmp/qt-fuzz-p11-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fuzz_fail("mkdtemp");
    }
    (void)snprintf(path, sizeof(path), "%s/qtoken.conf", dir);
    (void)snprintf(store, sizeof(store), "%s/store", dir);
    if ((f = fopen(path, "w")) == NULL) {
        fuzz_fail("fopen %s", path);
    }
    fprintf(f, "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n");
    fclose(f);
    setenv("QTOKEN_CONF", path, 1);
    setenv("QTOKEN_STORE", store, 1);
    setenv("QTOKEN_DEVICE", "sim:seed=7", 1);
    setenv("QTOKEN_LOG", "error", 1);

#ifdef QT_P11_STATIC
    get = C_GetFunctionList;
#else
    if ((dl = dlopen(QT_P11_MODULE, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fuzz_fail("dlopen: %s", dlerror());
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL) {
        fuzz_fail("no C_GetFunctionList");
    }
#endif
    MUST(get(&F));
    MUST(F->C_Initialize(NULL));
    MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
    if (n == 0) {
        fuzz_fail("no slot");
    }
    slot = slots[0];
    memset(label, ' ', sizeof(label));
    memcpy(label, "fuzz", 4);
    MUST(F->C_InitToken(slot, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN), label));
    MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &so));
    MUST(F->C_Login(so, CKU_SO, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN)));
    MUST(F->C_InitPIN(so, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    MUST(F->C_Logout(so));
    MUST(F->C_CloseSession(so));
    MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &main_session));
    MUST(F->C_Login(main_session, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    make_pool();
    /* Registered after OpenSSL's own atexit handler (C_Initialize set it
     * up), so that ours runs first: a C_Finalize after OPENSSL_cleanup
     * leaves the module's state to the exiting process (module.c), which
     * LeakSanitizer would report. */
    atexit(cleanup);
    return 0;
}

/* After C_GetAttributeValue: no length may claim more than the buffer. */
static void
check_get(const struct tmpl *t)
{
    for (CK_ULONG i = 0; i < t->n; i++) {
        const CK_ATTRIBUTE *a = &t->a[i];

        if (a->pValue != NULL && a->ulValueLen != CK_UNAVAILABLE_INFORMATION) {
            fuzz_check(a->ulValueLen <= t->cap[i]);
        }
    }
}

static void
check_has_class(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
    CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
    CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof(cls)};
    CK_RV rv = F->C_GetAttributeValue(h, o, &a, 1);

    if (rv != CKR_OK) {
        fuzz_fail("made object 0x%lx has no readable CKA_CLASS: 0x%lx", (unsigned long)o,
                  (unsigned long)rv);
    }
    fuzz_check(a.ulValueLen == sizeof(cls) && cls != (CK_OBJECT_CLASS)-1);
}

/* Key generation with T1 (secret key, or public key) and T3 (private key):
 * the generate origin of the template rules.  The mechanism comes from
 * bits 2-3 of byte 1; RSA is left out (too slow per input).  When nothing
 * was created, the generated (private) key becomes the object worked on. */
static void
generate(CK_SESSION_HANDLE h, uint8_t which, struct tmpl *t1, struct tmpl *t3,
         CK_OBJECT_HANDLE *made, CK_OBJECT_HANDLE *made2)
{
    static const CK_MECHANISM_TYPE mechs[] = {CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN,
                                              CKM_EC_KEY_PAIR_GEN, CKM_EC_EDWARDS_KEY_PAIR_GEN};
    CK_MECHANISM m = {mechs[(which >> 2) & 3u], NULL, 0};
    CK_OBJECT_HANDLE a = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE b = CK_INVALID_HANDLE;
    CK_RV rv;

    if (m.mechanism == CKM_AES_KEY_GEN || m.mechanism == CKM_GENERIC_SECRET_KEY_GEN) {
        rv = F->C_GenerateKey(h, &m, t1->a, t1->n, &b);
        note("C_GenerateKey", rv);
    } else {
        rv = F->C_GenerateKeyPair(h, &m, t1->a, t1->n, t3->a, t3->n, &a, &b);
        note("C_GenerateKeyPair", rv);
    }
    if (rv != CKR_OK) {
        return;
    }
    if (a != CK_INVALID_HANDLE) {
        check_has_class(h, a);
    }
    check_has_class(h, b);
    if (*made == CK_INVALID_HANDLE) {
        *made = b;
        *made2 = a;
    } else {
        /* Both go at the end of the input. */
        (void)F->C_DestroyObject(h, b);
        if (a != CK_INVALID_HANDLE) {
            (void)F->C_DestroyObject(h, a);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cursor c = {data, size};
    struct tmpl t1, t2, t3;
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE made2 = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE work = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE target;
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    CK_ULONG osize = 0;
    uint8_t ops = 0;
    uint8_t which = 0;
    int logged_out = 0;
    CK_RV rv;

    if (size > MAX_INPUT) {
        return 0;
    }
    (void)take(&c, &ops);
    (void)take(&c, &which);
    parse_tmpl(&c, &t1);
    parse_tmpl(&c, &t2);
    parse_tmpl(&c, &t3);

    if (ops & 0x40) {
        MUST(F->C_Logout(main_session));
        logged_out = 1;
    }
    MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | ((ops & 1) ? 0 : CKF_RW_SESSION), NULL, NULL,
                          &h));
    if (ops & 0x02) {
        rv = F->C_CreateObject(h, t1.a, t1.n, &made);
        note("C_CreateObject", rv);
        if (rv == CKR_OK) {
            check_has_class(h, made);
        } else {
            made = CK_INVALID_HANDLE;
        }
    }
    if (ops & 0x80) {
        generate(h, which, &t1, &t3, &made, &made2);
    }
    target = made;
    if (target == CK_INVALID_HANDLE) {
        CK_OBJECT_HANDLE src = pool[which % npool];

        /* A session copy of the pool object, so that set does not change the pool. */
        rv = F->C_CopyObject(h, src, NULL, 0, &work);
        note("C_CopyObject(pool)", rv);
        if (rv == CKR_OK) {
            check_has_class(h, work);
            target = work;
        } else {
            work = CK_INVALID_HANDLE;
            target = (ops & 0x10) ? CK_INVALID_HANDLE : src;
        }
    }
    if (ops & 0x04) {
        CK_OBJECT_HANDLE found[8];
        CK_ULONG got = 0;

        rv = F->C_FindObjectsInit(h, t2.a, t2.n);
        note("C_FindObjectsInit", rv);
        if (rv == CKR_OK) {
            for (int i = 0; i < 16; i++) {
                rv = F->C_FindObjects(h, found, 8, &got);
                note("C_FindObjects", rv);
                if (rv != CKR_OK || got == 0) {
                    break;
                }
                fuzz_check(got <= 8);
            }
            MUST(F->C_FindObjectsFinal(h));
        }
    }
    if ((ops & 0x08) && target != CK_INVALID_HANDLE) {
        rv = F->C_GetAttributeValue(h, target, t2.a, t2.n);
        note("C_GetAttributeValue", rv);
        check_get(&t2);
    }
    if ((ops & 0x10) && target != CK_INVALID_HANDLE) {
        rv = F->C_SetAttributeValue(h, target, t3.a, t3.n);
        note("C_SetAttributeValue", rv);
    }
    if ((ops & 0x20) && target != CK_INVALID_HANDLE) {
        rv = F->C_CopyObject(h, target, t3.a, t3.n, &copy);
        note("C_CopyObject", rv);
        if (rv == CKR_OK) {
            check_has_class(h, copy);
            (void)F->C_DestroyObject(h, copy);
        }
    }
    if (target != CK_INVALID_HANDLE) {
        rv = F->C_GetObjectSize(h, target, &osize);
        note("C_GetObjectSize", rv);
    }
    if (made != CK_INVALID_HANDLE) {
        (void)F->C_DestroyObject(h, made);
    }
    if (made2 != CK_INVALID_HANDLE) {
        (void)F->C_DestroyObject(h, made2);
    }
    if (work != CK_INVALID_HANDLE) {
        (void)F->C_DestroyObject(h, work);
    }
    MUST(F->C_CloseSession(h));
    if (logged_out) {
        MUST(F->C_Login(main_session, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    }
    tmpl_free(&t1);
    tmpl_free(&t2);
    tmpl_free(&t3);
    return 0;
}
