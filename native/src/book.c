/*
 * book.c -- order-by-order books for every instrument of one feed.
 *
 * Theory of operation
 * -------------------
 * Everything is sized at open and lives in fixed pools: orders, price
 * levels, books.  Pool slot 0 is the null index, so a zeroed field means
 * "none" and indices fit in 32 bits.  Slot 0 of the order and level pools
 * is also a sentinel: unlinking writes a neighbour's link without asking
 * whether there is one (slot 0 takes the write), and level slot 0 reads as
 * an empty level (price, shares and orders never leave 0), so the hot path
 * chooses with selects where data-dependent branches would mispredict.
 *
 *   orders       a table indexed by the reference itself: exchanges hand
 *                out references in increasing order, unique for the day,
 *                and a message names a recent order far more often than an
 *                old one, so the reference folded to the table size is the
 *                order's slot (one load and one compare to find it, beside
 *                the previous add to add one, a store to remove one).  At
 *                least twice as many slots as live orders are allowed.  An
 *                order whose slot is taken (by one a table length older
 *                that is still live, or by references that fold together)
 *                goes to an overflow pool behind a small Robin Hood hash,
 *                asked only when the direct slot misses and the overflow
 *                is not empty.  The sentinel's reference is 1, which folds
 *                to slot 1, so no reference folding to slot 0 matches it.
 *   level hash   (book, side, price) -> level   open addressing, linear
 *                probing, backward-shift deletion
 *   level list   per book side, best first, doubly linked; a new level is
 *                put at the head or tail in O(1) when it is beyond them,
 *                else found by walking from the nearer end (new levels
 *                appear near the top)
 *   order queue  per level, time priority, doubly linked
 *
 * The decoder hands over a packet's messages in bursts
 * (gw_books_apply_burst): everything they will touch is prefetched first,
 * so the cache misses of a burst overlap, then they are applied in order
 * by one loop with every step inlined.
 *
 * Integrity policy (docs/architecture.md): a reference that is not live
 * changes nothing and is counted per message type; executing or cancelling
 * more than is open removes the order and is counted; an add naming a live
 * reference is counted and replaces the old order; a crossed or locked book
 * is flagged and counted, not corrected; a full pool drops the add, counts
 * it and marks the book stale.  The first GW_INTEGRITY_KEEP of each kind
 * are kept with reference, sequence and timestamp.  Nothing here can index
 * outside a pool whatever the input.
 *
 * Readers: each book has a seqlock, odd while the writer changes that book.
 * gw_book_* copy under it and retry, so a reader in another thread never
 * sees a half-applied message and the writer never waits.
 *
 * Changes leave as gw_event records in a single-producer ring.  When it is
 * full the writer drops the event (counted) and, once there is room, writes
 * one GW_EV_OVERFLOW carrying how many were lost: the book is always whole,
 * so a reader that sees OVERFLOW re-reads the books it follows.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define GW_ITCH_FIELD_TABLE /* per-type lengths */
#include "gw/gw.h"
#include "book.h"

_Static_assert(GW_ITCH_ORDER_EXECUTED_ORDER_REFERENCE_NUMBER_OFF ==
                   GW_ITCH_ORDER_DELETE_ORDER_REFERENCE_NUMBER_OFF &&
               GW_ITCH_ORDER_EXECUTED_WITH_PRICE_ORDER_REFERENCE_NUMBER_OFF ==
                   GW_ITCH_ORDER_DELETE_ORDER_REFERENCE_NUMBER_OFF &&
               GW_ITCH_ORDER_CANCEL_ORDER_REFERENCE_NUMBER_OFF ==
                   GW_ITCH_ORDER_DELETE_ORDER_REFERENCE_NUMBER_OFF &&
               GW_ITCH_ORDER_REPLACE_ORIGINAL_ORDER_REFERENCE_NUMBER_OFF ==
                   GW_ITCH_ORDER_DELETE_ORDER_REFERENCE_NUMBER_OFF &&
               GW_ITCH_ADD_ORDER_ORDER_REFERENCE_NUMBER_OFF ==
                   GW_ITCH_ORDER_DELETE_ORDER_REFERENCE_NUMBER_OFF,
               "the prefetch pass reads every order message's reference at one offset");

/* F is read through A's getters and C through E's: same offsets. */
_Static_assert(GW_ITCH_ADD_ORDER_MPID_ORDER_REFERENCE_NUMBER_OFF ==
                       GW_ITCH_ADD_ORDER_ORDER_REFERENCE_NUMBER_OFF &&
                   GW_ITCH_ADD_ORDER_MPID_BUY_SELL_INDICATOR_OFF ==
                       GW_ITCH_ADD_ORDER_BUY_SELL_INDICATOR_OFF &&
                   GW_ITCH_ADD_ORDER_MPID_SHARES_OFF == GW_ITCH_ADD_ORDER_SHARES_OFF &&
                   GW_ITCH_ADD_ORDER_MPID_STOCK_OFF == GW_ITCH_ADD_ORDER_STOCK_OFF &&
                   GW_ITCH_ADD_ORDER_MPID_PRICE_OFF == GW_ITCH_ADD_ORDER_PRICE_OFF,
               "F must share A's layout for the fields the book reads");
_Static_assert(GW_ITCH_ORDER_EXECUTED_WITH_PRICE_EXECUTED_SHARES_OFF ==
                       GW_ITCH_ORDER_EXECUTED_EXECUTED_SHARES_OFF &&
                   GW_ITCH_ORDER_EXECUTED_WITH_PRICE_MATCH_NUMBER_OFF ==
                       GW_ITCH_ORDER_EXECUTED_MATCH_NUMBER_OFF,
               "C must share E's layout for the fields the book reads");

struct order { /* 32 bytes: two to a cache line, never across two */
    uint64_t ref;
    uint32_t shares;     /* ITCH order shares are 32-bit */
    uint32_t level;
    uint32_t prev, next; /* within the level, time priority */
    uint64_t _pad;
};
_Static_assert(sizeof(struct order) == 32, "orders are half a cache line");

struct level {
    int64_t price;
    uint64_t shares;
    uint32_t orders;
    uint32_t head, tail;  /* order queue */
    uint32_t prev, next;  /* toward better / worse prices */
    uint32_t book;
    uint8_t side;
    uint8_t _pad[7];
};

struct oslot {
    uint64_t ref;
    uint32_t idx; /* 0 = empty */
    uint32_t _pad;
};

struct lslot {
    int64_t price;
    uint32_t key; /* book << 1 | side */
    uint32_t idx;
};

struct __attribute__((aligned(64))) book { /* 256 bytes; a message touches lines 0-2 */
    uint32_t seq; /* seqlock: odd while being changed */
    uint32_t head[2], tail[2];
    uint32_t _pad;
    struct gw_book_info info; /* what readers copy, kept current */
};

/* gw_book_info keeps each bid/ask pair adjacent, bid first: index by side. */
_Static_assert(offsetof(struct gw_book_info, ask_price) == offsetof(struct gw_book_info, bid_price) + 8 &&
                   offsetof(struct gw_book_info, ask_shares) == offsetof(struct gw_book_info, bid_shares) + 8 &&
                   offsetof(struct gw_book_info, ask_orders) == offsetof(struct gw_book_info, bid_orders) + 4 &&
                   offsetof(struct gw_book_info, ask_levels) == offsetof(struct gw_book_info, bid_levels) + 4 &&
                   GW_SIDE_BID == 0 && GW_SIDE_ASK == 1,
               "book info pairs are indexed by side");

static inline uint32_t *nlevels(struct book *bk, int side)
{
    return &bk->info.bid_levels + side;
}

struct gw_books {
    struct gw_books_config cfg;
    struct gw_books_stats st;
    struct order *orders;
    struct level *levels;
    struct book *books;
    struct oslot *ohash;     /* overflow orders only */
    struct lslot *lhash;
    uint64_t dmask;          /* direct order slots - 1 */
    uint64_t max_ref;        /* no live reference is above it */
    uint64_t omask, lmask;
    uint32_t lshift;         /* 64 - log2(level hash slots) */
    uint32_t xfree, lfree;   /* free lists (recycled slots) through .next */
    uint32_t xnext, lnext;   /* first never-used slot: pools are not touched at open */
    uint32_t xend;           /* one past the last overflow order slot */
    uint32_t noverflow;      /* live overflow orders */
    uint32_t nbooks;
    uint32_t locate[65536];  /* locate -> book id */
    uint8_t system_event;
    uint8_t born_stale;      /* joined late: books are stale from creation */
    uint8_t touched;         /* sides (bit per side) whose best level the message changed */
    /* symbol -> id: few thousand entries, probed linearly */
    uint64_t *sym_keys;
    uint32_t *sym_ids;
    uint64_t smask;
    /* events */
    struct gw_event *ring;
    uint64_t rmask;
    uint64_t rhead;          /* written by the producer */
    uint64_t rtail;          /* written by the consumer */
    uint64_t pending_lost;   /* dropped since the last OVERFLOW marker */
    uint32_t nintegrity;
    uint32_t kept[GW_I__COUNT];
    struct gw_integrity_record integrity[GW_I__COUNT * GW_INTEGRITY_KEEP];
    size_t map_bytes[6];
    void *maps[6];
};

/* ---- memory ---------------------------------------------------------------- */

static void *pool(struct gw_books *b, int slot, size_t bytes)
{
    /* Anonymous mappings are zeroed and, unless prefaulted, only take
     * memory where they are touched. */
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (b->cfg.flags & GW_BOOKS_PREFAULT)
        flags |= MAP_POPULATE;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Random access over hundreds of MB: huge pages spare the TLB. */
    madvise(p, bytes, MADV_HUGEPAGE);
    b->maps[slot] = p;
    b->map_bytes[slot] = bytes;
    b->st.bytes += bytes;
    return p;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* The per-message steps, inlined into the burst loop whatever the
 * compiler's size heuristics say: a call per step costs more than the step. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static inline void gw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A level slot: a recycled one if any (cache-warm), else the next never used. */
static inline uint32_t take_level(struct gw_books *b)
{
    uint32_t i = b->lfree;
    if (i) {
        b->lfree = b->levels[i].next;
        return i;
    }
    if (b->lnext > b->cfg.max_levels)
        return 0;
    return b->lnext++;
}

/* c ? a : b without a branch: where c is data (is this order first in its
 * queue?) a branch mispredicts about half the time, and compilers turn
 * plain ?: into one. */
static inline uint32_t pick(int c, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)(c != 0);
    return (a & m) | (b & ~m);
}

/* ---- seqlock --------------------------------------------------------------- */

static inline void write_begin(struct book *bk)
{
    __atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void write_end(struct book *bk)
{
    __atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELEASE);
}

/* ---- events ---------------------------------------------------------------- */

static inline struct gw_event *ring_slot(struct gw_books *b)
{
    uint64_t tail = __atomic_load_n(&b->rtail, __ATOMIC_ACQUIRE);
    uint64_t used = b->rhead - tail;
    uint64_t need = b->pending_lost ? 2 : 1;
    if (used + need > b->rmask + 1) {
        b->pending_lost++;
        b->st.events_dropped++;
        return NULL;
    }
    if (b->pending_lost) {
        struct gw_event *o = &b->ring[b->rhead & b->rmask];
        memset(o, 0, sizeof(*o));
        o->kind = GW_EV_OVERFLOW;
        o->version = GW_EVENT_VERSION;
        o->feed = b->cfg.feed;
        o->size = (int64_t)b->pending_lost;
        b->pending_lost = 0;
        b->st.overflows++;
        b->st.events++;
        __atomic_store_n(&b->rhead, b->rhead + 1, __ATOMIC_RELEASE);
    }
    return &b->ring[b->rhead & b->rmask];
}

static inline void ring_publish(struct gw_books *b)
{
    b->st.events++;
    __atomic_store_n(&b->rhead, b->rhead + 1, __ATOMIC_RELEASE);
}

struct msgctx {
    uint64_t seq;
    int64_t exch_ns;
    int64_t rx_ns;
    uint8_t type;
};

static void emit_event(struct gw_books *b, uint8_t kind, uint32_t book, uint8_t side,
                       const struct msgctx *c, int64_t price, int64_t size, uint32_t count,
                       uint64_t aux, uint8_t flags)
{
    struct gw_event *e = ring_slot(b);
    if (!e)
        return;
    e->kind = kind;
    e->version = GW_EVENT_VERSION;
    e->side = side;
    e->flags = flags;
    e->feed = b->cfg.feed;
    e->session = 0;
    e->instrument = book;
    e->order_count = count;
    e->seq = c->seq;
    e->exch_ns = c->exch_ns;
    e->rx_ns = c->rx_ns;
    e->price = price;
    e->size = size;
    e->aux = aux;
    ring_publish(b);
}

/* With the ring off, not even the arguments are worked out. */
#define emit(b, ...)                       \
    do {                                   \
        if ((b)->ring)                     \
            emit_event((b), __VA_ARGS__);  \
    } while (0)

static inline uint8_t side_char(int side) { return side == GW_SIDE_BID ? 'B' : 'S'; }

/* ---- integrity ------------------------------------------------------------- */

static void integrity(struct gw_books *b, int kind, uint32_t book, uint64_t ref,
                      const struct msgctx *c)
{
    b->st.integrity[kind]++;
    if (b->kept[kind] >= GW_INTEGRITY_KEEP)
        return;
    b->kept[kind]++;
    struct gw_integrity_record *r = &b->integrity[b->nintegrity++];
    r->ref = ref;
    r->seq = c->seq;
    r->exch_ns = c->exch_ns;
    r->instrument = book;
    r->kind = (uint8_t)kind;
    r->msg_type = c->type;
    r->_pad = 0;
}

static void mark_stale(struct gw_books *b, uint32_t id, const struct msgctx *c)
{
    struct book *bk = &b->books[id];
    if (bk->info.flags & GW_BOOK_STALE)
        return;
    bk->info.flags |= GW_BOOK_STALE;
    b->st.stale_books++;
    emit(b, GW_EV_STALE, id, 0, c, 0, 0, 0, 0, 0);
}

/* ---- orders ------------------------------------------------------------------ */

/* An order's direct slot.  Folding (rather than mixing) keeps neighbouring
 * references in neighbouring slots, so the live window shares cache lines
 * and pages; the high bits folded in spread strided patterns. */
static inline uint64_t order_home(const struct gw_books *b, uint64_t ref)
{
    return (ref ^ (ref >> 23) ^ (ref >> 46)) & b->dmask;
}

static inline uint64_t ohash_home(const struct gw_books *b, uint64_t ref)
{
    /* Overflow references collide in the direct table, so they are mixed
     * here, not folded the same way again. */
    return mix(ref) & b->omask;
}

/* One probe for both questions: the overflow order's index (0 if none)
 * and the hash slot it is in -- or, if none, the empty slot it would take. */
static uint32_t ohash_probe(const struct gw_books *b, uint64_t ref, uint64_t *slot)
{
    for (uint64_t i = ohash_home(b, ref);; i = (i + 1) & b->omask) {
        const struct oslot *s = &b->ohash[i];
        if (!s->idx || s->ref == ref) {
            *slot = i;
            return s->idx;
        }
    }
}

/* Robin Hood insertion (an entry nearer its home gives up its slot to one
 * further from home) keeps probes short; deletion shifts the run back
 * instead of leaving tombstones, so a long day does not degrade. */
static void ohash_put(struct gw_books *b, uint64_t ref, uint32_t idx)
{
    struct oslot cur = {ref, idx, 0};
    uint64_t dist = 0;
    for (uint64_t i = ohash_home(b, ref);; i = (i + 1) & b->omask, dist++) {
        struct oslot *s = &b->ohash[i];
        if (!s->idx) {
            *s = cur;
            return;
        }
        uint64_t theirs = (i - ohash_home(b, s->ref)) & b->omask;
        if (theirs < dist) { /* the richer entry moves on */
            struct oslot t = *s;
            *s = cur;
            cur = t;
            dist = theirs;
        }
    }
}

static void ohash_del_at(struct gw_books *b, uint64_t i)
{
    for (uint64_t j = (i + 1) & b->omask;; j = (j + 1) & b->omask) {
        struct oslot *s = &b->ohash[j];
        if (!s->idx || ((j - ohash_home(b, s->ref)) & b->omask) == 0)
            break;
        b->ohash[i] = *s;
        i = j;
    }
    b->ohash[i].idx = 0;
    b->ohash[i].ref = 0;
}

/* The live order with this reference (0 if none); *slot is its overflow
 * hash slot when it is an overflow order. */
static inline uint32_t order_find(const struct gw_books *b, uint64_t ref, uint64_t *slot)
{
    uint64_t h = order_home(b, ref);
    if (GW_LIKELY(b->orders[h].ref == ref)) /* slot 0's reference folds elsewhere */
        return (uint32_t)h;
    if (!b->noverflow)
        return 0;
    return ohash_probe(b, ref, slot);
}

/* A slot for a new order (the pool has room, and ref is not live). */
static inline uint32_t order_take(struct gw_books *b, uint64_t ref)
{
    uint64_t h = order_home(b, ref);
    if (GW_LIKELY(h && !b->orders[h].ref)) /* a live direct order never has ref 0 */
        return (uint32_t)h;
    uint32_t i = b->xfree;
    if (i)
        b->xfree = b->orders[i].next;
    else
        i = b->xnext++; /* never past xend: live orders <= max_orders */
    ohash_put(b, ref, i);
    b->noverflow++;
    return i;
}

static inline void order_release(struct gw_books *b, uint32_t oi, uint64_t slot)
{
    struct order *o = &b->orders[oi];
    o->ref = 0;
    if (GW_LIKELY(oi <= b->dmask))
        return;
    ohash_del_at(b, slot);
    o->next = b->xfree;
    b->xfree = oi;
    b->noverflow--;
}

/* ---- level hash ------------------------------------------------------------- */

static inline uint64_t level_home(const struct gw_books *b, uint32_t key, int64_t price)
{
    /* Multiplicative (Fibonacci) hashing: the top bits of the product mix
     * every bit of price and key, in two multiplies. */
    uint64_t h = (uint64_t)price * 0x9E3779B97F4A7C15ULL + (uint64_t)key * 0xC2B2AE3D27D4EB4FULL;
    return h >> b->lshift;
}

static inline uint32_t level_find(const struct gw_books *b, uint32_t key, int64_t price)
{
    for (uint64_t i = level_home(b, key, price);; i = (i + 1) & b->lmask) {
        const struct lslot *s = &b->lhash[i];
        if (!s->idx)
            return 0;
        if (s->key == key && s->price == price)
            return s->idx;
    }
}

static void level_hash_put(struct gw_books *b, uint32_t key, int64_t price, uint32_t idx)
{
    uint64_t i = level_home(b, key, price);
    while (b->lhash[i].idx)
        i = (i + 1) & b->lmask;
    b->lhash[i].key = key;
    b->lhash[i].price = price;
    b->lhash[i].idx = idx;
}

static void level_hash_del(struct gw_books *b, uint32_t key, int64_t price)
{
    uint64_t i = level_home(b, key, price);
    while (!(b->lhash[i].idx && b->lhash[i].key == key && b->lhash[i].price == price))
        i = (i + 1) & b->lmask;
    for (uint64_t j = (i + 1) & b->lmask;; j = (j + 1) & b->lmask) {
        if (!b->lhash[j].idx)
            break;
        uint64_t home = level_home(b, b->lhash[j].key, b->lhash[j].price);
        if (((j - home) & b->lmask) >= ((j - i) & b->lmask)) {
            b->lhash[i] = b->lhash[j];
            i = j;
        }
    }
    memset(&b->lhash[i], 0, sizeof(b->lhash[i]));
}

/* ---- levels -------------------------------------------------------------- */

static inline int better(int side, int64_t a, int64_t c)
{
    return side == GW_SIDE_BID ? a > c : a < c;
}

/* The level for (book, side, price), created if absent; 0 if the pool is full. */
static uint32_t level_get(struct gw_books *b, uint32_t id, int side, int64_t price)
{
    struct book *bk = &b->books[id];
    /* Most adds join the best price: no hashing for those. */
    uint32_t li = bk->head[side];
    if (li && b->levels[li].price == price)
        return li;
    uint32_t key = id << 1 | (uint32_t)side;
    li = level_find(b, key, price);
    if (li)
        return li;
    li = take_level(b);
    if (!li)
        return 0;
    struct level *L = &b->levels[li];
    memset(L, 0, sizeof(*L));
    L->price = price;
    L->book = id;
    L->side = (uint8_t)side;
    level_hash_put(b, key, price, li);

    uint32_t head = bk->head[side], tail = bk->tail[side];
    if (!head) {
        bk->head[side] = bk->tail[side] = li;
    } else if (better(side, price, b->levels[head].price)) {
        L->next = head;
        b->levels[head].prev = li;
        bk->head[side] = li;
    } else if (!better(side, price, b->levels[tail].price)) {
        L->prev = tail;
        b->levels[tail].next = li;
        bk->tail[side] = li;
    } else {
        /* Inside the book: walk from whichever end is nearer in price. */
        int64_t from_head = b->levels[head].price - price;
        int64_t from_tail = price - b->levels[tail].price;
        if (from_head < 0)
            from_head = -from_head;
        if (from_tail < 0)
            from_tail = -from_tail;
        uint32_t cur; /* the first level worse than price */
        if (from_head <= from_tail) {
            cur = head;
            while (better(side, b->levels[cur].price, price))
                cur = b->levels[cur].next;
        } else {
            uint32_t w = tail;
            while (!better(side, b->levels[w].price, price))
                w = b->levels[w].prev;
            cur = b->levels[w].next;
        }
        /* insert before cur (neither head nor beyond the tail, see above) */
        uint32_t prev = b->levels[cur].prev;
        L->prev = prev;
        L->next = cur;
        b->levels[prev].next = li;
        b->levels[cur].prev = li;
    }
    (*nlevels(bk, side))++;
    if (++b->st.levels > b->st.peak_levels)
        b->st.peak_levels = b->st.levels;
    return li;
}

static void level_free(struct gw_books *b, uint32_t li)
{
    struct level *L = &b->levels[li];
    struct book *bk = &b->books[L->book];
    int side = L->side;
    uint32_t prev = L->prev, next = L->next;
    b->levels[prev].next = next; /* slot 0 absorbs the end cases */
    b->levels[next].prev = prev;
    bk->head[side] = pick(prev == 0, next, bk->head[side]);
    bk->tail[side] = pick(next == 0, prev, bk->tail[side]);
    (*nlevels(bk, side))--;
    level_hash_del(b, L->book << 1 | (uint32_t)side, L->price);
    L->next = b->lfree;
    L->prev = 0;
    b->lfree = li;
    b->st.levels--;
}

/* ---- orders -------------------------------------------------------------- */

ALWAYS_INLINE void level_event(struct gw_books *b, const struct level *L, const struct msgctx *c)
{
    /* Only a change at the best level can move the BBO. */
    b->touched |= (uint8_t)((L->prev == 0) << L->side);
    emit(b, GW_EV_BOOK_LEVEL, L->book, side_char(L->side), c, L->price, (int64_t)L->shares,
         L->orders, 0, 0);
}

/* Take an order (in overflow hash slot 'slot' if it is an overflow order)
 * out of its level, and the level out of the book if it empties. */
ALWAYS_INLINE void order_remove(struct gw_books *b, uint32_t oi, uint64_t slot,
                               const struct msgctx *c)
{
    struct order *o = &b->orders[oi];
    uint32_t li = o->level;
    struct level *L = &b->levels[li];
    uint32_t prev = o->prev, next = o->next;
    /* Slot 0 takes the link writes at either end (see the top of the
     * file), so the only choices left are selects, not branches. */
    b->orders[prev].next = next;
    b->orders[next].prev = prev;
    L->head = pick(prev == 0, next, L->head);
    L->tail = pick(next == 0, prev, L->tail);
    L->shares -= o->shares;
    L->orders--;
    b->books[L->book].info.orders--;
    level_event(b, L, c);
    if (!L->orders)
        level_free(b, li);
    order_release(b, oi, slot);
    b->st.orders--;
}

static inline void settle(struct gw_books *b, uint32_t id, const struct msgctx *c);

ALWAYS_INLINE void order_add(struct gw_books *b, uint32_t id, int side, uint64_t ref,
                            int64_t price, uint64_t shares, const struct msgctx *c)
{
    /* References only grow on a feed: one above all seen cannot be live. */
    if (GW_UNLIKELY(ref <= b->max_ref)) {
        uint64_t slot = 0;
        uint32_t old = order_find(b, ref, &slot);
        if (old) {
            integrity(b, GW_I_DUPLICATE_REF, id, ref, c);
            uint32_t ob = b->levels[b->orders[old].level].book;
            if (ob != id) {
                /* The live order is another instrument's: take it out under
                 * that book's seqlock and refresh its BBO and crossed flag. */
                uint8_t touched = b->touched;
                b->touched = 0;
                write_begin(&b->books[ob]);
                order_remove(b, old, slot, c);
                settle(b, ob, c);
                write_end(&b->books[ob]);
                b->touched = touched;
            } else {
                order_remove(b, old, slot, c);
            }
        }
    } else {
        b->max_ref = ref;
    }
    if (GW_UNLIKELY(b->st.orders >= b->cfg.max_orders)) {
        integrity(b, GW_I_ORDER_POOL_FULL, id, ref, c);
        mark_stale(b, id, c);
        return;
    }
    uint32_t li = level_get(b, id, side, price);
    if (!li) {
        integrity(b, GW_I_LEVEL_POOL_FULL, id, ref, c);
        mark_stale(b, id, c);
        return;
    }
    uint32_t oi = order_take(b, ref);
    struct order *o = &b->orders[oi];
    struct level *L = &b->levels[li];
    o->ref = ref;
    o->shares = (uint32_t)shares;
    o->level = li;
    o->next = 0;
    o->prev = L->tail;
    if (L->tail)
        b->orders[L->tail].next = oi;
    else
        L->head = oi;
    L->tail = oi;
    L->shares += shares;
    L->orders++;
    b->books[id].info.orders++;
    if (++b->st.orders > b->st.peak_orders)
        b->st.peak_orders = b->st.orders;
    level_event(b, L, c);
}

/* E, C, X: take shares off an order; too many removes it (counted). */
ALWAYS_INLINE void order_reduce(struct gw_books *b, uint32_t oi, uint64_t slot, uint64_t by,
                               int over_kind, const struct msgctx *c)
{
    struct order *o = &b->orders[oi];
    if (by >= o->shares) {
        if (by > o->shares)
            integrity(b, over_kind, b->levels[o->level].book, o->ref, c);
        order_remove(b, oi, slot, c);
        return;
    }
    struct level *L = &b->levels[o->level];
    o->shares -= (uint32_t)by;
    L->shares -= by;
    level_event(b, L, c);
}

/* ---- books ----------------------------------------------------------------- */

static inline int side_of(uint8_t indicator) { return indicator == 'S' ? GW_SIDE_ASK : GW_SIDE_BID; }

static uint64_t sym_key(const uint8_t *sym)
{
    uint64_t k;
    memcpy(&k, sym, 8);
    return k;
}

static uint32_t sym_lookup(const struct gw_books *b, uint64_t key)
{
    for (uint64_t i = mix(key) & b->smask;; i = (i + 1) & b->smask) {
        if (!b->sym_ids[i])
            return 0;
        if (b->sym_keys[i] == key)
            return b->sym_ids[i];
    }
}

static void sym_put(struct gw_books *b, uint64_t key, uint32_t id)
{
    uint64_t i = mix(key) & b->smask;
    while (b->sym_ids[i] && b->sym_keys[i] != key)
        i = (i + 1) & b->smask;
    b->sym_keys[i] = key;
    __atomic_store_n(&b->sym_ids[i], id, __ATOMIC_RELEASE);
}

/* A renamed book's old symbol stops finding it, and its slot is freed
 * (backward shift, as the other tables), so renames cannot fill the table:
 * it holds at most one symbol per book. */
static void sym_forget(struct gw_books *b, uint64_t key, uint32_t id)
{
    uint64_t i = mix(key) & b->smask;
    for (;; i = (i + 1) & b->smask) {
        if (!b->sym_ids[i])
            return;
        if (b->sym_keys[i] == key)
            break;
    }
    if (b->sym_ids[i] != id)
        return; /* the symbol names another book now */
    for (uint64_t j = (i + 1) & b->smask;; j = (j + 1) & b->smask) {
        if (!b->sym_ids[j])
            break;
        uint64_t home = mix(b->sym_keys[j]) & b->smask;
        if (((j - home) & b->smask) >= ((j - i) & b->smask)) {
            b->sym_keys[i] = b->sym_keys[j];
            __atomic_store_n(&b->sym_ids[i], b->sym_ids[j], __ATOMIC_RELEASE);
            i = j;
        }
    }
    __atomic_store_n(&b->sym_ids[i], 0, __ATOMIC_RELEASE);
}

static void name_book(struct gw_books *b, uint32_t id, const uint8_t *sym)
{
    struct book *bk = &b->books[id];
    memcpy(bk->info.symbol, sym, 8);
    sym_put(b, sym_key(sym), id);
}

/* The book a message's locate maps to, created on first sight.  R names
 * it; a book first seen in an add is named from the add's stock field. */
static uint32_t book_for(struct gw_books *b, uint16_t locate, const uint8_t *sym,
                         const struct msgctx *c)
{
    uint32_t id = b->locate[locate];
    if (id)
        return id;
    /* Same symbol under a new locate (a new day): same instrument. */
    if (sym) {
        id = sym_lookup(b, sym_key(sym));
        if (id) {
            b->locate[locate] = id;
            b->books[id].info.locate = locate;
            return id;
        }
    }
    if (b->nbooks == b->cfg.max_instruments) {
        integrity(b, GW_I_BOOK_POOL_FULL, 0, locate, c);
        return 0;
    }
    id = b->nbooks + 1;
    struct book *bk = &b->books[id];
    memset(bk, 0, sizeof(*bk));
    bk->info.id = id;
    bk->info.locate = locate;
    bk->info.feed = b->cfg.feed;
    bk->info.price_exponent = b->cfg.price_exponent;
    bk->info.system_event = b->system_event;
    memset(bk->info.symbol, ' ', 8);
    if (b->born_stale) {
        bk->info.flags |= GW_BOOK_STALE;
        b->st.stale_books++;
    }
    if (sym)
        name_book(b, id, sym);
    b->locate[locate] = id;
    /* Publish the book only once it is whole: readers check ids against it. */
    __atomic_store_n(&b->nbooks, id, __ATOMIC_RELEASE);
    b->st.books = id;
    return id;
}

/* After a change: refresh the cached best bid and offer, emit BBO events
 * for the sides that moved, and report a book that crossed (which can only
 * change when a best price does). */
static inline void settle(struct gw_books *b, uint32_t id, const struct msgctx *c)
{
    if (!b->touched)
        return; /* no best level changed: the common case off the touch */
    struct book *bk = &b->books[id];
    struct gw_book_info *in = &bk->info;
    /* Both sides are refreshed, touched or not: stores cost less than the
     * mispredicted branch that would pick the side. */
    for (int side = 0; side < 2; side++) {
        const struct level *L = &b->levels[bk->head[side]]; /* slot 0: all zero */
        if (b->ring && (L->price != (&in->bid_price)[side] ||
                        L->shares != (&in->bid_shares)[side] ||
                        L->orders != (&in->bid_orders)[side]))
            emit_event(b, GW_EV_BBO, id, side_char(side), c, L->price, (int64_t)L->shares,
                       L->orders, 0, 0);
        (&in->bid_price)[side] = L->price;
        (&in->bid_shares)[side] = L->shares;
        (&in->bid_orders)[side] = L->orders;
    }
    int crossed = (bk->head[0] != 0) & (bk->head[1] != 0) & (in->bid_price >= in->ask_price);
    if (GW_UNLIKELY(crossed != ((in->flags & GW_BOOK_CROSSED) != 0))) {
        if (crossed) {
            in->flags |= GW_BOOK_CROSSED;
            in->crossed++;
            b->st.crossed_books++;
            integrity(b, GW_I_CROSSED, id, 0, c);
        } else {
            in->flags &= (uint8_t)~GW_BOOK_CROSSED;
            b->st.crossed_books--;
        }
    }
}

static void trade(struct gw_books *b, uint32_t id, uint8_t side, int64_t price, uint64_t shares,
                  uint64_t match, uint8_t flags, const struct msgctx *c)
{
    struct gw_book_info *in = &b->books[id].info;
    in->trades++;
    in->traded_shares += shares;
    emit(b, GW_EV_TRADE, id, side, c, price, (int64_t)shares, 0, match, flags);
}

/* Look up the order a modify message names; counts it if unknown. */
ALWAYS_INLINE uint32_t live_order(struct gw_books *b, uint64_t ref, uint16_t locate,
                                 uint64_t *slot, const struct msgctx *c)
{
    uint32_t oi = order_find(b, ref, slot);
    if (GW_UNLIKELY(!oi)) {
        b->st.unknown_ref_by_type[c->type]++;
        integrity(b, GW_I_UNKNOWN_REF, b->locate[locate], ref, c);
    }
    return oi;
}

ALWAYS_INLINE void apply_one(struct gw_books *b, const uint8_t *m, uint64_t seq, int64_t rx_ns)
{
    struct msgctx c = {seq, (int64_t)gw_itch_timestamp(m), rx_ns, m[0]};
    uint16_t locate = (uint16_t)gw_itch_locate(m);
    uint32_t id = 0;
    int side = GW_SIDE_BID;
    uint64_t slot = 0;
    b->st.messages++;

    switch (m[0]) {
    case 'A':
    case 'F': {
        id = book_for(b, locate, gw_itch_add_order__stock(m), &c);
        if (!id)
            return;
        struct book *bk = &b->books[id];
        write_begin(bk);
        side = side_of(*gw_itch_add_order__buy_sell_indicator(m));
        order_add(b, id, side,
                  gw_itch_add_order__order_reference_number(m),
                  (int64_t)gw_itch_add_order__price(m), gw_itch_add_order__shares(m), &c);
        bk->info.adds++;
        break;
    }
    case 'E':
    case 'C': {
        uint32_t oi =
            live_order(b, gw_itch_order_executed__order_reference_number(m), locate, &slot, &c);
        if (!oi)
            return;
        struct order *o = &b->orders[oi];
        struct level *L = &b->levels[o->level];
        id = L->book;
        struct book *bk = &b->books[id];
        write_begin(bk);
        uint64_t shares = gw_itch_order_executed__executed_shares(m);
        uint64_t match = gw_itch_order_executed__match_number(m);
        /* C: the trade prints at its own price; the order keeps its price. */
        int64_t px = m[0] == 'C' ? (int64_t)gw_itch_order_executed_with_price__execution_price(m)
                                 : L->price;
        uint8_t flags = m[0] == 'C' ? *gw_itch_order_executed_with_price__printable(m) : 'Y';
        trade(b, id, side_char(L->side), px, shares, match, flags, &c);
        order_reduce(b, oi, slot, shares, GW_I_OVER_EXECUTE, &c);
        bk->info.executions++;
        break;
    }
    case 'X': {
        uint32_t oi =
            live_order(b, gw_itch_order_cancel__order_reference_number(m), locate, &slot, &c);
        if (!oi)
            return;
        id = b->levels[b->orders[oi].level].book;
        write_begin(&b->books[id]);
        order_reduce(b, oi, slot, gw_itch_order_cancel__cancelled_shares(m), GW_I_OVER_CANCEL,
                     &c);
        b->books[id].info.cancels++;
        break;
    }
    case 'D': {
        uint32_t oi =
            live_order(b, gw_itch_order_delete__order_reference_number(m), locate, &slot, &c);
        if (!oi)
            return;
        id = b->levels[b->orders[oi].level].book;
        write_begin(&b->books[id]);
        order_remove(b, oi, slot, &c);
        b->books[id].info.deletes++;
        break;
    }
    case 'U': {
        uint32_t oi = live_order(b, gw_itch_order_replace__original_order_reference_number(m),
                                 locate, &slot, &c);
        if (!oi)
            return; /* an unknown original adds nothing */
        struct level *L = &b->levels[b->orders[oi].level];
        id = L->book;
        side = L->side;
        write_begin(&b->books[id]);
        order_remove(b, oi, slot, &c);
        order_add(b, id, side, gw_itch_order_replace__new_order_reference_number(m),
                  (int64_t)gw_itch_order_replace__price(m), gw_itch_order_replace__shares(m), &c);
        b->books[id].info.replaces++;
        break;
    }
    case 'P': {
        id = book_for(b, locate, gw_itch_trade__stock(m), &c);
        if (!id)
            return;
        write_begin(&b->books[id]);
        trade(b, id, *gw_itch_trade__buy_sell_indicator(m), (int64_t)gw_itch_trade__price(m),
              gw_itch_trade__shares(m), gw_itch_trade__match_number(m), 'P', &c);
        break;
    }
    case 'Q': {
        id = book_for(b, locate, gw_itch_cross_trade__stock(m), &c);
        if (!id)
            return;
        write_begin(&b->books[id]);
        trade(b, id, 0, (int64_t)gw_itch_cross_trade__cross_price(m),
              gw_itch_cross_trade__shares(m), gw_itch_cross_trade__match_number(m),
              *gw_itch_cross_trade__cross_type(m), &c);
        break;
    }
    case 'R': {
        const uint8_t *sym = gw_itch_stock_directory__stock(m);
        id = book_for(b, locate, sym, &c);
        if (!id)
            return;
        write_begin(&b->books[id]);
        if (sym_key(b->books[id].info.symbol) != sym_key(sym)) {
            sym_forget(b, sym_key(b->books[id].info.symbol), id);
            name_book(b, id, sym);
        }
        break;
    }
    case 'H': {
        id = book_for(b, locate, gw_itch_stock_trading_action__stock(m), &c);
        if (!id)
            return;
        struct gw_book_info *in = &b->books[id].info;
        write_begin(&b->books[id]);
        in->trading_state = *gw_itch_stock_trading_action__trading_state(m);
        memcpy(in->reason, gw_itch_stock_trading_action__reason(m), 4);
        emit(b, GW_EV_BOOK_STATE, id, 0, &c, 0, 0, 0, in->trading_state, 'H');
        break;
    }
    case 'S': {
        /* Feed-wide: every book keeps the feed's last system event. */
        b->system_event = *gw_itch_system_event__event_code(m);
        for (uint32_t i = 1; i <= b->nbooks; i++) {
            write_begin(&b->books[i]);
            b->books[i].info.system_event = b->system_event;
            write_end(&b->books[i]);
        }
        emit(b, GW_EV_BOOK_STATE, 0, 0, &c, 0, 0, 0, b->system_event, 'S');
        return;
    }
    default:
        return; /* no book state in the other types */
    }
    struct book *bk = &b->books[id];
    bk->info.messages++;
    bk->info.last_seq = seq;
    bk->info.last_exch_ns = c.exch_ns;
    settle(b, id, &c);
    b->touched = 0;
    write_end(bk);
}

/* Ask for what a message will touch -- its book, the direct slot of the
 * order it names (or, for an add, the slot the order will take), and for
 * an add the level-hash slot -- ahead of applying it: with a burst's
 * messages prefetched first, their cache misses overlap instead of
 * following one another.  No branch on the message type (a switch here
 * mispredicted about half the time): every order message carries its
 * reference at one offset, and every message its locate, so those are
 * asked for whatever the type; the level slot only differs for adds, and
 * is chosen with selects.  A prefetch of a wrong address costs a line of
 * bandwidth, never a fault. */
static inline void prefetch_one(const struct gw_books *b, const uint8_t *m, uint32_t len)
{
    if (len < GW_ITCH_ORDER_DELETE_LEN)
        return; /* shorter than any order message (and predictably so) */
    uint32_t id = b->locate[gw_itch_locate(m)];
    __builtin_prefetch(&b->books[id]);
    __builtin_prefetch(&b->orders[order_home(b, gw_itch_order_delete__order_reference_number(m))]);
    /* Multiplies and masks, as compilers turn ?: back into branches. */
    uint32_t add = (uint32_t)((m[0] == 'A') | (m[0] == 'F'));
    add &= len >= GW_ITCH_ADD_ORDER_LEN; /* then the price is inside the message */
    int side = side_of(m[add * GW_ITCH_ADD_ORDER_BUY_SELL_INDICATOR_OFF]);
    int64_t price = (int64_t)gw_be32(m + add * GW_ITCH_ADD_ORDER_PRICE_OFF);
    uintptr_t ls = (uintptr_t)&b->lhash[level_home(b, id << 1 | (uint32_t)side, price)];
    uintptr_t bk = (uintptr_t)&b->books[id];
    __builtin_prefetch((const void *)(bk ^ ((ls ^ bk) & (0 - (uintptr_t)add))));
}

void gw_books_apply(struct gw_books *b, const uint8_t *m, uint64_t seq, int64_t rx_ns)
{
    apply_one(b, m, seq, rx_ns);
}

void gw_books_apply_burst(struct gw_books *b, const struct gw_book_msg *msgs, uint32_t n,
                          int64_t rx_ns)
{
    for (uint32_t i = 0; i < n; i++)
        prefetch_one(b, msgs[i].m, msgs[i].len);
    for (uint32_t i = 0; i < n; i++)
        apply_one(b, msgs[i].m, msgs[i].seq, rx_ns);
}

void gw_books_gap(struct gw_books *b, uint64_t first, uint64_t count, int64_t rx_ns)
{
    struct msgctx c = {first, 0, rx_ns, 0};
    emit(b, GW_EV_GAP, 0, 0, &c, 0, (int64_t)count, 0, 0, 0);
    b->st.integrity[GW_I_GAP]++;
    if (b->kept[GW_I_GAP] < GW_INTEGRITY_KEEP) {
        b->kept[GW_I_GAP]++;
        struct gw_integrity_record *r = &b->integrity[b->nintegrity++];
        memset(r, 0, sizeof(*r));
        r->ref = first;
        r->seq = count;
        r->kind = GW_I_GAP;
    }
    /* Without the missing messages no book can be trusted. */
    for (uint32_t i = 1; i <= b->nbooks; i++) {
        write_begin(&b->books[i]);
        mark_stale(b, i, &c);
        write_end(&b->books[i]);
    }
}

void gw_books_joined_late(struct gw_books *b, uint64_t first, uint64_t count, int64_t rx_ns)
{
    b->born_stale = 1;
    gw_books_gap(b, first, count, rx_ns);
}

/* ---- open / close ---------------------------------------------------------- */

int gw_books_open(struct gw_books **out, const struct gw_books_config *cfg)
{
    if (!cfg || !cfg->max_instruments || !cfg->max_orders || !cfg->max_levels ||
        cfg->max_orders > GW_BOOKS_MAX_POOL || cfg->max_levels > GW_BOOKS_MAX_POOL ||
        cfg->max_instruments >= 0x7FFFFFFFu || cfg->event_capacity > (1u << 30))
        return GW_ECONFIG;
    struct gw_books *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->cfg = *cfg;
    uint64_t mo = cfg->max_orders, nl = (uint64_t)cfg->max_levels + 1;
    uint64_t nb = (uint64_t)cfg->max_instruments + 1;
    /* Direct order slots: at least twice the live orders, so an add rarely
     * finds its slot taken; the overflow can hold every live order. */
    uint64_t direct = pow2_at_least(mo * 2);
    uint64_t oh = pow2_at_least(mo * 2), lh = pow2_at_least(nl * 2), sh = pow2_at_least(nb * 2);
    b->dmask = direct - 1;
    b->xnext = (uint32_t)direct;
    b->xend = (uint32_t)(direct + mo);
    b->omask = oh - 1;
    b->lmask = lh - 1;
    b->lshift = (uint32_t)(64 - __builtin_ctzll(lh));
    b->smask = sh - 1;
    b->orders = pool(b, 0, (direct + mo) * sizeof(struct order));
    b->levels = pool(b, 1, nl * sizeof(struct level));
    b->ohash = pool(b, 2, oh * sizeof(struct oslot));
    b->lhash = pool(b, 3, lh * sizeof(struct lslot));
    b->books = pool(b, 4, nb * sizeof(struct book));
    b->sym_keys = pool(b, 5, sh * (sizeof(uint64_t) + sizeof(uint32_t)));
    if (!b->orders || !b->levels || !b->ohash || !b->lhash || !b->books || !b->sym_keys) {
        gw_books_close(b);
        return -ENOMEM;
    }
    b->sym_ids = (uint32_t *)(b->sym_keys + sh);
    if (cfg->event_capacity) {
        /* At least 2: after a loss the OVERFLOW marker and the event
         * that follows it must both fit, or the ring never recovers. */
        uint64_t rc = pow2_at_least(cfg->event_capacity < 2 ? 2 : cfg->event_capacity);
        b->ring = calloc(rc, sizeof(struct gw_event));
        if (!b->ring) {
            gw_books_close(b);
            return -ENOMEM;
        }
        b->rmask = rc - 1;
        b->st.bytes += rc * sizeof(struct gw_event);
    }
    /* Slot 0 is the null index and sentinel (see the top of the file);
     * level slots are handed out from 1 up, then recycled through the free
     * list.  The order sentinel's reference folds to slot 1, so no
     * reference whose direct slot is 0 can match it. */
    b->orders[0].ref = 1;
    b->lnext = 1;
    b->st.order_bytes = (b->map_bytes[0] + b->map_bytes[2]) / mo;
    b->st.level_bytes = sizeof(struct level) + 2 * sizeof(struct lslot);
    *out = b;
    return 0;
}

void gw_books_close(struct gw_books *b)
{
    if (!b)
        return;
    for (int i = 0; i < 6; i++)
        if (b->maps[i])
            munmap(b->maps[i], b->map_bytes[i]);
    free(b->ring);
    free(b);
}

/* ---- readers ------------------------------------------------------------- */

static inline uint32_t read_begin(const struct book *bk)
{
    uint32_t s;
    while ((s = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE)) & 1)
        gw_cpu_relax();
    return s;
}

static inline int read_retry(const struct book *bk, uint32_t s)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&bk->seq, __ATOMIC_RELAXED) != s;
}

uint32_t gw_books_count(const struct gw_books *b)
{
    return __atomic_load_n(&b->nbooks, __ATOMIC_ACQUIRE);
}

uint32_t gw_books_find_symbol(const struct gw_books *b, const char *symbol)
{
    uint8_t sym[8];
    size_t n = strlen(symbol);
    if (n > 8)
        return 0;
    memset(sym, ' ', 8);
    memcpy(sym, symbol, n);
    return sym_lookup(b, sym_key(sym));
}

uint32_t gw_books_find_locate(const struct gw_books *b, uint16_t locate)
{
    return b->locate[locate];
}

int gw_book_info(const struct gw_books *b, uint32_t id, struct gw_book_info *out)
{
    if (id == 0 || id > gw_books_count(b))
        return -ENOENT;
    const struct book *bk = &b->books[id];
    uint32_t s;
    do {
        s = read_begin(bk);
        memcpy(out, &bk->info, sizeof(*out));
    } while (read_retry(bk, s));
    out->version = s;
    return 0;
}

int gw_book_levels(const struct gw_books *b, uint32_t id, int side, struct gw_level_view *out,
                   uint32_t max)
{
    if (id == 0 || id > gw_books_count(b) || (side != GW_SIDE_BID && side != GW_SIDE_ASK))
        return -ENOENT;
    const struct book *bk = &b->books[id];
    uint32_t s, n;
    do {
        s = read_begin(bk);
        n = 0;
        /* Indices are checked, so a walk racing the writer stays inside the
         * pool; the seqlock then throws the copy away. */
        for (uint32_t li = bk->head[side]; li && li <= b->cfg.max_levels && n < max;
             li = b->levels[li].next) {
            out[n].price = b->levels[li].price;
            out[n].shares = b->levels[li].shares;
            out[n].orders = b->levels[li].orders;
            out[n]._pad = 0;
            n++;
        }
    } while (read_retry(bk, s));
    return (int)n;
}

int gw_book_orders(const struct gw_books *b, uint32_t id, int side, int64_t price,
                   struct gw_order_view *out, uint32_t max)
{
    if (id == 0 || id > gw_books_count(b) || (side != GW_SIDE_BID && side != GW_SIDE_ASK))
        return -ENOENT;
    const struct book *bk = &b->books[id];
    uint32_t s, n;
    int found;
    do {
        s = read_begin(bk);
        n = 0;
        uint32_t li = level_find(b, id << 1 | (uint32_t)side, price);
        found = li != 0;
        for (uint32_t oi = li ? b->levels[li].head : 0;
             oi && oi < b->xend && n < max; oi = b->orders[oi].next) {
            out[n].ref = b->orders[oi].ref;
            out[n].shares = b->orders[oi].shares;
            n++;
        }
    } while (read_retry(bk, s));
    return found ? (int)n : -ENOENT;
}

int gw_book_mark_recovered(struct gw_books *b, uint32_t id)
{
    if (id == 0 || id > b->nbooks)
        return -ENOENT;
    struct book *bk = &b->books[id];
    if (!(bk->info.flags & GW_BOOK_STALE))
        return 0;
    write_begin(bk);
    bk->info.flags &= (uint8_t)~GW_BOOK_STALE;
    b->st.stale_books--;
    write_end(bk);
    struct msgctx c = {bk->info.last_seq, bk->info.last_exch_ns, gw_clock_realtime_ns(), 0};
    emit(b, GW_EV_RECOVERED, id, 0, &c, 0, 0, 0, 0, 0);
    return 0;
}

const struct gw_books_stats *gw_books_stats(const struct gw_books *b)
{
    /* Kept here rather than on the hot path. */
    ((struct gw_books *)b)->st.overflow_orders = b->noverflow;
    return &b->st;
}

const struct gw_integrity_record *gw_books_integrity(const struct gw_books *b, uint32_t *n)
{
    *n = b->nintegrity;
    return b->integrity;
}

uint32_t gw_events_peek(struct gw_books *b, const struct gw_event **first, uint32_t max)
{
    if (!b->ring)
        return 0;
    uint64_t head = __atomic_load_n(&b->rhead, __ATOMIC_ACQUIRE);
    uint64_t tail = b->rtail;
    uint64_t avail = head - tail;
    uint64_t to_end = (b->rmask + 1) - (tail & b->rmask);
    uint64_t n = avail < to_end ? avail : to_end;
    if (n > max)
        n = max;
    *first = &b->ring[tail & b->rmask];
    return (uint32_t)n;
}

void gw_events_release(struct gw_books *b, uint32_t n)
{
    __atomic_store_n(&b->rtail, b->rtail + n, __ATOMIC_RELEASE);
}
