/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The function tables, the only place that names every entry point: the
 * PKCS#11 2.40 CK_FUNCTION_LIST returned by C_GetFunctionList, and the 3.0
 * CK_FUNCTION_LIST_3_0 offered by C_GetInterfaceList / C_GetInterface as the
 * interface "PKCS 11" version 3.0 (the 2.40 list is offered too, as "PKCS 11"
 * version 2.40).  Designated initialisers, every slot filled (the API suite
 * walks both tables); what we do not support is a stub returning
 * CKR_FUNCTION_NOT_SUPPORTED (fn_general.c).  These three functions are the
 * only symbols the shared object exports (qt-module.map).
 *
 * They need no C_Initialize and work in a forked child (PKCS#11 3.0 5.4).
 */
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"

#define QT_EXPORT __attribute__((visibility("default")))

/* The 2.40 entry points, in both tables (the 3.0 list starts with them),
 * one per line. */
/* clang-format off */
#define QT_FUNCTIONS_240                                                                           \
    .C_Initialize = qt_C_Initialize,                                                               \
    .C_Finalize = qt_C_Finalize,                                                                   \
    .C_GetInfo = qt_C_GetInfo,                                                                     \
    .C_GetFunctionList = qt_C_GetFunctionList,                                                     \
    .C_GetSlotList = qt_C_GetSlotList,                                                             \
    .C_GetSlotInfo = qt_C_GetSlotInfo,                                                             \
    .C_GetTokenInfo = qt_C_GetTokenInfo,                                                           \
    .C_GetMechanismList = qt_C_GetMechanismList,                                                   \
    .C_GetMechanismInfo = qt_C_GetMechanismInfo,                                                   \
    .C_InitToken = qt_C_InitToken,                                                                 \
    .C_InitPIN = qt_C_InitPIN,                                                                     \
    .C_SetPIN = qt_C_SetPIN,                                                                       \
    .C_OpenSession = qt_C_OpenSession,                                                             \
    .C_CloseSession = qt_C_CloseSession,                                                           \
    .C_CloseAllSessions = qt_C_CloseAllSessions,                                                   \
    .C_GetSessionInfo = qt_C_GetSessionInfo,                                                       \
    .C_GetOperationState = qt_C_GetOperationState,                                                 \
    .C_SetOperationState = qt_C_SetOperationState,                                                 \
    .C_Login = qt_C_Login,                                                                         \
    .C_Logout = qt_C_Logout,                                                                       \
    .C_CreateObject = qt_C_CreateObject,                                                           \
    .C_CopyObject = qt_C_CopyObject,                                                               \
    .C_DestroyObject = qt_C_DestroyObject,                                                         \
    .C_GetObjectSize = qt_C_GetObjectSize,                                                         \
    .C_GetAttributeValue = qt_C_GetAttributeValue,                                                 \
    .C_SetAttributeValue = qt_C_SetAttributeValue,                                                 \
    .C_FindObjectsInit = qt_C_FindObjectsInit,                                                     \
    .C_FindObjects = qt_C_FindObjects,                                                             \
    .C_FindObjectsFinal = qt_C_FindObjectsFinal,                                                   \
    .C_EncryptInit = qt_C_EncryptInit,                                                             \
    .C_Encrypt = qt_C_Encrypt,                                                                     \
    .C_EncryptUpdate = qt_C_EncryptUpdate,                                                         \
    .C_EncryptFinal = qt_C_EncryptFinal,                                                           \
    .C_DecryptInit = qt_C_DecryptInit,                                                             \
    .C_Decrypt = qt_C_Decrypt,                                                                     \
    .C_DecryptUpdate = qt_C_DecryptUpdate,                                                         \
    .C_DecryptFinal = qt_C_DecryptFinal,                                                           \
    .C_DigestInit = qt_C_DigestInit,                                                               \
    .C_Digest = qt_C_Digest,                                                                       \
    .C_DigestUpdate = qt_C_DigestUpdate,                                                           \
    .C_DigestKey = qt_C_DigestKey,                                                                 \
    .C_DigestFinal = qt_C_DigestFinal,                                                             \
    .C_SignInit = qt_C_SignInit,                                                                   \
    .C_Sign = qt_C_Sign,                                                                           \
    .C_SignUpdate = qt_C_SignUpdate,                                                               \
    .C_SignFinal = qt_C_SignFinal,                                                                 \
    .C_SignRecoverInit = qt_C_SignRecoverInit,                                                     \
    .C_SignRecover = qt_C_SignRecover,                                                             \
    .C_VerifyInit = qt_C_VerifyInit,                                                               \
    .C_Verify = qt_C_Verify,                                                                       \
    .C_VerifyUpdate = qt_C_VerifyUpdate,                                                           \
    .C_VerifyFinal = qt_C_VerifyFinal,                                                             \
    .C_VerifyRecoverInit = qt_C_VerifyRecoverInit,                                                 \
    .C_VerifyRecover = qt_C_VerifyRecover,                                                         \
    .C_DigestEncryptUpdate = qt_C_DigestEncryptUpdate,                                             \
    .C_DecryptDigestUpdate = qt_C_DecryptDigestUpdate,                                             \
    .C_SignEncryptUpdate = qt_C_SignEncryptUpdate,                                                 \
    .C_DecryptVerifyUpdate = qt_C_DecryptVerifyUpdate,                                             \
    .C_GenerateKey = qt_C_GenerateKey,                                                             \
    .C_GenerateKeyPair = qt_C_GenerateKeyPair,                                                     \
    .C_WrapKey = qt_C_WrapKey,                                                                     \
    .C_UnwrapKey = qt_C_UnwrapKey,                                                                 \
    .C_DeriveKey = qt_C_DeriveKey,                                                                 \
    .C_SeedRandom = qt_C_SeedRandom,                                                               \
    .C_GenerateRandom = qt_C_GenerateRandom,                                                       \
    .C_GetFunctionStatus = qt_C_GetFunctionStatus,                                                 \
    .C_CancelFunction = qt_C_CancelFunction,                                                       \
    .C_WaitForSlotEvent = qt_C_WaitForSlotEvent,
/* clang-format on */

static CK_FUNCTION_LIST list_240 = {.version = {2, 40}, QT_FUNCTIONS_240};

static CK_FUNCTION_LIST_3_0 list_30 = {
    .version = {3, 0},
    QT_FUNCTIONS_240.C_GetInterfaceList = qt_C_GetInterfaceList,
    .C_GetInterface = qt_C_GetInterface,
    .C_LoginUser = qt_C_LoginUser,
    .C_SessionCancel = qt_C_SessionCancel,
    .C_MessageEncryptInit = qt_C_MessageEncryptInit,
    .C_EncryptMessage = qt_C_EncryptMessage,
    .C_EncryptMessageBegin = qt_C_EncryptMessageBegin,
    .C_EncryptMessageNext = qt_C_EncryptMessageNext,
    .C_MessageEncryptFinal = qt_C_MessageEncryptFinal,
    .C_MessageDecryptInit = qt_C_MessageDecryptInit,
    .C_DecryptMessage = qt_C_DecryptMessage,
    .C_DecryptMessageBegin = qt_C_DecryptMessageBegin,
    .C_DecryptMessageNext = qt_C_DecryptMessageNext,
    .C_MessageDecryptFinal = qt_C_MessageDecryptFinal,
    .C_MessageSignInit = qt_C_MessageSignInit,
    .C_SignMessage = qt_C_SignMessage,
    .C_SignMessageBegin = qt_C_SignMessageBegin,
    .C_SignMessageNext = qt_C_SignMessageNext,
    .C_MessageSignFinal = qt_C_MessageSignFinal,
    .C_MessageVerifyInit = qt_C_MessageVerifyInit,
    .C_VerifyMessage = qt_C_VerifyMessage,
    .C_VerifyMessageBegin = qt_C_VerifyMessageBegin,
    .C_VerifyMessageNext = qt_C_VerifyMessageNext,
    .C_MessageVerifyFinal = qt_C_MessageVerifyFinal,
};

static CK_CHAR interface_name[] = "PKCS 11";

static CK_INTERFACE interfaces[] = {
    {interface_name, &list_30, 0},
    {interface_name, &list_240, 0},
};

/* PKCS#11 3.0 5.4 C_GetFunctionList */
CK_RV
qt_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *ppFunctionList = &list_240;
    return CKR_OK;
}

/* PKCS#11 3.0 5.4 C_GetInterfaceList: the two-call convention on a count */
CK_RV
qt_C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    CK_ULONG n = (CK_ULONG)QT_ARRAY_LEN(interfaces);

    if (pulCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (pInterfacesList == NULL) {
        *pulCount = n;
        return CKR_OK;
    }
    if (*pulCount < n) {
        *pulCount = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pInterfacesList, interfaces, sizeof(interfaces));
    *pulCount = n;
    return CKR_OK;
}

/* PKCS#11 3.0 5.4 C_GetInterface: NULL name -> the default (3.0) interface;
 * NULL version -> the newest of that name; flags must all be offered. */
CK_RV
qt_C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                  CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    if (ppInterface == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i < QT_ARRAY_LEN(interfaces); i++) {
        const CK_VERSION *v = interfaces[i].pFunctionList;

        if (pInterfaceName != NULL &&
            strcmp((const char *)pInterfaceName, (const char *)interface_name) != 0) {
            continue;
        }
        if (pVersion != NULL && (v->major != pVersion->major || v->minor != pVersion->minor)) {
            continue;
        }
        if ((interfaces[i].flags & flags) != flags) {
            continue;
        }
        *ppInterface = &interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

/* The exported names.  C_GetFunctionList and friends are declared by
 * <p11-kit/pkcs11.h> (the first) and here (the 3.0 pair). */
QT_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
QT_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                               CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

QT_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    qt_trace("C_GetFunctionList");
    return qt_C_GetFunctionList(ppFunctionList);
}

QT_EXPORT CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    qt_trace("C_GetInterfaceList");
    return qt_C_GetInterfaceList(pInterfacesList, pulCount);
}

QT_EXPORT CK_RV
C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
               CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    qt_trace("C_GetInterface");
    return qt_C_GetInterface(pInterfaceName, pVersion, ppInterface, flags);
}
