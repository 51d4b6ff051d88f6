/*
 * gw/api.h -- the C core's public API.
 *
 * This file is read twice: by the C compiler (through gw/gw.h) and by the
 * CFFI builder, which feeds it to ffi.cdef() after dropping preprocessor
 * lines other than numeric #defines.  So it holds only what cdef can parse:
 * structs, enums with explicit values, prototypes.  Inline hot helpers live
 * in gw/gw.h.
 *
 * Conventions (after libxdp's xsk.h): opaque handles, gw_<object>_<verb>
 * names, burst calls, functions return 0 or a count on success and a
 * negative GW_E* / -errno code on failure; gw_strerror() names any code.
 */
#ifndef GW_API_H
#define GW_API_H

#include <stddef.h>
#include <stdint.h>
#include "gw/itch50_gen.h"

/* ---- errors --------------------------------------------------------- */
/* Negative errno values (-ENOENT, -ENOMEM, ...) are returned as they are;
 * codes of our own start below -4096 so they never collide. */
#define GW_EFORMAT   -4097  /* input is not in a format we read */
#define GW_EFILTER   -4098  /* BPF filter expression did not compile */
#define GW_EPCAP     -4099  /* libpcap reported an error (see source error) */
#define GW_EGZIP     -4100  /* zlib reported an error */
#define GW_ETRUNC    -4101  /* input ends in the middle of a record */
#define GW_ECONFIG   -4102  /* invalid configuration value */

const char *gw_strerror(int err);

/* ---- the one clock ---------------------------------------------------- */
/* Every receive timestamp is int64 nanoseconds since the UNIX epoch on
 * CLOCK_REALTIME, whatever the source (see docs/architecture.md). */
int64_t gw_clock_realtime_ns(void);

/* ---- frames: what every source hands the decoder ---------------------- */
#define GW_LINK_ETHERNET 1    /* DLT_EN10MB */
#define GW_LINK_RAW_IPV4 228  /* DLT_IPV4: starts at the IPv4 header */
#define GW_LINK_LINUX_SLL 113 /* DLT_LINUX_SLL */
#define GW_LINK_LINUX_SLL2 276 /* DLT_LINUX_SLL2 */
#define GW_LINK_RAW 101       /* DLT_RAW (IPv4 or IPv6 by version nibble) */
#define GW_LINK_MOLD 0x10001  /* a UDP payload: one MoldUDP64 packet */
#define GW_LINK_ITCH 0x10002  /* one bare ITCH message (BinaryFILE) */

struct gw_frame {
    const uint8_t *data;  /* first byte of the frame, read in place */
    uint32_t len;         /* bytes available at data */
    uint32_t wire_len;    /* length on the wire (>= len if snapped) */
    int64_t rx_ns;        /* receive time, the one clock */
    uint32_t link;        /* GW_LINK_* */
    uint16_t line;        /* feed line (A=0, B=1, ...) */
    uint16_t flags;
};

/* ---- counters by reason ---------------------------------------------- */
/* Every dropped or odd input is counted under one of these names; drops
 * lose the item, notes keep it (decoded anyway).  gw_reason_name() gives
 * the stable snake_case name Python and the CLI print. */
enum gw_reason {
    GW_R_SHORT_FRAME = 0,        /* drop: shorter than its link/IP/UDP headers */
    GW_R_ARP = 1,                /* drop: not ours */
    GW_R_IPV6 = 2,
    GW_R_OTHER_ETHERTYPE = 3,
    GW_R_VLAN_TOO_DEEP = 4,      /* more than 2 stacked tags */
    GW_R_BAD_IP_HEADER = 5,      /* version/IHL/total length inconsistent */
    GW_R_IP_FRAGMENT = 6,
    GW_R_TCP = 7,
    GW_R_OTHER_IP_PROTOCOL = 8,
    GW_R_BAD_UDP_HEADER = 9,     /* UDP length inconsistent */
    GW_R_IP_CHECKSUM = 10,       /* drop, only with verify_checksums */
    GW_R_UDP_CHECKSUM = 11,      /* drop, only with verify_checksums */
    GW_R_UNKNOWN_LINKTYPE = 12,
    GW_R_SNAPPED = 13,           /* drop: frame captured shorter than sent */
    GW_R_MOLD_SHORT = 14,        /* drop: UDP payload shorter than 20 bytes */
    GW_R_MOLD_COUNT_OVERRUN = 15,  /* drop rest: count says more than fits */
    GW_R_MOLD_LENGTH_OVERRUN = 16, /* drop rest: a block overruns the packet */
    GW_R_MOLD_TRAILING_BYTES = 17, /* note: bytes after the last block */
    GW_R_MOLD_DUPLICATE = 18,      /* drop: messages already seen (counted per message) */
    GW_R_MOLD_SESSIONS_FULL = 19,  /* drop: more sessions than tracked */
    GW_R_ITCH_EMPTY = 20,          /* drop: zero-length message block */
    GW_R_ITCH_UNKNOWN_TYPE = 21,   /* drop */
    GW_R_ITCH_TRUNCATED = 22,      /* drop: shorter than the spec length */
    GW_R_ITCH_LONGER = 23,         /* note: longer than spec, known prefix decoded */
    GW_R_BINFILE_ZERO_LENGTH = 24,     /* note: 0 prefix, framed by spec length */
    GW_R_BINFILE_LENGTH_MISMATCH = 25, /* note: prefix disagrees with spec; framed by prefix */
    GW_R_BINFILE_UNFRAMEABLE = 26,     /* drop rest: 0 prefix and unknown type */
    GW_R_TRUNCATED_RECORD = 27,        /* drop: file ends inside a record */
    GW_R_FILTERED = 28,                /* note: rejected by the BPF filter */
    GW_R_OVERSIZED_FRAME = 29,         /* drop: a MoldUDP64 payload over 65,535 bytes */
    GW_R_MOLD_HOLD_FULL = 30,          /* note: gap buffer full, its gaps given up early */
    GW_R_MOLD_LATE_JOIN = 31,          /* note: a session joined past sequence 1 (hold mode) */
    GW_R_OTHER_DESTINATION = 32,       /* drop: UDP to a (group, port) not subscribed */
    GW_R__COUNT = 33
};
const char *gw_reason_name(int reason);

/* ---- sources: capture files ------------------------------------------- */
struct gw_source;  /* opaque */

#define GW_SRC_FORCE_LIBPCAP 1  /* read classic pcap through libpcap too */

struct gw_source_info {
    uint32_t link;             /* GW_LINK_* of its frames */
    uint32_t snaplen;
    uint64_t frames;           /* frames handed out */
    uint64_t bytes;            /* frame bytes handed out */
    uint64_t bytes_read;       /* input bytes consumed (progress) */
    uint64_t bytes_total;      /* input size, 0 if unknown (gzip, pipes) */
    uint64_t reasons[GW_R__COUNT]; /* GW_R_* counted by the source */
    uint64_t kernel_drops;     /* live sources: datagrams the kernel dropped (SO_RXQ_OVFL) */
    uint64_t nic_drops;        /* kernel bypass: lost before the source saw them (DPDK
                                  imissed + rx_nombuf; AF_XDP dropped, ring full, fill empty) */
    uint64_t polls;            /* live sources: waits for input */
    char kind[32];             /* "pcap-mmap", "libpcap", "binaryfile", "udp" */
    char error[256];           /* last error message, "" if none */
};

int gw_source_open_pcap(struct gw_source **out, const char *path, const char *filter,
                        uint32_t flags, char *err, size_t errlen);
int gw_source_open_binfile(struct gw_source **out, const char *path, uint32_t flags,
                           char *err, size_t errlen);
/* Kernel UDP: one socket per endpoint (a multicast group joined on the
 * interface, or a bound socket handed in), read with recvmmsg in bursts,
 * kernel receive timestamps (SO_TIMESTAMPNS, the one clock).  Frames are
 * GW_LINK_MOLD payloads carrying their endpoint's line. */
#define GW_UDP_MAX_ENDPOINTS 16
struct gw_udp_endpoint {
    uint32_t group;       /* IPv4 multicast group, network order (0 with fd >= 0) */
    uint16_t port;        /* host order */
    uint16_t line;        /* feed line of its frames (A=0, B=1, ...) */
    int32_t fd;           /* >= 0: read this bound socket instead (not closed by the source) */
    uint32_t _pad;
};
struct gw_udp_config {
    char interface[16];   /* where groups are joined; "" = as the routing table says */
    uint32_t nendpoints;
    uint32_t slot_size;   /* bytes per datagram buffer; 0 = 2048 */
    uint32_t burst;       /* datagram buffers (most frames one call returns); 0 = 256 */
    int32_t timeout_ms;   /* how long next() waits when nothing is ready (0: not at all) */
    uint32_t rcvbuf;      /* SO_RCVBUF bytes asked for; 0 = leave the default */
    uint32_t _pad;
    struct gw_udp_endpoint endpoints[GW_UDP_MAX_ENDPOINTS];
};
int gw_source_open_udp(struct gw_source **out, const struct gw_udp_config *cfg, char *err,
                       size_t errlen);

/* Up to max frames; >0 count, 0 at end of input (a live source: nothing
 * arrived within its timeout), <0 error.  The burst is released by the
 * next call: frames stay valid until then, and no longer. */
int gw_source_next(struct gw_source *src, struct gw_frame *frames, uint32_t max);
const struct gw_source_info *gw_source_info(const struct gw_source *src);
void gw_source_close(struct gw_source *src);

/* ---- MoldUDP64 sequencing (one line) ---------------------------------- */
#define GW_MAX_SESSIONS 16
#define GW_GAP_LOG 256

struct gw_mold_session {
    uint8_t name[10];
    uint8_t ended;        /* end-of-session seen */
    uint8_t joined;       /* a packet of this session has been seen */
    uint8_t _pad[4];
    uint64_t first_seq;   /* sequence of the first message seen (late join if > 1) */
    uint64_t next_seq;    /* next sequence expected */
    uint64_t packets;
    uint64_t messages;    /* new messages accepted */
    uint64_t heartbeats;
    uint64_t gaps;
    uint64_t gap_messages;
    uint64_t dup_packets;    /* packets wholly or partly already seen */
    uint64_t dup_messages;
    /* hold mode (GW_DEC_HOLD_GAPS) */
    uint64_t known_end;      /* one past the highest sequence known to exist */
    uint64_t held;           /* messages waiting in the gap buffer */
    uint64_t filled;         /* messages that arrived inside a gap (other line, retransmission) */
    uint64_t lost;           /* messages given up (their books marked stale) */
    int64_t gap_since_ns;    /* receive time the oldest open gap was seen; 0 = none */
};

/* Per line (frame.line): health for A/B arbitration. */
#define GW_MAX_LINES 8
struct gw_line_stats {
    uint64_t packets;
    uint64_t bytes;
    uint64_t messages;       /* messages carried (new or not) */
    uint64_t first;          /* messages this line delivered first */
    uint64_t lost;           /* messages missing from this line's own sequence */
    uint64_t next_seq;       /* next sequence this line should carry */
    int64_t last_rx_ns;      /* receive time of its last packet; 0 = never */
    uint16_t session;        /* session of next_seq */
    uint8_t _pad[6];
};

/* A range of sequences missing in front of held messages (or a heartbeat). */
struct gw_missing {
    uint64_t first;
    uint64_t count;
    int64_t since_ns;        /* when the session's oldest open gap was seen */
    uint16_t session;
    uint8_t _pad[6];
};

struct gw_gap {
    uint64_t first;       /* first missing sequence */
    uint64_t count;       /* messages missing */
    int64_t rx_ns;        /* when the gap was seen */
    uint16_t session;     /* index into the session table */
    uint16_t line;
    uint32_t _pad;
};

/* ---- decoder: frames -> MoldUDP64 -> ITCH 5.0 --------------------------- */
struct gw_decoder;  /* opaque */

#define GW_DEC_VERIFY_CHECKSUMS 1
#define GW_DEC_RECORDS 2          /* fill one gw_itch_record per message */
#define GW_DEC_HOLD_GAPS 4        /* live feed: hold messages behind a gap (not with RECORDS) */

struct gw_decoder_config {
    uint32_t flags;
    uint32_t record_capacity;     /* records buffered between drains */
    /* GW_DEC_HOLD_GAPS: the gap buffer, copied messages.  Holds sequences
     * [next, next + hold_messages) in hold_bytes; 0 = 65536 and 4 MiB. */
    uint32_t hold_messages;
    uint32_t hold_bytes;
    /* A first packet at sequence s <= join_gap + 1 opens a gap from 1
     * (recovered like any other); further in, the session is joined late
     * and its books are marked stale. */
    uint64_t join_gap;
};

/* One decoded ITCH message: every field of its type in table order, each
 * in one 8-byte slot (integers as values, alpha fields as their raw bytes
 * in memory order).  Mirrored by gateway.native.RECORD_DTYPE. */
struct gw_itch_record {
    uint64_t seq;         /* MoldUDP64 sequence, or ordinal in a BinaryFILE */
    int64_t rx_ns;        /* frame receive time, the one clock */
    uint16_t session;     /* session table index, 0xFFFF for BinaryFILE */
    uint16_t length;      /* message length on the wire */
    uint8_t type;
    uint8_t nfields;
    uint16_t line;
    uint64_t frame;       /* index of the frame it came in (0-based) */
    uint64_t v[GW_ITCH_MAX_FIELDS];
};

struct gw_decoder_stats {
    uint64_t frames;
    uint64_t frame_bytes;
    uint64_t udp_packets;
    uint64_t mold_packets;
    uint64_t heartbeats;
    uint64_t end_of_session;
    uint64_t messages;          /* ITCH messages decoded */
    uint64_t message_bytes;
    uint64_t digest;            /* sum of gw_itch_digest() over decoded messages */
    uint64_t gaps;
    uint64_t gap_messages;
    uint64_t dup_messages;
    int64_t first_rx_ns;
    int64_t last_rx_ns;
    uint64_t by_type[256];      /* decoded messages per type byte */
    uint64_t reasons[GW_R__COUNT];
};

int gw_decoder_open(struct gw_decoder **out, const struct gw_decoder_config *cfg);
void gw_decoder_close(struct gw_decoder *dec);
/* Only these types get records (a string of type codes; NULL or "" = all). */
int gw_decoder_set_types(struct gw_decoder *dec, const char *types);
/* Decode a burst.  Returns how many frames were consumed (all of them
 * unless the record buffer filled: drain it and call again with the rest). */
int gw_decoder_frames(struct gw_decoder *dec, const struct gw_frame *frames, uint32_t n);
const struct gw_itch_record *gw_decoder_records(const struct gw_decoder *dec, uint32_t *n);
void gw_decoder_drain(struct gw_decoder *dec);
const struct gw_decoder_stats *gw_decoder_stats(const struct gw_decoder *dec);
const struct gw_mold_session *gw_decoder_sessions(const struct gw_decoder *dec, uint32_t *n);
/* The gap log keeps the first GW_GAP_LOG gaps; stats count them all. */
const struct gw_gap *gw_decoder_gaps(const struct gw_decoder *dec, uint32_t *n);
/* Hold mode: what is missing now (up to max ranges, oldest first). */
uint32_t gw_decoder_missing(const struct gw_decoder *dec, struct gw_missing *out, uint32_t max);
/* Give up the missing sequences of a session below upto (0: all known):
 * they are logged as a gap, the books are marked stale, and the held
 * messages behind them are applied.  Returns messages given up. */
int64_t gw_decoder_give_up(struct gw_decoder *dec, uint16_t session, uint64_t upto, int64_t now_ns);
const struct gw_line_stats *gw_decoder_lines(const struct gw_decoder *dec, uint32_t *n);
/* Only UDP to these destinations is decoded (others: other_destination);
 * n = 0 takes everything.  For sources that see a whole port (DPDK). */
#define GW_MAX_DESTINATIONS 32
struct gw_destination {
    uint32_t addr;        /* IPv4, network order */
    uint16_t port;        /* host order */
    uint16_t _pad;
};
int gw_decoder_set_destinations(struct gw_decoder *dec, const struct gw_destination *d, uint32_t n);
/* The feed loop in C: pump src (and, after each of its bursts, extra
 * without waiting) until something needs the caller.  Returns frames
 * decoded (>= 0) or a negative error; *why says why it returned:
 *   GW_RUN_ENDED  every session ended and nothing is missing or held
 *   GW_RUN_GAP    a new gap was seen (the recovery policy should look)
 *   GW_RUN_IDLE   src had nothing within its timeout (or a file ended);
 *                 with GW_RUN_SPIN an empty burst is tried again instead
 *   GW_RUN_TIME   max_ns of CLOCK_MONOTONIC time passed
 * So Python runs per event, not per burst. */
#define GW_RUN_ENDED 1
#define GW_RUN_GAP 2
#define GW_RUN_IDLE 3
#define GW_RUN_TIME 4
#define GW_RUN_SPIN 1
int64_t gw_decoder_run(struct gw_decoder *dec, struct gw_source *src, struct gw_source *extra,
                       struct gw_frame *scratch, uint32_t burst, int64_t max_ns, uint32_t flags,
                       int *why);
/* Decode a burst of a source straight through: one call, no Python between. */
int gw_decoder_pump(struct gw_decoder *dec, struct gw_source *src, struct gw_frame *scratch,
                    uint32_t burst);

/* The digest of one message: what benchmarks and cross-checks sum. */
uint64_t gw_itch_digest_of(const uint8_t *msg, uint32_t len);

/* ---- the event record (book events; decided now, produced by the book) - */
#define GW_EVENT_VERSION 1
enum gw_event_kind {
    GW_EV_NONE = 0,
    GW_EV_BOOK_LEVEL = 1,   /* a price level changed: price, size, order_count */
    GW_EV_BBO = 2,          /* best bid or offer changed (one event per side) */
    GW_EV_TRADE = 3,        /* a trade: price, size, aux = match number */
    GW_EV_BOOK_STATE = 4,   /* trading state / system event: aux = state code */
    GW_EV_GAP = 5,          /* sequence gap seen: seq = first missing, size = count */
    GW_EV_STALE = 6,        /* book no longer trustworthy (unfilled gap, pool full) */
    GW_EV_RECOVERED = 7,    /* book whole again */
    GW_EV_OVERFLOW = 8      /* the ring dropped events: size = how many; resync from the book */
};

struct gw_event {
    uint8_t kind;          /* enum gw_event_kind */
    uint8_t version;       /* GW_EVENT_VERSION */
    uint8_t side;          /* 'B', 'S' or 0 */
    uint8_t flags;
    uint16_t feed;         /* feed id from configuration */
    uint16_t session;      /* session index within the feed */
    uint32_t instrument;   /* instrument id: (feed, locate) mapped once */
    uint32_t order_count;  /* orders at the level after the change */
    uint64_t seq;          /* sequence of the message that caused it */
    int64_t exch_ns;       /* exchange timestamp, feed-native (ITCH: ns since midnight) */
    int64_t rx_ns;         /* receive time, the one clock */
    int64_t price;         /* scaled by the instrument's price exponent */
    int64_t size;
    uint64_t aux;          /* kind-specific: match number, state code, ... */
};


/* ---- order books: every instrument of one feed ------------------------- */
/* One writer (whoever drives the decoder the books are attached to) owns
 * them; readers copy consistent views through the gw_book_* calls, which
 * retry under a per-book seqlock and never block the writer. */
struct gw_books;  /* opaque */

#define GW_SIDE_BID 0
#define GW_SIDE_ASK 1

#define GW_BOOK_STALE 1     /* not trustworthy: a pool ran out or a gap */
#define GW_BOOK_CROSSED 2   /* best bid >= best ask (reported, not corrected) */

#define GW_BOOKS_PREFAULT 1 /* touch every pool page at open, not on first use */
#define GW_BOOKS_MAX_POOL 268435456 /* 2^28: most orders, and most levels, a set may hold */

struct gw_books_config {
    uint32_t max_instruments;   /* books (instrument ids 1..max) */
    uint32_t max_orders;        /* live orders, all books together */
    uint32_t max_levels;        /* live price levels, all books together */
    uint32_t event_capacity;    /* events in the ring (rounded up to a power of two); 0 = none */
    uint32_t flags;             /* GW_BOOKS_* */
    uint16_t feed;              /* feed id stamped on events */
    int16_t price_exponent;     /* ITCH: -4 */
};

/* A consistent copy of one book's header and best bid and offer.  The
 * writer keeps one of these per book; the fields it touches per message
 * come first, so a message touches as few cache lines as it can. */
struct gw_book_info {
    int64_t bid_price;
    int64_t ask_price;
    uint64_t bid_shares;
    uint64_t ask_shares;
    uint32_t bid_orders;      /* orders at the best bid */
    uint32_t ask_orders;
    uint32_t bid_levels;      /* price levels on the side */
    uint32_t ask_levels;
    uint64_t orders;          /* live orders in the book */
    uint64_t messages;        /* messages applied to this book */
    uint64_t last_seq;
    int64_t last_exch_ns;
    uint8_t flags;            /* GW_BOOK_* */
    uint8_t trading_state;    /* H: 'H' halted, 'P' paused, 'Q' quotation only, 'T' trading; 0 unknown */
    uint8_t system_event;     /* the feed's last S event code */
    uint8_t _pad;
    uint8_t reason[4];        /* H: trading action reason */
    uint64_t adds;
    uint64_t executions;      /* E and C */
    uint64_t cancels;         /* X */
    uint64_t deletes;         /* D */
    uint64_t replaces;        /* U */
    uint64_t trades;          /* E, C, P, Q */
    uint64_t traded_shares;
    uint64_t crossed;         /* times the book became crossed */
    uint32_t id;
    uint16_t locate;
    uint16_t feed;
    uint8_t symbol[8];        /* as sent: space padded */
    int32_t price_exponent;
    uint32_t _pad2;
    uint64_t version;         /* seqlock value the copy was taken at */
};

struct gw_level_view {
    int64_t price;
    uint64_t shares;
    uint32_t orders;
    uint32_t _pad;
};

struct gw_order_view {
    uint64_t ref;
    uint64_t shares;
};

enum gw_integrity {
    GW_I_UNKNOWN_REF = 0,       /* E/C/X/D/U naming a reference that is not live: no change */
    GW_I_OVER_EXECUTE = 1,      /* executed more than open: order removed */
    GW_I_OVER_CANCEL = 2,       /* cancelled more than open: order removed */
    GW_I_DUPLICATE_REF = 3,     /* add naming a live reference: the new replaces the old */
    GW_I_CROSSED = 4,           /* book became crossed or locked */
    GW_I_ORDER_POOL_FULL = 5,   /* add dropped, book marked stale */
    GW_I_LEVEL_POOL_FULL = 6,   /* add dropped, book marked stale */
    GW_I_BOOK_POOL_FULL = 7,    /* messages for a new instrument dropped */
    GW_I_GAP = 8,               /* a sequence gap: every book marked stale */
    GW_I__COUNT = 9
};

#define GW_INTEGRITY_KEEP 8   /* first records kept per kind */

struct gw_integrity_record {
    uint64_t ref;           /* order reference (GAP: first missing sequence) */
    uint64_t seq;           /* sequence of the message (GAP: messages missing) */
    int64_t exch_ns;        /* its exchange timestamp */
    uint32_t instrument;
    uint8_t kind;           /* enum gw_integrity */
    uint8_t msg_type;       /* ITCH type byte */
    uint16_t _pad;
};

struct gw_books_stats {
    uint64_t messages;          /* ITCH messages applied */
    uint64_t books;             /* instruments known */
    uint64_t orders;            /* live orders */
    uint64_t levels;            /* live levels */
    uint64_t peak_orders;
    uint64_t peak_levels;
    uint64_t stale_books;
    uint64_t crossed_books;
    uint64_t events;            /* written to the ring */
    uint64_t events_dropped;    /* lost because the ring was full */
    uint64_t overflows;         /* OVERFLOW markers written */
    uint64_t integrity[GW_I__COUNT];
    uint64_t unknown_ref_by_type[256];
    uint64_t bytes;             /* memory the pools take */
    uint64_t order_bytes;       /* address space per order of max_orders (table, overflow, hash) */
    uint64_t level_bytes;       /* address space per level of max_levels (ladder arena) */
    uint64_t overflow_orders;   /* live orders whose direct slot was taken (see book.c) */
    uint64_t compactions;       /* times the ladder arena was compacted */
};

int gw_books_open(struct gw_books **out, const struct gw_books_config *cfg);
void gw_books_close(struct gw_books *b);
int gw_decoder_attach_books(struct gw_decoder *dec, struct gw_books *b);
/* Stop applying messages after this sequence (0 = never) or exchange time
 * (ns since midnight; -1 = never): to see a book as it was at that point. */
void gw_decoder_stop_after(struct gw_decoder *dec, uint64_t seq, int64_t exch_ns);

uint32_t gw_books_count(const struct gw_books *b);                /* ids are 1..count */
uint32_t gw_books_find_symbol(const struct gw_books *b, const char *symbol); /* 0 if none */
uint32_t gw_books_find_locate(const struct gw_books *b, uint16_t locate);
int gw_book_info(const struct gw_books *b, uint32_t id, struct gw_book_info *out);
/* Up to max levels of one side, best first; returns how many. */
int gw_book_levels(const struct gw_books *b, uint32_t id, int side,
                   struct gw_level_view *out, uint32_t max);
/* The orders at one price, in time priority; returns how many (-ENOENT if no level). */
int gw_book_orders(const struct gw_books *b, uint32_t id, int side, int64_t price,
                   struct gw_order_view *out, uint32_t max);
int gw_book_mark_recovered(struct gw_books *b, uint32_t id);
const struct gw_books_stats *gw_books_stats(const struct gw_books *b);
const struct gw_integrity_record *gw_books_integrity(const struct gw_books *b, uint32_t *n);

/* The event ring (single producer, single consumer), after libxdp's rings:
 * peek gives the next contiguous run of readable events, release hands
 * them back. */
uint32_t gw_events_peek(struct gw_books *b, const struct gw_event **first, uint32_t max);
void gw_events_release(struct gw_books *b, uint32_t n);

/* ---- FIX: framing and indexing in place ------------------------------
 * gw_fix_scan frames the complete messages at the front of a byte stream
 * (BeginString, BodyLength, CheckSum) and indexes every field of each in
 * place: tag, offset and length, no copy, no object per field.  It stops
 * at the first incomplete message (*consumed says where: keep the rest
 * and call again with more bytes).  A message whose bytes cannot be framed
 * is skipped up to the next "8=FIX" and reported with its error, as is a
 * framed message whose checksum or fields are wrong: the session layer
 * decides what to do (FIX says: ignore a garbled message). */
#define GW_FIX_E_GARBAGE -1        /* bytes before a message that are not "8=FIX" */
/* BODY_LENGTH: no valid 9= second, or "10=" not where it points (the
 * message then runs to the next SOH "10=" field).  CHECKSUM: framed, but the
 * sum differs from 10=, or 10= is not three digits. */
#define GW_FIX_E_BODY_LENGTH -2
#define GW_FIX_E_CHECKSUM -3
#define GW_FIX_E_FIELD -4          /* framed, but a field is not tag=value<SOH> */
#define GW_FIX_E_TOO_MANY_FIELDS -5 /* framed, more fields than the index holds */
#define GW_FIX_E_TOO_LONG -6       /* BodyLength beyond the largest message allowed */

struct gw_fix_field {
    int32_t tag;           /* as written: 0 and negative tags are indexed too */
    uint32_t off;          /* value offset in the buffer */
    uint32_t len;          /* value length */
};

struct gw_fix_msg {
    uint32_t off;          /* where the message (or skipped bytes) starts */
    uint32_t len;          /* its length, trailer included */
    uint32_t first;        /* index of its first field in the field array */
    uint32_t nfields;      /* fields indexed (8, 9 and 10 included) */
    uint32_t body_length;
    uint32_t type_off;     /* MsgType (35) value, if present: offset and length */
    uint16_t type_len;
    uint16_t checksum;     /* the value of 10= */
    int32_t error;         /* 0, or GW_FIX_E_* */
};

int gw_fix_scan(const uint8_t *buf, uint32_t len, struct gw_fix_msg *msgs, uint32_t max_msgs,
                struct gw_fix_field *fields, uint32_t max_fields, uint32_t max_body,
                uint32_t *consumed);

/* ---- FIX: encoding from a precomputed template -----------------------
 * A template holds everything of a message type that does not change from
 * one message to the next -- BeginString, MsgType, SenderCompID,
 * TargetCompID and each body tag's "tag=" -- so encoding writes the
 * sequence number, SendingTime and the values, then BodyLength and
 * CheckSum, in one pass.  Values come as columns (value i of a column at
 * base + i * stride, up to width bytes, ended early by a NUL; an empty
 * value leaves its field out), so a batch needs no object per field. */
#define GW_FIX_MAX_TEMPLATE_FIELDS 64
struct gw_fix_template;  /* opaque */
struct gw_fix_column {
    const uint8_t *base;
    uint32_t stride;
    uint32_t width;
};
int gw_fix_template_open(struct gw_fix_template **out, const char *begin_string,
                         const char *msg_type, const char *sender, const char *target,
                         const uint32_t *tags, uint32_t ntags);
void gw_fix_template_close(struct gw_fix_template *t);
/* Messages [0, n) back to back into out (ends[i]: where message i ends);
 * returns how many fit in cap. */
int gw_fix_encode_columns(const struct gw_fix_template *t, const uint64_t *seqs, uint32_t n,
                          const char *sending_time, const struct gw_fix_column *cols,
                          uint8_t *out, uint32_t cap, uint32_t *ends);
/* One message, its values back to back in `values` (lens[k] bytes for
 * template tag k, 0 leaving the field out): the order-entry path, one call
 * and nothing to build per field.  Returns its length, or -ENOSPC. */
int gw_fix_encode_packed(const struct gw_fix_template *t, uint64_t seq, const char *sending_time,
                         const uint8_t *values, const uint16_t *lens, uint8_t *out, uint32_t cap);

/* ---- FIX: the data dictionary's straight path ------------------------
 * Built from protocols/fixdict.py's compiled dictionary (gateway/fixscan.py
 * does it); gw_fix_dict_check sets ok[i] to 1 when message i (indexed by
 * gw_fix_scan) is plainly valid -- no group present, header, body and
 * trailer in order, no repeated tag, every value in format and among its
 * listed values, nothing required missing -- and to 0 when the Python
 * checks must look closer (and name the reason).  It never passes what
 * they would reject.  Not thread-safe: one per session thread. */
#define GW_FIX_DICT_MAX_TAG 10000
#define GW_FIX_T_STRING 0     /* non-empty */
#define GW_FIX_T_INT 1        /* -?[0-9]{1,9} */
#define GW_FIX_T_UINT 2       /* [0-9]{1,19} */
#define GW_FIX_T_DECIMAL 3    /* -?([0-9]+(.[0-9]*)?|.[0-9]+) */
#define GW_FIX_T_TIMESTAMP 4  /* YYYYMMDD-HH:MM:SS[.fraction] */
#define GW_FIX_T_TIME 5       /* HH:MM:SS[.fraction] */
#define GW_FIX_T_DATE 6       /* YYYYMMDD */
#define GW_FIX_T_CHAR 7       /* one byte */
#define GW_FIX_T_BOOLEAN 8    /* Y or N */
#define GW_FIX_W_HEADER 0
#define GW_FIX_W_BODY 1
#define GW_FIX_W_TRAILER 2
#define GW_FIX_W_REQUIRED 4
#define GW_FIX_W_GROUP 8      /* opens a repeating group: look closer */
struct gw_fix_dict;  /* opaque */
int gw_fix_dict_open(struct gw_fix_dict **out);
void gw_fix_dict_close(struct gw_fix_dict *d);
/* enums: the listed values, each followed by SOH (enums_len 0: any). */
int gw_fix_dict_field(struct gw_fix_dict *d, int32_t tag, int kind, const char *enums,
                      uint32_t enums_len, int multi);
int gw_fix_dict_message(struct gw_fix_dict *d, const char *msg_type, const int32_t *tags,
                        const uint8_t *where, uint32_t n);
uint32_t gw_fix_dict_check(struct gw_fix_dict *d, const uint8_t *buf, const struct gw_fix_msg *msgs,
                           uint32_t n, const struct gw_fix_field *fields, uint8_t *ok);

#endif /* GW_API_H */
