/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The generic device layer: picks a back-end from the spec prefix, loops
 * over short reads in qt_dev_read_full, and forwards info/close.  The
 * back-ends (dev_sim.c, dev_chardev.c, dev_file.c) parse their own
 * arguments with the helpers in dev_spec.c.
 */
#include <string.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "dev_priv.h"

static const struct qt_dev_ops *const backends[] = {
    &qt_dev_sim_ops,
    &qt_dev_chardev_ops,
    &qt_dev_file_ops,
};

qt_rc
qt_dev_open(const char *spec, struct qt_dev **out)
{
    const char *colon;
    const char *args;
    size_t name_len;
    size_t spec_len;

    QT_ENSURE_REF(spec);
    QT_ENSURE_REF(out);
    *out = NULL;
    spec_len = strnlen(spec, QT_DEV_SPEC_MAX + 1);
    QT_ENSURE(spec_len > 0 && spec_len <= QT_DEV_SPEC_MAX, QT_E_CONFIG);
    colon = strchr(spec, ':');
    name_len = colon != NULL ? (size_t)(colon - spec) : spec_len;
    args = colon != NULL ? colon + 1 : "";
    for (size_t i = 0; i < QT_ARRAY_LEN(backends); i++) {
        const struct qt_dev_ops *ops = backends[i];
        if (strlen(ops->name) == name_len && memcmp(ops->name, spec, name_len) == 0) {
            qt_rc rc = ops->open(args, out);
            if (rc != QT_OK) {
                *out = NULL;
                qt_log(QT_LOG_DEBUG, "device %s: open failed: %s", ops->name, qt_rc_str(rc));
            }
            return rc;
        }
    }
    return QT_E_CONFIG;
}

qt_rc
qt_dev_read_full(struct qt_dev *d, uint16_t *out, size_t n, int timeout_ms)
{
    size_t done = 0;

    QT_ENSURE_REF(d);
    QT_ENSURE(out != NULL || n == 0, QT_E_ARG);
    QT_ENSURE(timeout_ms >= 0, QT_E_ARG);
    while (done < n) {
        size_t got = 0;
        qt_rc rc = d->ops->read(d, out + done, n - done, &got, timeout_ms);
        if (rc != QT_OK) {
            return rc;
        }
        /* The contract is "at least one sample unless error". */
        if (!QT_ALWAYS(got > 0 && got <= n - done)) {
            return QT_E_INTERNAL;
        }
        done += got;
    }
    return QT_OK;
}

void
qt_dev_info(const struct qt_dev *d, struct qt_dev_info *out)
{
    if (out == NULL) {
        return;
    }
    memset(out, 0, sizeof(*out));
    if (d == NULL) {
        return;
    }
    d->ops->info(d, out);
}

void
qt_dev_close(struct qt_dev *d)
{
    if (d != NULL) {
        d->ops->close(d);
    }
}
