/*
 * gw/gw.h -- umbrella header of the C core: the API plus inline hot helpers.
 */
#ifndef GW_GW_H
#define GW_GW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gw/itch50_gen.h" /* constants api.h sizes arrays with */
#include "gw/api.h"

#if defined(__GNUC__)
#define GW_LIKELY(x) __builtin_expect(!!(x), 1)
#define GW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GW_LIKELY(x) (x)
#define GW_UNLIKELY(x) (x)
#endif

/* Big-endian loads from unaligned wire bytes.  memcpy + bswap compiles to
 * one load and one bswap on x86-64 and arm64. */
static inline uint64_t gw_u8(const uint8_t *p) { return p[0]; }
static inline uint64_t gw_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
static inline uint64_t gw_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t gw_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline uint64_t gw_be48(const uint8_t *p)
{
    return (gw_be16(p) << 32) | gw_be32(p + 2);
}

/* What the generated per-type table says of each ITCH type byte. */
struct gw_msg_desc {
    uint16_t size;   /* spec length; 0 = unknown type */
    uint16_t nfields;
    const char *name;
};

/* Header fields of every ITCH message (same offsets in every type). */
static inline uint64_t gw_itch_locate(const uint8_t *m)
{
    return gw_be16(m + GW_ITCH_ADD_ORDER_STOCK_LOCATE_OFF);
}
static inline uint64_t gw_itch_timestamp(const uint8_t *m)
{
    return gw_be48(m + GW_ITCH_ADD_ORDER_TIMESTAMP_OFF);
}
/* digest = timestamp ^ (locate << 48) ^ (type << 56), summed mod 2^64 */
static inline uint64_t gw_itch_digest(const uint8_t *m)
{
    return gw_itch_timestamp(m) ^ (gw_itch_locate(m) << 48) ^ ((uint64_t)m[0] << 56);
}

#include "gw/itch50_gen_code.h"

#endif /* GW_GW_H */
