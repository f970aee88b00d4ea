/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loadable OpenSSL provider module `qtoken` (qtoken.so in OpenSSL's
 * modules directory): the same QRNG-SEED seed source as the in-library
 * provider, for any OpenSSL 3 program:
 *
 *   openssl rand -provider qtoken -provider default -hex 32
 *   [random] seed = QRNG-SEED   (conf/openssl-qrng-seed.cnf)
 *
 * Loaded explicitly (-provider qtoken, or activated in a config file), the
 * module also names QRNG-SEED as the seed source of the library context that
 * loaded it (RAND_set_seed_source_type), so that context's primary DRBG is
 * seeded from the QRNG: that is what loading a seed provider is for.  It
 * cannot do so once that context's DRBGs exist (logged at info level); a
 * config's `[random] seed = QRNG-SEED` sets the same thing.  The provider
 * config parameter `set_seed_source = no` turns this off.
 *
 * The module owns its entropy pipeline: it is created on the first seed
 * request from the usual configuration resolution (QTOKEN_CONF, QTOKEN_STORE,
 * QTOKEN_DEVICE; qt_conf_load) and freed at provider teardown.  Loading the
 * module does no I/O, so a program that never asks for randomness never opens
 * the device; a device that fails makes the seed request, and so the
 * program's DRBG, fail.  Counters: provider params qtoken-seed-calls/-bytes/
 * -failures, the shared stats file (`qtoken status`), and one info-level log
 * line at teardown (QTOKEN_LOG=info).
 */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "../common/log.h"
#include "seed_src.h"

/* The core's upcalls we use. */
struct core_fns {
    OSSL_FUNC_core_get_libctx_fn *get_libctx;
    OSSL_FUNC_core_get_params_fn *get_params;
};

static void
find_core_fns(const OSSL_DISPATCH *in, struct core_fns *fns)
{
    memset(fns, 0, sizeof(*fns));
    for (; in != NULL && in->function_id != 0; in++) {
        if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX) {
            fns->get_libctx = OSSL_FUNC_core_get_libctx(in);
        } else if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS) {
            fns->get_params = OSSL_FUNC_core_get_params(in);
        }
    }
}

/* The provider config parameter set_seed_source (default yes). */
static int
want_seed_source(const OSSL_CORE_HANDLE *handle, const struct core_fns *fns)
{
    char *v = NULL;
    OSSL_PARAM params[2];

    if (fns->get_params == NULL) {
        return 1;
    }
    params[0] = OSSL_PARAM_construct_utf8_ptr("set_seed_source", &v, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!fns->get_params(handle, params) || v == NULL) {
        return 1;
    }
    return !(strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
             strcasecmp(v, "off") == 0);
}

static void
set_seed_source(const OSSL_CORE_HANDLE *handle, const struct core_fns *fns)
{
    OSSL_LIB_CTX *libctx;

    if (fns->get_libctx == NULL || !want_seed_source(handle, fns)) {
        return;
    }
    /* Same process, same libcrypto: the core's context is an OSSL_LIB_CTX. */
    libctx = (OSSL_LIB_CTX *)fns->get_libctx(handle);
    ERR_set_mark();
    if (!RAND_set_seed_source_type(libctx, QT_SEED_SRC_NAME, NULL)) {
        qt_log(QT_LOG_INFO, "qtoken provider: DRBGs already exist; seed source left as is");
    }
    ERR_pop_to_mark();
}

__attribute__((visibility("default"))) int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                   const OSSL_DISPATCH **out, void **provctx)
{
    struct qt_seed_prov *sp;
    struct core_fns fns;

    find_core_fns(in, &fns);
    sp = qt_seed_src_prov_new(NULL);
    if (sp == NULL) {
        return 0;
    }
    *provctx = sp;
    set_seed_source(handle, &fns);
    return qt_seed_src_provider_setup(sp, "qtoken", out);
}
