/* book.h -- what the decoder calls on the books (private). */
#ifndef GW_BOOK_H
#define GW_BOOK_H

#include "gw/gw.h"

/* Apply one decoded ITCH message (known type, at least its spec length). */
void gw_books_apply(struct gw_books *b, const uint8_t *m, uint64_t seq, int64_t rx_ns);
/* Apply a burst of decoded ITCH messages, in order, with one call: what
 * they will touch is prefetched first, so their cache misses overlap. */
#define GW_BOOK_BURST 64
struct gw_book_msg {
    const uint8_t *m;
    uint64_t seq;
    uint32_t len;
};
void gw_books_apply_burst(struct gw_books *b, const struct gw_book_msg *msgs, uint32_t n,
                          int64_t rx_ns);
/* A sequence gap: every book is stale until recovered. */
void gw_books_gap(struct gw_books *b, uint64_t first, uint64_t count, int64_t rx_ns);
/* Joined a session late: the gap before it, and every book -- also those
 * first seen later -- is stale (their earlier orders are unknown). */
void gw_books_joined_late(struct gw_books *b, uint64_t first, uint64_t count, int64_t rx_ns);

#endif
