/* Element types: sizes, names, parsing. */
#include <errno.h>
#include <string.h>

#include "ringbuf.h"

static const struct {
	const char *name;
	size_t size;
} rb_elems[RB_ELEM_COUNT_] = {
	[RB_ELEM_NONE] = {"bytes", 0},
	[RB_ELEM_U8] = {"u8", 1},     [RB_ELEM_U16] = {"u16", 2},
	[RB_ELEM_U32] = {"u32", 4},   [RB_ELEM_U64] = {"u64", 8},
	[RB_ELEM_I8] = {"i8", 1},     [RB_ELEM_I16] = {"i16", 2},
	[RB_ELEM_I32] = {"i32", 4},   [RB_ELEM_I64] = {"i64", 8},
	[RB_ELEM_F32] = {"f32", 4},   [RB_ELEM_F64] = {"f64", 8},
	[RB_ELEM_C64] = {"c64", 8},   [RB_ELEM_C128] = {"c128", 16},
};

size_t
rb_elem_size(uint32_t elem)
{
	return elem < RB_ELEM_COUNT_ ? rb_elems[elem].size : 0;
}

const char *
rb_elem_name(uint32_t elem)
{
	return elem < RB_ELEM_COUNT_ ? rb_elems[elem].name : NULL;
}

int
rb_elem_parse(const char *text)
{
	uint32_t i;

	for (i = 0; i < RB_ELEM_COUNT_; i++) {
		if (strcmp(text, rb_elems[i].name) == 0)
			return (int)i;
	}
	return -EINVAL;
}
