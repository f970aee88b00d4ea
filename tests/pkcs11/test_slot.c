/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, slot and token management: slot list and information,
 * token information (flags, blank padding, clock, session counts, PIN state
 * flags), mechanism list and information, C_InitToken (new and re-init),
 * C_InitPIN, C_SetPIN, C_WaitForSlotEvent.
 */
#include <ctype.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>
#include "p11test.h"
#include <criterion/redirect.h>

static void
setup_pin3(void)
{
    p11t_env(NULL, "pin_max_failures = 3");
    p11t_load();
    CK_OK(F->C_Initialize(NULL));
    p11t_slot = p11t_new_token("test");
}

TestSuite(slot, .init = p11t_setup, .fini = p11t_teardown, .timeout = 60);
TestSuite(token, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 60);
TestSuite(pinstate, .init = setup_pin3, .fini = p11t_teardown, .timeout = 60);

static int
blank_padded(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0') {
            return 0;
        }
    }
    return p[n - 1] == ' ' || isgraph(p[n - 1]);
}

Test(slot, slot_list_two_call_convention)
{
    CK_SLOT_ID s[4];
    CK_ULONG n = 0;

    CK_RV_EQ(F->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_GetSlotList(CK_FALSE, NULL, &n));
    cr_assert_eq(n, 1, "a fresh store shows only the empty slot");
    n = 0;
    CK_RV_EQ(F->C_GetSlotList(CK_FALSE, s, &n), CKR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 1);
    n = 4;
    CK_OK(F->C_GetSlotList(CK_TRUE, s, &n));
    cr_assert_eq(n, 1);
}

Test(slot, slot_info)
{
    CK_SLOT_INFO si;

    CK_RV_EQ(F->C_GetSlotInfo(0, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GetSlotInfo(77, &si), CKR_SLOT_ID_INVALID);
    memset(&si, 0, sizeof(si));
    CK_OK(F->C_GetSlotInfo(0, &si));
    cr_assert(si.flags & CKF_TOKEN_PRESENT);
    cr_assert(!(si.flags & CKF_REMOVABLE_DEVICE));
    cr_assert(blank_padded(si.slotDescription, sizeof(si.slotDescription)));
    cr_assert(blank_padded(si.manufacturerID, sizeof(si.manufacturerID)));
}

Test(slot, empty_slot_token_is_uninitialised)
{
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE h;

    CK_RV_EQ(F->C_GetTokenInfo(0, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GetTokenInfo(9, &ti), CKR_SLOT_ID_INVALID);
    CK_OK(F->C_GetTokenInfo(0, &ti));
    cr_assert(!(ti.flags & CKF_TOKEN_INITIALIZED));
    cr_assert(ti.flags & CKF_RNG);
    CK_RV_EQ(F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_TOKEN_NOT_RECOGNIZED);
}

Test(slot, init_token_makes_a_new_empty_slot)
{
    CK_UTF8CHAR label[32];
    CK_TOKEN_INFO ti;
    CK_ULONG n = 0;

    memset(label, ' ', sizeof(label));
    memcpy(label, "first", 5);
    CK_RV_EQ(F->C_InitToken(0, NULL, 8, label), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_InitToken(0, (CK_UTF8CHAR *)SO_PIN, 8, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_InitToken(0, (CK_UTF8CHAR *)"123", 3, label), CKR_PIN_LEN_RANGE);
    CK_RV_EQ(F->C_InitToken(5, (CK_UTF8CHAR *)SO_PIN, 8, label), CKR_SLOT_ID_INVALID);
    CK_OK(F->C_InitToken(0, (CK_UTF8CHAR *)SO_PIN, 8, label));
    CK_OK(F->C_GetTokenInfo(0, &ti));
    cr_assert_eq(memcmp(ti.label, "first                           ", 32), 0);
    cr_assert(ti.flags & CKF_TOKEN_INITIALIZED);
    cr_assert(!(ti.flags & CKF_USER_PIN_INITIALIZED));
    CK_OK(F->C_GetSlotList(CK_TRUE, NULL, &n));
    cr_assert_eq(n, 2);
    CK_OK(F->C_GetTokenInfo(1, &ti));
    cr_assert(!(ti.flags & CKF_TOKEN_INITIALIZED));
    /* a second module instance (after finalize) finds the token in the store */
    CK_OK(F->C_Finalize(NULL));
    CK_OK(F->C_Initialize(NULL));
    CK_OK(F->C_GetSlotList(CK_TRUE, NULL, &n));
    cr_assert_eq(n, 2);
    CK_OK(F->C_GetTokenInfo(0, &ti));
    cr_assert_eq(memcmp(ti.label, "first ", 6), 0);
}

Test(slot, mechanism_list_and_info)
{
    CK_MECHANISM_TYPE m[128];
    CK_MECHANISM_INFO mi;
    CK_ULONG n = 0;
    static const CK_MECHANISM_TYPE want[] = {
        CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_EC_EDWARDS_KEY_PAIR_GEN,
        CKM_AES_KEY_GEN,           CKM_GENERIC_SECRET_KEY_GEN, CKM_ECDSA, CKM_ECDSA_SHA256,
        CKM_RSA_PKCS,              CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS,
        CKM_RSA_PKCS_OAEP,         CKM_RSA_X_509, CKM_EDDSA, CKM_AES_ECB, CKM_AES_CBC,
        CKM_AES_CBC_PAD,           CKM_AES_CTR, CKM_AES_GCM, CKM_AES_KEY_WRAP,
        CKM_AES_KEY_WRAP_PAD,      CKM_SHA_1, CKM_SHA256, CKM_SHA512, CKM_SHA256_HMAC,
        CKM_ECDH1_DERIVE,
    };

    CK_RV_EQ(F->C_GetMechanismList(0, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GetMechanismList(42, NULL, &n), CKR_SLOT_ID_INVALID);
    CK_OK(F->C_GetMechanismList(0, NULL, &n));
    cr_assert_gt(n, 20);
    cr_assert_leq(n, 128);
    {
        CK_ULONG small = 3;

        CK_RV_EQ(F->C_GetMechanismList(0, m, &small), CKR_BUFFER_TOO_SMALL);
        cr_assert_eq(small, n);
    }
    CK_OK(F->C_GetMechanismList(0, m, &n));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int found = 0;

        for (CK_ULONG j = 0; j < n; j++) {
            found |= m[j] == want[i];
        }
        cr_assert(found, "mechanism 0x%lx missing", (unsigned long)want[i]);
    }
    /* every field written, truthfully */
    for (CK_ULONG j = 0; j < n; j++) {
        memset(&mi, 0xA5, sizeof(mi));
        CK_OK(F->C_GetMechanismInfo(0, m[j], &mi));
        cr_assert_neq(mi.flags, 0);
        cr_assert(!(mi.flags & CKF_HW), "software mechanisms do not claim CKF_HW");
        cr_assert_leq(mi.ulMinKeySize, mi.ulMaxKeySize);
        cr_assert_neq(mi.ulMinKeySize, 0xA5A5A5A5A5A5A5A5UL);
    }
    CK_OK(F->C_GetMechanismInfo(0, CKM_RSA_PKCS_KEY_PAIR_GEN, &mi));
    cr_assert_eq(mi.ulMinKeySize, 2048);
    cr_assert_eq(mi.ulMaxKeySize, 8192);
    cr_assert_eq(mi.flags, CKF_GENERATE_KEY_PAIR);
    CK_OK(F->C_GetMechanismInfo(0, CKM_AES_GCM, &mi));
    cr_assert_eq(mi.flags, CKF_ENCRYPT | CKF_DECRYPT);
    cr_assert_eq(mi.ulMinKeySize, 16);
    CK_RV_EQ(F->C_GetMechanismInfo(0, CKM_DES3_CBC, &mi), CKR_MECHANISM_INVALID);
    CK_RV_EQ(F->C_GetMechanismInfo(0, CKM_SHA256, NULL), CKR_ARGUMENTS_BAD);
}

Test(slot, wait_for_slot_event)
{
    CK_SLOT_ID s;

    CK_RV_EQ(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL), CKR_NO_EVENT);
    CK_RV_EQ(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, &s), CKR_ARGUMENTS_BAD);
}

Test(token, token_info_fields)
{
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE a, b;

    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_RNG);
    cr_assert(ti.flags & CKF_LOGIN_REQUIRED);
    cr_assert(ti.flags & CKF_TOKEN_INITIALIZED);
    cr_assert(ti.flags & CKF_USER_PIN_INITIALIZED);
    cr_assert(!(ti.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED | CKF_SO_PIN_LOCKED)));
    cr_assert_eq(memcmp(ti.label, "test", 4), 0);
    cr_assert(blank_padded(ti.label, sizeof(ti.label)));
    cr_assert(blank_padded(ti.manufacturerID, sizeof(ti.manufacturerID)));
    cr_assert(blank_padded(ti.model, sizeof(ti.model)));
    cr_assert(blank_padded(ti.serialNumber, sizeof(ti.serialNumber)));
    cr_assert(ti.flags & CKF_CLOCK_ON_TOKEN);
    for (int i = 0; i < 14; i++) {
        cr_assert(isdigit(ti.utcTime[i]), "utcTime is YYYYMMDDhhmmss");
    }
    cr_assert_eq(ti.ulSessionCount, 0);
    cr_assert_eq(ti.ulMinPinLen, 4);
    a = p11t_open(p11t_slot, 0);
    b = p11t_open(p11t_slot, 1);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert_eq(ti.ulSessionCount, 2);
    cr_assert_eq(ti.ulRwSessionCount, 1);
    CK_OK(F->C_CloseSession(a));
    CK_OK(F->C_CloseSession(b));
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert_eq(ti.ulSessionCount, 0);
}

Test(token, reinit_token)
{
    CK_UTF8CHAR label[32];
    CK_SESSION_HANDLE h;
    CK_TOKEN_INFO ti;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, sizeof(yes)}};
    CK_OBJECT_HANDLE o;

    memset(label, ' ', sizeof(label));
    memcpy(label, "renamed", 7);
    h = p11t_open(p11t_slot, 1);
    CK_OK(F->C_CreateObject(h, t, 2, &o));
    CK_RV_EQ(F->C_InitToken(p11t_slot, (CK_UTF8CHAR *)SO_PIN, 8, label), CKR_SESSION_EXISTS);
    CK_OK(F->C_CloseSession(h));
    CK_RV_EQ(F->C_InitToken(p11t_slot, (CK_UTF8CHAR *)"87654321", 8, label), CKR_PIN_INCORRECT);
    CK_OK(F->C_InitToken(p11t_slot, (CK_UTF8CHAR *)SO_PIN, 8, label));
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert_eq(memcmp(ti.label, "renamed ", 8), 0);
    cr_assert(!(ti.flags & CKF_USER_PIN_INITIALIZED));
    h = p11t_open(p11t_slot, 1);
    cr_assert_eq(p11t_count(h, NULL, 0), 0, "re-initialisation destroys every object");
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_USER_PIN_NOT_INITIALIZED);
}

/* Labels name tokens (p11-kit URIs, Vault's token_label): C_InitToken
 * refuses one another token of the store has, for a new token and for a
 * re-initialisation, and says why on stderr; nothing changes. */
Test(token, init_token_refuses_a_taken_label, .init = cr_redirect_stderr)
{
    CK_UTF8CHAR label[32];
    CK_SLOT_ID other = p11t_new_token("other"), empty = p11t_empty_slot();
    CK_TOKEN_INFO ti;
    CK_ULONG before = 0, after = 0;

    memset(label, ' ', sizeof(label));
    memcpy(label, "test", 4); /* p11t_slot's */
    CK_OK(F->C_GetSlotList(CK_FALSE, NULL, &before));
    CK_RV_EQ(F->C_InitToken(empty, (CK_UTF8CHAR *)SO_PIN, 8, label), CKR_FUNCTION_FAILED);
    CK_OK(F->C_GetTokenInfo(empty, &ti));
    cr_assert(!(ti.flags & CKF_TOKEN_INITIALIZED), "no token was made");
    CK_OK(F->C_GetSlotList(CK_FALSE, NULL, &after));
    cr_assert_eq(after, before);
    CK_RV_EQ(F->C_InitToken(other, (CK_UTF8CHAR *)SO_PIN, 8, label), CKR_FUNCTION_FAILED);
    CK_OK(F->C_GetTokenInfo(other, &ti));
    cr_assert_eq(memcmp(ti.label, "other ", 6), 0, "the re-initialisation did not happen");
    cr_assert(ti.flags & CKF_USER_PIN_INITIALIZED);
    fflush(stderr);
    {
        static const char want[] = "qtoken[warn]: pkcs11: C_InitToken: another token in the "
                                   "store is labelled 'test'; token labels must be unique\n";
        FILE *f = cr_get_redirected_stderr();
        char line[512];
        int seen = 0;

        while (fgets(line, sizeof(line), f) != NULL) {
            seen += strcmp(line, want) == 0;
        }
        cr_assert_eq(seen, 2, "the warning, once per refusal: %d", seen);
    }
}

Test(token, init_pin_rules)
{
    CK_SESSION_HANDLE ro, rw;

    ro = p11t_open(p11t_slot, 0);
    rw = p11t_open(p11t_slot, 1);
    CK_RV_EQ(F->C_InitPIN(rw, (CK_UTF8CHAR *)"654321", 6), CKR_USER_NOT_LOGGED_IN);
    CK_OK(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    CK_RV_EQ(F->C_InitPIN(rw, (CK_UTF8CHAR *)"654321", 6), CKR_USER_NOT_LOGGED_IN);
    CK_OK(F->C_Logout(rw));
    CK_OK(F->C_CloseSession(ro));
    CK_OK(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_RV_EQ(F->C_InitPIN(rw, (CK_UTF8CHAR *)"12", 2), CKR_PIN_LEN_RANGE);
    CK_RV_EQ(F->C_InitPIN(rw, NULL, 6), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_InitPIN(99999, (CK_UTF8CHAR *)"654321", 6), CKR_SESSION_HANDLE_INVALID);
    CK_OK(F->C_InitPIN(rw, (CK_UTF8CHAR *)"654321", 6));
    CK_OK(F->C_Logout(rw));
    CK_RV_EQ(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"654321", 6));
}

Test(token, set_pin_rules)
{
    CK_SESSION_HANDLE ro, rw;

    ro = p11t_open(p11t_slot, 0);
    rw = p11t_open(p11t_slot, 1);
    CK_RV_EQ(F->C_SetPIN(ro, (CK_UTF8CHAR *)USER_PIN, 6, (CK_UTF8CHAR *)"999999", 6),
             CKR_SESSION_READ_ONLY);
    CK_RV_EQ(F->C_SetPIN(rw, (CK_UTF8CHAR *)"000000", 6, (CK_UTF8CHAR *)"999999", 6),
             CKR_PIN_INCORRECT);
    CK_RV_EQ(F->C_SetPIN(rw, (CK_UTF8CHAR *)USER_PIN, 6, (CK_UTF8CHAR *)"99", 2),
             CKR_PIN_LEN_RANGE);
    CK_RV_EQ(F->C_SetPIN(rw, NULL, 6, (CK_UTF8CHAR *)"999999", 6), CKR_ARGUMENTS_BAD);
    /* in a public session the user's PIN changes */
    CK_OK(F->C_SetPIN(rw, (CK_UTF8CHAR *)USER_PIN, 6, (CK_UTF8CHAR *)"999999", 6));
    CK_OK(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"999999", 6));
    CK_OK(F->C_SetPIN(rw, (CK_UTF8CHAR *)"999999", 6, (CK_UTF8CHAR *)"888888", 6));
    CK_OK(F->C_Logout(rw));
    CK_OK(F->C_CloseSession(ro));
    /* in an SO session the SO's */
    CK_OK(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_OK(F->C_SetPIN(rw, (CK_UTF8CHAR *)SO_PIN, 8, (CK_UTF8CHAR *)"abcdefgh", 8));
    CK_OK(F->C_Logout(rw));
    CK_RV_EQ(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8), CKR_PIN_INCORRECT);
    CK_OK(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)"abcdefgh", 8));
    CK_OK(F->C_Logout(rw));
    CK_OK(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"888888", 6));
}

Test(pinstate, user_pin_count_low_final_try_locked)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_TOKEN_INFO ti;

    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"000000", 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_USER_PIN_COUNT_LOW);
    cr_assert(!(ti.flags & CKF_USER_PIN_FINAL_TRY));
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"000000", 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_USER_PIN_FINAL_TRY);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"000000", 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_USER_PIN_LOCKED);
    /* locked: even the right PIN is refused */
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_PIN_LOCKED);
    /* the SO unlocks by setting a new user PIN */
    CK_OK(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_OK(F->C_InitPIN(h, (CK_UTF8CHAR *)"4321", 4));
    CK_OK(F->C_Logout(h));
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(!(ti.flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW)));
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"4321", 4));
}

Test(pinstate, so_pin_flags)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_TOKEN_INFO ti;

    CK_RV_EQ(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)"00000000", 8), CKR_PIN_INCORRECT);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_SO_PIN_COUNT_LOW);
    CK_OK(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(!(ti.flags & CKF_SO_PIN_COUNT_LOW), "a good login resets the counter");
}

/* Another process (here a forked child with its own C_Initialize) creates a
 * token and a token object: this process sees both (slot list rescan on the
 * size query; searches read the store). */
Test(token, other_process_token_and_objects)
{
    CK_ULONG before = 0, after = 0;
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 0);
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE lbl = {CKA_LABEL, "from-child", 10};
    int status;
    pid_t pid;

    CK_OK(F->C_GetSlotList(CK_TRUE, NULL, &before));
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE ch;
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
                            {CKA_LABEL, "from-child", 10}};
        CK_OBJECT_HANDLE o;
        CK_UTF8CHAR label[32];
        int bad = 0;

        bad |= F->C_Initialize(NULL) != CKR_OK;
        bad |= F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &ch) !=
               CKR_OK;
        bad |= F->C_CreateObject(ch, t, 3, &o) != CKR_OK;
        memset(label, ' ', sizeof(label));
        memcpy(label, "child-token", 11);
        bad |= F->C_InitToken(p11t_empty_slot(), (CK_UTF8CHAR *)SO_PIN, 8, label) != CKR_OK;
        bad |= F->C_Finalize(NULL) != CKR_OK;
        _exit(bad ? 3 : 0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    cr_assert_eq(p11t_count(h, &lbl, 1), 1, "the child's object is found here");
    CK_OK(F->C_GetSlotList(CK_TRUE, NULL, &after));
    cr_assert_eq(after, before + 1, "the child's token appears as a new slot");
    {
        CK_SLOT_ID s[16];
        CK_TOKEN_INFO ti;
        int found = 0;

        CK_OK(F->C_GetSlotList(CK_TRUE, s, &after));
        for (CK_ULONG i = 0; i < after; i++) {
            CK_OK(F->C_GetTokenInfo(s[i], &ti));
            found |= memcmp(ti.label, "child-token ", 12) == 0;
        }
        cr_assert(found);
    }
}

/* A forked child with its own C_Initialize runs one step on the token key
 * with CKA_ID "shared" and exits. */
static void
child_step(int step)
{
    pid_t pid = fork();
    int status;

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE ch;
        CK_OBJECT_HANDLE o;
        CK_ULONG n = 0;
        CK_BBOOL no = CK_FALSE;
        CK_ATTRIBUTE id = {CKA_ID, "shared", 6}, nosign = {CKA_SIGN, &no, 1};
        int bad = 0;

        bad |= F->C_Initialize(NULL) != CKR_OK;
        bad |= F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &ch) !=
               CKR_OK;
        bad |= F->C_Login(ch, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)) != CKR_OK;
        bad |= F->C_FindObjectsInit(ch, &id, 1) != CKR_OK;
        bad |= F->C_FindObjects(ch, &o, 1, &n) != CKR_OK || n != 1;
        bad |= F->C_FindObjectsFinal(ch) != CKR_OK;
        if (!bad && step == 1) {
            bad |= F->C_SetAttributeValue(ch, o, &nosign, 1) != CKR_OK;
        } else if (!bad && step == 2) {
            bad |= F->C_DestroyObject(ch, o) != CKR_OK;
        }
        bad |= F->C_Finalize(NULL) != CKR_OK;
        _exit(bad ? 3 : 0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child step %d status 0x%x", step,
              status);
}

/* Token objects' attributes are cached in the module between uses; a
 * change by another process (CKA_SIGN set false, then the key destroyed)
 * counts at this process's next C_SignInit (the child's C_Initialize and
 * login alone take far longer than the 1 ms the module may rely on an
 * earlier data-version read), and so does this process's own change. */
Test(token, token_key_changes_by_another_process_count_at_once)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, m = {CKM_ECDSA, NULL, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)},
                         {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE st[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_ID, "shared", 6}};
    CK_ATTRIBUTE sign_on = {CKA_SIGN, &yes, 1};
    CK_OBJECT_HANDLE pub, priv;
    unsigned char dg[32] = {1}, sig[80];
    CK_ULONG sl;

    CK_OK(F->C_GenerateKeyPair(h, &gen, pt, 2, st, 3, &pub, &priv));
    for (int i = 0; i < 3; i++) { /* cached after the first */
        sl = sizeof(sig);
        CK_OK(F->C_SignInit(h, &m, priv));
        CK_OK(F->C_Sign(h, dg, sizeof(dg), sig, &sl));
    }
    child_step(1); /* CKA_SIGN false, in another process */
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_KEY_FUNCTION_NOT_PERMITTED);
    cr_assert_eq(p11t_bool(h, priv, CKA_SIGN), CK_FALSE);
    CK_OK(F->C_SetAttributeValue(h, priv, &sign_on, 1)); /* back, in this one */
    sl = sizeof(sig);
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_Sign(h, dg, sizeof(dg), sig, &sl));
    child_step(2); /* destroyed in another process */
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_KEY_HANDLE_INVALID);
}

/* Re-initialising a token drops its objects, public ones included: a
 * handle to a public token object from before answers
 * CKR_OBJECT_HANDLE_INVALID afterwards, not its cached attributes. */
Test(token, reinit_forgets_cached_public_objects)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
                        {CKA_PRIVATE, &no, 1}, {CKA_LABEL, "public-data", 11}};
    CK_OBJECT_HANDLE o;
    CK_UTF8CHAR label[32];
    char buf[32];

    CK_OK(F->C_CreateObject(h, t, 4, &o));
    cr_assert_eq(p11t_attr(h, o, CKA_LABEL, buf, sizeof(buf)), 11); /* now cached */
    CK_OK(F->C_CloseSession(h));
    memset(label, ' ', sizeof(label));
    memcpy(label, "test", 4);
    CK_OK(F->C_InitToken(p11t_slot, (CK_UTF8CHAR *)SO_PIN, 8, label));
    h = p11t_open(p11t_slot, 0);
    {
        CK_ATTRIBUTE a = {CKA_LABEL, buf, sizeof(buf)};
        CK_RV_EQ(F->C_GetAttributeValue(h, o, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    }
}
