/*
 * trust_owner=: whose rings Consumer, Producer(create=False) and Ring may
 * open besides the caller's own and root's (struct rb_open_params in
 * ringbuf.h): a user name, a uid, or a list of them.
 */
#include <pwd.h>
#include <string.h>

#include "rbpy.h"

static int
rbpy_trust_one(PyObject *item, uint32_t *uid)
{
	if (PyLong_Check(item)) {
		unsigned long v = PyLong_AsUnsignedLong(item);

		if (PyErr_Occurred() || v >= UINT32_MAX) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError, "trust_owner: %R is not a uid", item);
			return -1;
		}
		*uid = (uint32_t)v;
		return 0;
	}
	if (PyUnicode_Check(item)) {
		const char *user = PyUnicode_AsUTF8(item);
		struct passwd *pw;

		if (user == NULL)
			return -1;
		pw = getpwnam(user);
		if (pw == NULL) {
			PyErr_Format(PyExc_ValueError, "trust_owner: no such user %R", item);
			return -1;
		}
		*uid = (uint32_t)pw->pw_uid;
		return 0;
	}
	PyErr_SetString(PyExc_TypeError,
			"trust_owner must be a user name, a uid, or a list of them");
	return -1;
}

int
rbpy_trust_params(PyObject *trust, struct rb_open_params *p,
		  uint32_t uids[RBPY_TRUST_MAX])
{
	Py_ssize_t i, n;
	PyObject *seq;

	memset(p, 0, sizeof(*p));
	p->trusted_uids = uids;
	if (trust == NULL || trust == Py_None)
		return 0;
	if (PyLong_Check(trust) || PyUnicode_Check(trust)) {
		if (rbpy_trust_one(trust, &uids[0]) != 0)
			return -1;
		p->trusted_count = 1;
		return 0;
	}
	seq = PySequence_Fast(trust, "trust_owner must be a user name, a uid, or a list of them");
	if (seq == NULL)
		return -1;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > RBPY_TRUST_MAX) {
		Py_DECREF(seq);
		PyErr_Format(PyExc_ValueError, "trust_owner: at most %d owners", RBPY_TRUST_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rbpy_trust_one(PySequence_Fast_GET_ITEM(seq, i), &uids[i]) != 0) {
			Py_DECREF(seq);
			return -1;
		}
	}
	Py_DECREF(seq);
	p->trusted_count = (uint32_t)n;
	return 0;
}
