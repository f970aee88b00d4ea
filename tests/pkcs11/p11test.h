/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the PKCS#11 API suite: each test gets its own store directory
 * and configuration (cheap Argon2 parameters, a seeded sim device), loads the
 * built module with dlopen and uses it only through C_GetFunctionList (and
 * the 3.0 interface where a test is about it).
 */
#ifndef QT_TESTS_PKCS11_P11TEST_H
#define QT_TESTS_PKCS11_P11TEST_H

#include <criterion/criterion.h>
#include <openssl/types.h>
#include <p11-kit/pkcs11.h>
#include <stddef.h>

#define SO_PIN "12345678"
#define USER_PIN "123456"

extern CK_FUNCTION_LIST *F;      /* the module's 2.40 function list */
extern char p11t_dir[64];        /* this test's temp directory */

/* Writes the config (extra INI text appended, may be NULL) and sets
 * QTOKEN_CONF / QTOKEN_STORE / QTOKEN_DEVICE (device NULL: a seeded sim). */
void p11t_env(const char *device, const char *extra_conf);
/* dlopen + C_GetFunctionList (no C_Initialize). */
void p11t_load(void);
/* The module handle (for dlsym of C_GetInterface*). */
void *p11t_handle(void);

/* .init / .fini helpers */
void p11t_setup(void);          /* env + load + C_Initialize(NULL) */
void p11t_setup_token(void);    /* + a token "test" with SO and user PIN */
void p11t_teardown(void);       /* C_Finalize (if initialised) + rm -rf dir */

/* The slot of the (only) uninitialised token. */
CK_SLOT_ID p11t_empty_slot(void);
/* Creates token `label` (SO_PIN, USER_PIN) and returns its slot. */
CK_SLOT_ID p11t_new_token(const char *label);
extern CK_SLOT_ID p11t_slot; /* the token made by p11t_setup_token */

CK_SESSION_HANDLE p11t_open(CK_SLOT_ID slot, int rw);
/* Opens a RW session and logs the user in. */
CK_SESSION_HANDLE p11t_user_session(void);

/* Number of objects of session h matching tmpl. */
CK_ULONG p11t_count(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* Reads one attribute into buf (cap bytes); returns its length or
 * CK_UNAVAILABLE_INFORMATION. */
CK_ULONG p11t_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, void *buf,
                   CK_ULONG cap);
CK_BBOOL p11t_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t);
/* The public key of object o, parsed by OpenSSL from its CKA_PUBLIC_KEY_INFO
 * (asserted); EVP_PKEY_free it. */
EVP_PKEY *p11t_pubkey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o);
CK_ULONG p11t_ulong(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t);

/* Key generation shortcuts (session objects unless token). */
CK_OBJECT_HANDLE p11t_aes(CK_SESSION_HANDLE h, CK_ULONG len, int token, int extractable);
void p11t_ec(CK_SESSION_HANDLE h, const unsigned char *params, size_t plen, CK_MECHANISM_TYPE m,
             int token, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
void p11t_rsa(CK_SESSION_HANDLE h, CK_ULONG bits, int token, CK_OBJECT_HANDLE *pub,
              CK_OBJECT_HANDLE *priv);

/* DER OIDs of the curves */
extern const unsigned char P11T_P256[10], P11T_P384[7], P11T_P521[7], P11T_K256[7],
    P11T_ED25519[5], P11T_ED448[5];

#define CK_OK(expr) cr_assert_eq((expr), CKR_OK, "%s -> 0x%lx", #expr, (unsigned long)(expr))
#define CK_RV_EQ(expr, want)                                                                       \
    do {                                                                                           \
        CK_RV rv_ = (expr);                                                                        \
        cr_assert_eq(rv_, (CK_RV)(want), "%s -> 0x%lx, want 0x%lx", #expr, (unsigned long)rv_,    \
                     (unsigned long)(want));                                                       \
    } while (0)


/* The attestation log of token `label` (decoded JWS payloads, in order). */
#define P11T_LOG_MAX 64
struct p11t_log {
    size_t n;
    char *payload[P11T_LOG_MAX];
};
void p11t_read_log(const char *label, struct p11t_log *log);
void p11t_free_log(struct p11t_log *log);
/* Records whose payload holds a and (unless NULL) b and c. */
size_t p11t_count_with(const struct p11t_log *log, const char *a, const char *b, const char *c);

#endif
