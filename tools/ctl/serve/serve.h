/*
 * rb-ctl serve: a read-only web monitor over Debian's libmicrohttpd.
 * serve.c runs the daemon and routes requests to what rb-ctl already
 * prints (list --json, info --json, stat --prometheus); frame.c takes the
 * lossy snapshot of a ring's newest frame the page plots.
 */
#ifndef RB_CTL_SERVE_H
#define RB_CTL_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

/* A copy of a ring's newest frame; data is malloc'ed (free it). */
struct serve_frame {
	struct rb_frame_type type;
	uint64_t seq;
	uint64_t timestamp_ns;
	uint64_t length;  /* bytes of the frame */
	size_t copied;    /* bytes in data: length, or the cap */
	void *data;
};

/* Frames larger than this are cut to it in /api/rings/NAME/frame. */
#define SERVE_FRAME_MAX (16u << 20)

/*
 * Attaches to NAME as a lossy consumer starting at the newest frame (a
 * lossy consumer never slows the producer), copies that frame, checks it
 * was not overwritten while copied (and tries again if it was), detaches.
 * 0, -EAGAIN when no intact frame came within timeout_ns, or the rb_*
 * code of the open or attach.
 */
int serve_frame_take(const char *name, uint64_t timeout_ns, struct serve_frame *out);

#endif /* RB_CTL_SERVE_H */
