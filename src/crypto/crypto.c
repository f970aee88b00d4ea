/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder so the room builds before its code lands; replaced by the room's owner. */
extern int qt_placeholder_crypto;
