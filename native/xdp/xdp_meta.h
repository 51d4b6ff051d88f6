/* xdp_meta.h -- what the XDP program writes in front of each frame it
 * steers to AF_XDP (shared by the BPF program and the source). */
#ifndef GW_XDP_META_H
#define GW_XDP_META_H

#define GW_XDP_META_MAGIC 0x67777864u /* "gwxd": the block is really there */

struct gw_xdp_meta {
    __u64 rx_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u32 line;
    __u32 magic;
};

#endif
