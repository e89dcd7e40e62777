/* Error codes to sentences. */
#include <string.h>

#include "ringbuf.h"

const char *
rb_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case RB_E_NOT_A_RING:
		return "not a ringbuf ring (not a regular file, or wrong magic number)";
	case RB_E_VERSION:
		return "ring was made by an incompatible ringbuf version (layout version differs)";
	case RB_E_CORRUPT:
		return "ring segment is corrupted or truncated";
	case RB_E_EOS:
		return "end of stream";
	case RB_E_PRODUCER_DEAD:
		return "the producer died";
	case RB_E_OVERRUN:
		return "frame was overwritten by the producer while held (lossy consumer)";
	case RB_E_EVICTED:
		return "this participant was evicted from the ring";
	case RB_E_TOO_MANY:
		return "too many consumers attached to the ring";
	case RB_E_BUSY:
		return "the ring is in use by a live producer (or, to replace or remove it, a live consumer)";
	case RB_E_WOULD_BLOCK:
		return "ring is full (would block)";
	case RB_E_STUCK:
		return "a live participant has held a lock of the ring for over 2 s "
		       "(a stopped process, or a hostile value in the ring)";
	case RB_E_UNTRUSTED:
		return "the ring belongs to another user, who is not trusted (name them as "
		       "trusted, e.g. --trust-owner USER, to attach)";
	case RB_E_TRUNCATED:
		return "ring truncated under us (its file in /dev/shm was cut short while mapped)";
	case RB_E_NO_GROUPS:
		return "this ring has no room for consumer groups (it was made with none)";
	case RB_E_DEMOTED:
		return "this lossless consumer was demoted to lossy: it stalled the producer";
	/* stream headers per stream (layout 4) */
	case RB_E_HEADER_GONE:
		return "the header of this frame's stream was overwritten by newer streams' headers";
	case -ETIMEDOUT:
		return "timed out";
	case -ENOENT:
		return "no such ring";
	case -EEXIST:
		return "ring already exists";
	case -EACCES:
		return "permission denied (the ring belongs to another user or group)";
	case -ENOSPC:
		return "not enough space in /dev/shm for the ring";
	case -EINVAL:
		return "invalid argument";
	case -EINTR:
		return "interrupted";
	default:
		return code < 0 ? strerror(-code) : "unknown error";
	}
}
