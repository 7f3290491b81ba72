/*
 * scanner._speedups: the per-string loops of the inventory, compiled.
 *
 * Hand-written because measured speed demands it (issue #2: the inventory must beat androguard's DEX class
 * listing by 30x and stay within 3x of merely inflating the DEX). In pure Python the remaining cost was one
 * interpreter round-trip per string: ~0.6 us per DEX string decoded, per resource string, per host-name test.
 * No kept library reads just these DEX/ARSC tables (androguard and lief.DEX build whole object models).
 *
 * Every function here has a pure-Python twin (scanner/dex.py, scanner/arsc.py, scanner/strings.py) that is
 * the specification: tests compare both on real and fuzzed input, and the package works without this module.
 * Input is hostile: every offset is checked against the buffer before it is read, errors are ValueError with
 * the same message the Python twin gives, and nothing here writes outside its own allocations.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>
#ifdef SYNTH_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

static inline uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static int is_ascii(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < n; i++)
        if (s[i] & 0x80)
            return 0;
    return 1;
}

static PyObject *ascii_str(const unsigned char *s, Py_ssize_t n)
{
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL && n)
        memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)n);
    return u;
}

/* "Lcom/a/B;" -> "com.a.B"; Py_None when the descriptor is not a class type (mirrors dex._dotted). */
static PyObject *dotted(PyObject *desc)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(desc);
    if (n <= 2 || PyUnicode_READ_CHAR(desc, 0) != 'L' || PyUnicode_READ_CHAR(desc, n - 1) != ';')
        Py_RETURN_NONE;
    if (PyUnicode_IS_ASCII(desc)) {
        const unsigned char *s = PyUnicode_1BYTE_DATA(desc) + 1;
        PyObject *u = PyUnicode_New(n - 2, 127);
        if (u == NULL)
            return NULL;
        unsigned char *o = PyUnicode_1BYTE_DATA(u);
        for (Py_ssize_t i = 0; i < n - 2; i++)
            o[i] = s[i] == '/' ? '.' : s[i];
        return u;
    }
    PyObject *inner = PyUnicode_Substring(desc, 1, n - 1);
    if (inner == NULL)
        return NULL;
    PyObject *slash = PyUnicode_FromString("/"), *dot = PyUnicode_FromString(".");
    PyObject *r = (slash && dot) ? PyUnicode_Replace(inner, slash, dot, -1) : NULL;
    Py_XDECREF(slash);
    Py_XDECREF(dot);
    Py_DECREF(inner);
    return r;
}

/* Modified UTF-8 as DEX writes it (C0 80 for NUL, astral characters as two 3-byte surrogates), for strings
 * strict UTF-8 rejected. Returns NULL without an exception when the bytes are anything else (lone
 * surrogates, invalid sequences): the caller then runs scanner.dex.decode_mutf8, the specification. */
static PyObject *decode_mutf8_fast(const unsigned char *s, Py_ssize_t n)
{
    Py_UCS4 stackbuf[256];
    Py_UCS4 *u = n <= 256 ? stackbuf : PyMem_Malloc(sizeof(Py_UCS4) * (size_t)n);
    if (u == NULL)
        return NULL;
    Py_ssize_t k = 0, i = 0;
    int ok = 1;
    while (i < n && ok) {
        unsigned c = s[i];
        if (c < 0x80) {
            u[k++] = c;
            i += 1;
        } else if (c == 0xC0 && i + 1 < n && s[i + 1] == 0x80) {
            u[k++] = 0;
            i += 2;
        } else if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            u[k++] = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF && i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
                   !(c == 0xE0 && s[i + 1] < 0xA0)) {
            u[k++] = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4 && i + 3 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
                   (s[i + 3] & 0xC0) == 0x80 && !(c == 0xF0 && s[i + 1] < 0x90) && !(c == 0xF4 && s[i + 1] > 0x8F)) {
            u[k++] = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
            i += 4;
        } else {
            ok = 0;
        }
    }
    /* join surrogate pairs; a lone surrogate is the specification's business */
    Py_ssize_t w = 0;
    for (Py_ssize_t r = 0; ok && r < k; r++) {
        Py_UCS4 ch = u[r];
        if (ch >= 0xD800 && ch <= 0xDBFF) {
            if (r + 1 < k && u[r + 1] >= 0xDC00 && u[r + 1] <= 0xDFFF) {
                u[w++] = 0x10000 + ((ch - 0xD800) << 10) + (u[r + 1] - 0xDC00);
                r++;
            } else {
                ok = 0;
            }
        } else if (ch >= 0xDC00 && ch <= 0xDFFF) {
            ok = 0;
        } else {
            u[w++] = ch;
        }
    }
    PyObject *out = ok ? PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, u, w) : NULL;
    if (u != stackbuf)
        PyMem_Free(u);
    return out;
}

PyDoc_STRVAR(dex_tables_doc,
"dex_tables(buf, s_n, s_off, t_n, t_off, c_n, c_off, decode_fallback) -> (strings, defined, referenced)\n\n"
"The string table (in index order) and the dotted names of defined and referenced class types, unsorted.\n"
"The table extents must already be checked against the buffer (scanner.dex.read_header does).\n"
"Non-UTF-8 strings (MUTF-8 NUL, surrogate pairs) go to decode_fallback(bytes) -> str.");

static PyObject *dex_tables(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned int s_n, s_off, t_n, t_off, c_n, c_off;
    PyObject *fallback;
    if (!PyArg_ParseTuple(args, "y*IIIIIIO:dex_tables", &view, &s_n, &s_off, &t_n, &t_off, &c_n, &c_off, &fallback))
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    const Py_ssize_t n = view.len;
    PyObject *strings = NULL, *defined = NULL, *referenced = NULL, *result = NULL;
    uint32_t *type_si = NULL;
    unsigned char *is_defined = NULL;

    if ((s_n && (Py_ssize_t)s_off + 4 * (Py_ssize_t)s_n > n) || (t_n && (Py_ssize_t)t_off + 4 * (Py_ssize_t)t_n > n) ||
        (c_n && (Py_ssize_t)c_off + 32 * (Py_ssize_t)c_n > n)) {
        PyErr_SetString(PyExc_ValueError, "index table lies outside the file");
        goto done;
    }
    strings = PyList_New(s_n);
    if (strings == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < (Py_ssize_t)s_n; i++) {
        uint32_t p = rd32(d + s_off + 4 * i);
        if ((Py_ssize_t)p >= n) {
            PyErr_Format(PyExc_ValueError, "string data offset 0x%x outside the file", p);
            goto done;
        }
        Py_ssize_t q = p;
        while (d[q] & 0x80) { /* skip the ULEB128 utf16 length (at most 5 bytes) */
            q++;
            if (q - (Py_ssize_t)p > 4 || q >= n) {
                PyErr_SetString(PyExc_ValueError, "malformed string length");
                goto done;
            }
        }
        q++;
        const unsigned char *start = d + q;
        const unsigned char *end = q < n ? memchr(start, 0, (size_t)(n - q)) : NULL;
        if (end == NULL) {
            PyErr_SetString(PyExc_ValueError, "unterminated string data");
            goto done;
        }
        Py_ssize_t len = end - start;
        PyObject *s;
        if (is_ascii(start, len)) {
            s = ascii_str(start, len);
        } else {
            s = PyUnicode_DecodeUTF8((const char *)start, len, NULL);
            if (s == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                    goto done;
                PyErr_Clear();
                s = decode_mutf8_fast(start, len);
                if (s == NULL && PyErr_Occurred())
                    goto done;
            }
            if (s == NULL) {
                PyObject *raw = PyBytes_FromStringAndSize((const char *)start, len);
                if (raw == NULL)
                    goto done;
                s = PyObject_CallOneArg(fallback, raw);
                Py_DECREF(raw);
                if (s != NULL && !PyUnicode_Check(s)) {
                    Py_DECREF(s);
                    PyErr_SetString(PyExc_TypeError, "decode_fallback must return str");
                    s = NULL;
                }
            }
        }
        if (s == NULL)
            goto done;
        PyList_SET_ITEM(strings, i, s);
    }

    type_si = PyMem_Malloc(sizeof(uint32_t) * (t_n ? t_n : 1));
    is_defined = PyMem_Calloc(t_n ? t_n : 1, 1);
    if (type_si == NULL || is_defined == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < (Py_ssize_t)t_n; i++) {
        uint32_t si = rd32(d + t_off + 4 * i);
        if (si >= s_n) {
            PyErr_Format(PyExc_ValueError, "type_id points at string %u of %u", si, s_n);
            goto done;
        }
        type_si[i] = si;
    }
    defined = PyList_New(0);
    referenced = PyList_New(0);
    if (defined == NULL || referenced == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < (Py_ssize_t)c_n; i++) {
        uint32_t ti = rd32(d + c_off + 32 * i);
        if (ti >= t_n) {
            PyErr_Format(PyExc_ValueError, "class_def %zd points at type %u of %u", i, ti, t_n);
            goto done;
        }
        PyObject *name = dotted(PyList_GET_ITEM(strings, type_si[ti]));
        if (name == NULL)
            goto done;
        if (name != Py_None) {
            is_defined[ti] = 1;
            if (PyList_Append(defined, name) < 0) {
                Py_DECREF(name);
                goto done;
            }
        }
        Py_DECREF(name);
    }
    for (Py_ssize_t i = 0; i < (Py_ssize_t)t_n; i++) {
        if (is_defined[i])
            continue;
        PyObject *name = dotted(PyList_GET_ITEM(strings, type_si[i]));
        if (name == NULL)
            goto done;
        if (name != Py_None && PyList_Append(referenced, name) < 0) {
            Py_DECREF(name);
            goto done;
        }
        Py_DECREF(name);
    }
    result = PyTuple_Pack(3, strings, defined, referenced);
done:
    PyMem_Free(type_si);
    PyMem_Free(is_defined);
    Py_XDECREF(strings);
    Py_XDECREF(defined);
    Py_XDECREF(referenced);
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(arsc_pool_doc,
"arsc_pool(buf, table, count, base, end, utf8) -> list[str]\n\n"
"The strings of a ResStringPool: offsets at ``table``, data from ``base``, bounded by ``end``.\n"
"Same results as scanner.arsc.pool_strings' loop: unreadable entries are '' and bad bytes become U+FFFD.");

static PyObject *arsc_pool(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t table, count, base, end;
    int utf8;
    if (!PyArg_ParseTuple(args, "y*nnnnp:arsc_pool", &view, &table, &count, &base, &end, &utf8))
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    const Py_ssize_t n = view.len;
    PyObject *out = NULL;
    if (table < 0 || count < 0 || table + 4 * count > n || end > n || base < 0) {
        PyErr_SetString(PyExc_ValueError, "string pool offset table overruns the buffer");
        goto fail;
    }
    out = PyList_New(count);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t p = base + (Py_ssize_t)rd32(b + table + 4 * i);
        PyObject *s = NULL;
        if (p >= end) {
            s = PyUnicode_New(0, 0);
        } else if (utf8) {
            /* two lengths (utf-16 units, then utf-8 bytes), each 1 or 2 bytes; read against the buffer */
            int ok = 1;
            Py_ssize_t len = 0;
            for (int k = 0; k < 2 && ok; k++) {
                if (p >= n) { ok = 0; break; }
                len = b[p];
                if (len & 0x80) {
                    if (p + 1 >= n) { ok = 0; break; }
                    len = ((len & 0x7F) << 8) | b[p + 1];
                    p += 2;
                } else {
                    p += 1;
                }
            }
            if (!ok) {
                s = PyUnicode_New(0, 0);
            } else {
                Py_ssize_t stop = p + len < end ? p + len : end;
                Py_ssize_t m = stop > p ? stop - p : 0;
                s = is_ascii(b + p, m) ? ascii_str(b + p, m) : PyUnicode_DecodeUTF8((const char *)b + p, m, "replace");
            }
        } else {
            Py_ssize_t len = 0;
            int ok = p + 2 <= n;
            if (ok) {
                len = rd16(b + p);
                if (len & 0x8000) {
                    ok = p + 4 <= n;
                    if (ok) {
                        len = ((len & 0x7FFF) << 16) | rd16(b + p + 2);
                        p += 4;
                    }
                } else {
                    p += 2;
                }
            }
            if (!ok) {
                s = PyUnicode_New(0, 0);
            } else {
                Py_ssize_t stop = p + 2 * len < end ? p + 2 * len : end;
                Py_ssize_t m = stop > p ? stop - p : 0;
                int order = -1; /* little-endian, like the utf-16-le codec */
                s = PyUnicode_DecodeUTF16((const char *)b + p, m, "replace", &order);
            }
        }
        if (s == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, s);
    }
    PyBuffer_Release(&view);
    return out;
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

PyDoc_STRVAR(host_candidates_doc,
"host_candidates(strings) -> list[str]\n\n"
"The strings that could be bare host names: ASCII [a-z0-9.-] only, 4-253 long, with a dot, ending in a\n"
"lower-case letter. A superset of what scanner.strings._HOSTLIKE matches under scan_strings' gate; the\n"
"caller still applies the regex.");

static PyObject *host_candidates(PyObject *self, PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "host_candidates expects a sequence of str");
    if (fast == NULL)
        return NULL;
    PyObject *out = PyList_New(0);
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *s = items[i];
        if (!PyUnicode_Check(s) || !PyUnicode_IS_ASCII(s))
            continue;
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        if (n < 4 || n > 253)
            continue;
        const unsigned char *c = PyUnicode_1BYTE_DATA(s);
        if (c[n - 1] < 'a' || c[n - 1] > 'z')
            continue;
        int dot = 0, ok = 1;
        for (Py_ssize_t k = 0; k < n; k++) {
            unsigned char ch = c[k];
            if (ch == '.')
                dot = 1;
            else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) {
                ok = 0;
                break;
            }
        }
        if (ok && dot && PyList_Append(out, s) < 0) {
            Py_CLEAR(out);
        }
    }
    Py_DECREF(fast);
    return out;
}

PyDoc_STRVAR(split_ascii_doc,
"split_ascii(strings, sep) -> (ascii_text, others)\n\n"
"The pure-ASCII strings joined by the one-character ASCII ``sep`` into one compact (1 byte per char) str,\n"
"and the list of the other strings. One astral character would otherwise make the whole joined table\n"
"4 bytes per char and every search over it 4x slower.");

static PyObject *split_ascii(PyObject *self, PyObject *args)
{
    PyObject *seq, *sep;
    if (!PyArg_ParseTuple(args, "OU:split_ascii", &seq, &sep))
        return NULL;
    if (PyUnicode_GET_LENGTH(sep) != 1 || PyUnicode_READ_CHAR(sep, 0) > 127) {
        PyErr_SetString(PyExc_ValueError, "sep must be one ASCII character");
        return NULL;
    }
    const unsigned char sepc = (unsigned char)PyUnicode_READ_CHAR(sep, 0);
    PyObject *fast = PySequence_Fast(seq, "split_ascii expects a sequence of str");
    if (fast == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *others = PyList_New(0), *text = NULL, *result = NULL;
    Py_ssize_t total = 0, n_ascii = 0;
    if (others == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *s = items[i];
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "split_ascii expects str items");
            goto done;
        }
        if (PyUnicode_IS_ASCII(s)) {
            total += PyUnicode_GET_LENGTH(s);
            n_ascii++;
        } else if (PyList_Append(others, s) < 0) {
            goto done;
        }
    }
    text = PyUnicode_New(total + (n_ascii ? n_ascii - 1 : 0), 127);
    if (text == NULL)
        goto done;
    unsigned char *o = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *s = items[i];
        if (!PyUnicode_IS_ASCII(s))
            continue;
        if (k++)
            *o++ = sepc;
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        memcpy(o, PyUnicode_1BYTE_DATA(s), (size_t)n);
        o += n;
    }
    result = PyTuple_Pack(2, text, others);
done:
    Py_XDECREF(text);
    Py_XDECREF(others);
    Py_DECREF(fast);
    return result;
}

PyDoc_STRVAR(needles_mask_doc,
"needles_mask(text, needles) -> int\n\n"
"Bit i is set when needles[i] occurs in text: one pass for all needles instead of one ``in`` each.\n"
"Any text and needles (at most 64, none empty), compared as UTF-8; -1 when that is impossible (lone\n"
"surrogates) and the caller uses ``in``.");

static PyObject *needles_mask(PyObject *self, PyObject *args)
{
    PyObject *text, *needles;
    if (!PyArg_ParseTuple(args, "UO!:needles_mask", &text, &PyTuple_Type, &needles))
        return NULL;
    Py_ssize_t k = PyTuple_GET_SIZE(needles);
    if (k > 64)
        return PyLong_FromLong(-1);
    const unsigned char *nd[64];
    Py_ssize_t nl[64];
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *nobj = PyTuple_GET_ITEM(needles, i);
        if (!PyUnicode_Check(nobj) || PyUnicode_GET_LENGTH(nobj) == 0)
            return PyLong_FromLong(-1);
        nd[i] = (const unsigned char *)PyUnicode_AsUTF8AndSize(nobj, &nl[i]);
        if (nd[i] == NULL) {
            PyErr_Clear();
            return PyLong_FromLong(-1);
        }
    }
    /* UTF-8 is self-synchronising: a needle's UTF-8 occurs in the text's UTF-8 exactly where the needle
     * occurs in the text. Compact ASCII text is its own UTF-8; other text is encoded once (and cached). */
    Py_ssize_t n;
    const unsigned char *t = (const unsigned char *)PyUnicode_AsUTF8AndSize(text, &n);
    if (t == NULL) { /* lone surrogates: the caller tests with ``in`` */
        PyErr_Clear();
        return PyLong_FromLong(-1);
    }
    uint64_t found = 0, all = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1);
    /* One pass: a bitmap of the needles' first two bytes filters positions; candidates are compared whole.
     * (glibc memmem per needle measured 3x slower on DEX string tables: most gates are absent, so each
     * needle scanned the whole text.) One-byte needles are checked by their byte alone. */
    uint64_t bigram[1024] = {0}; /* 65536 bits */
    uint64_t by_first[256] = {0};
    for (Py_ssize_t i = 0; i < k; i++) {
        by_first[nd[i][0]] |= (uint64_t)1 << i;
        if (nl[i] >= 2) {
            unsigned bg = (unsigned)nd[i][0] << 8 | nd[i][1];
            bigram[bg >> 6] |= (uint64_t)1 << (bg & 63);
        }
    }
    for (Py_ssize_t i = 0; i < k; i++)
        if (nl[i] == 1 && memchr(t, nd[i][0], (size_t)n) != NULL)
            found |= (uint64_t)1 << i;
    for (Py_ssize_t pos = 0; pos + 1 < n && found != all; pos++) {
        unsigned bg = (unsigned)t[pos] << 8 | t[pos + 1];
        if (!(bigram[bg >> 6] >> (bg & 63) & 1))
            continue;
        uint64_t cand = by_first[t[pos]] & ~found;
        while (cand) {
            int i = __builtin_ctzll(cand);
            cand &= cand - 1;
            if (nl[i] >= 2 && pos + nl[i] <= n && memcmp(t + pos, nd[i], (size_t)nl[i]) == 0)
                found |= (uint64_t)1 << i;
        }
    }
    return PyLong_FromUnsignedLongLong(found);
}

/* ---- background inflate + SHA-256 of one zip member (no GIL) --------------------------------------------
 *
 * CPython's zlib and ISA-L bindings release the GIL around each inflate() but take it back after every
 * output block, so a Python worker thread inflating a DEX convoys behind the parsing thread and runs
 * almost serially (measured). This job runs zlib and SHA-256 on its own pthread from start to end and
 * touches no Python object there; the Python side only starts it and collects the bytes.
 */
enum { JOB_INFLATE = 0, JOB_HASH_FD = 1, JOB_HASH_BUF = 2 };

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int have_view;
    pthread_t thread;
    int running; /* started and not yet joined */
    Py_ssize_t start, csize, limit;
    int deflated, fast, want_digest;
    PyObject *pyout; /* the bytes object the output goes straight into (no copy), while ``in_py`` */
    int in_py, trimmed;
    Py_ssize_t pre;  /* pyout's allocated size */
    int joining;     /* a thread is in pthread_join: others get an error, never a second join */
    pthread_mutex_t mu; /* JOB_INFLATE: ``ready`` turns 1 when the bytes are out and only the hash remains */
    pthread_cond_t cv;
    int ready, sync_ok, hash_failed;
    int mode; /* JOB_INFLATE, JOB_HASH_FD or JOB_HASH_BUF */
    int fd;   /* JOB_HASH_FD reads the descriptor, not the mapped artifact: hashed pages stay out of RSS */
    unsigned char *out;
    size_t out_len, out_cap;
    int eof, zerr, oom;
    char msg[160];
    unsigned char digest[32];
} InflateJob;

/* More room for output: grow the malloc'd buffer, or leave the preallocated bytes object for one. */
static int job_grow(InflateJob *j, size_t *cap, size_t limit)
{
    size_t ncap = *cap * 2 < limit ? *cap * 2 : limit;
    unsigned char *nb;
    if (j->in_py) {
        nb = malloc(ncap);
        if (nb != NULL)
            memcpy(nb, j->out, j->out_len);
    } else {
        nb = realloc(j->out, ncap);
    }
    if (nb == NULL) {
        j->oom = 1;
        return 0;
    }
    j->in_py = 0;
    j->out = nb;
    *cap = ncap;
    return 1;
}

/* The first output buffer of an inflate: the preallocated bytes object, else a malloc'd one. Its size. */
static size_t job_first_buffer(InflateJob *j, size_t limit)
{
    size_t cap = j->out_cap < limit ? j->out_cap : limit;
    if (cap == 0)
        cap = 1;
    if (!j->in_py)
        j->out = malloc(cap);
    return cap;
}

static void *job_run(void *arg)
{
    InflateJob *j = (InflateJob *)arg;
    if (j->mode == JOB_HASH_BUF) { /* the SHA-256 of a bytes object in place */
        unsigned int dlen = 0;
        if (EVP_Digest(j->view.buf, (size_t)j->view.len, j->digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
            j->oom = 1;
        return NULL;
    }
    if (j->mode == JOB_HASH_FD) { /* the file's SHA-256 by pread, 1 MiB at a time, like hashlib.file_digest */
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char *chunk = malloc(1 << 20);
        unsigned int dlen = 0;
        int ok = ctx != NULL && chunk != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
        off_t off = 0;
        while (ok) {
            ssize_t got = pread(j->fd, chunk, 1 << 20, off);
            if (got < 0) { ok = 0; break; }
            if (got == 0) break;
            ok = EVP_DigestUpdate(ctx, chunk, (size_t)got) == 1;
            off += got;
        }
        ok = ok && EVP_DigestFinal_ex(ctx, j->digest, &dlen) == 1 && dlen == 32;
        if (!ok) j->oom = 1;
        free(chunk);
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    const unsigned char *src = (const unsigned char *)j->view.buf + j->start;
    size_t limit = (size_t)j->limit;
    if (!j->deflated) { /* stored (or an unknown method read as stored, like Android) */
        size_t n = (size_t)j->csize < limit ? (size_t)j->csize : limit;
        if (!j->in_py || (size_t)j->pre != n) { /* preallocated exactly, else malloc */
            j->in_py = 0;
            j->out = malloc(n ? n : 1);
        }
        if (j->out == NULL) { j->oom = 1; return NULL; }
        memcpy(j->out, src, n);
        j->out_len = n;
#ifdef SYNTH_HAVE_ISAL
    } else if (j->fast) { /* ISA-L: about twice zlib's speed; the same library python-isal binds (sync path) */
        struct inflate_state *st = malloc(sizeof *st);
        size_t cap = job_first_buffer(j, limit);
        if (st == NULL || j->out == NULL) { free(st); j->oom = 1; return NULL; }
        isal_inflate_init(st);
        st->crc_flag = ISAL_DEFLATE;
        st->hist_bits = 0;
        size_t fed = 0, total = (size_t)j->csize;
        for (;;) {
            if (st->avail_in == 0 && fed < total) {
                size_t chunk = total - fed < (1u << 30) ? total - fed : (1u << 30);
                st->next_in = (uint8_t *)(src + fed);
                st->avail_in = (uint32_t)chunk;
                fed += chunk;
            }
            if (j->out_len == cap) {
                if (cap >= limit || !job_grow(j, &cap, limit)) break;
            }
            size_t room = cap - j->out_len;
            st->next_out = j->out + j->out_len;
            st->avail_out = (uint32_t)(room < (1u << 30) ? room : (1u << 30));
            uint32_t before_out = st->avail_out, before_in = st->avail_in;
            int ret = isal_inflate(st);
            j->out_len += before_out - st->avail_out;
            if (ret < 0) {
                j->zerr = ret;
                const char *why = ret == ISAL_INVALID_BLOCK ? "Invalid deflate block found"
                                  : ret == ISAL_INVALID_SYMBOL ? "Invalid deflate symbol found"
                                  : ret == ISAL_INVALID_LOOKBACK ? "Invalid lookback distance found" : "Unknown error";
                snprintf(j->msg, sizeof j->msg, "Error %d %s", ret, why);
                break;
            }
            if (st->block_state == ISAL_BLOCK_FINISH) { j->eof = 1; break; }
            if (st->avail_out == 0) continue;
            if (st->avail_in == 0 && fed < total) continue;
            if (st->avail_in == before_in && st->avail_out == before_out) break; /* no progress: truncated */
            if (st->avail_in == 0) break; /* all input read, stream not finished: truncated entry */
        }
        free(st);
#endif
    } else {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -15) != Z_OK) { j->oom = 1; return NULL; }
        size_t cap = job_first_buffer(j, limit);
        if (j->out == NULL) { inflateEnd(&zs); j->oom = 1; return NULL; }
        size_t fed = 0, total = (size_t)j->csize;
        for (;;) {
            if (zs.avail_in == 0 && fed < total) {
                size_t chunk = total - fed < (1u << 30) ? total - fed : (1u << 30);
                zs.next_in = (Bytef *)(src + fed);
                zs.avail_in = (uInt)chunk;
                fed += chunk;
            }
            if (j->out_len == cap) { /* at the limit: max_length reached, like zlib's decompress(data, max_length) */
                if (cap >= limit || !job_grow(j, &cap, limit)) break;
            }
            size_t room = cap - j->out_len;
            zs.next_out = j->out + j->out_len;
            zs.avail_out = (uInt)(room < (1u << 30) ? room : (1u << 30));
            uInt before = zs.avail_out;
            int ret = inflate(&zs, Z_NO_FLUSH);
            j->out_len += before - zs.avail_out;
            if (ret == Z_STREAM_END) { j->eof = 1; break; }
            if (ret == Z_OK) continue;
            if (ret == Z_BUF_ERROR) { /* no progress: input exhausted (truncated entry) unless output is full */
                if (zs.avail_out == 0 || (zs.avail_in == 0 && fed < total)) continue;
                break;
            }
            j->zerr = ret; /* same wording as CPython's zlib.error */
            const char *why = zs.msg ? zs.msg : ret == Z_DATA_ERROR ? "invalid input data"
                              : ret == Z_STREAM_ERROR ? "inconsistent stream state" : "library error";
            snprintf(j->msg, sizeof j->msg, "Error %d while decompressing data: %.120s", ret, why);
            break;
        }
        inflateEnd(&zs);
    }
    pthread_mutex_lock(&j->mu); /* the bytes are ready: the caller may take them while the hash runs */
    j->ready = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (!j->oom && !j->zerr && j->want_digest) { /* after ``ready``: touch only ``out`` and hash_failed */
        unsigned int dlen = 0;
        if (EVP_Digest(j->out, j->out_len, j->digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
            j->hash_failed = 1;
    }
    return NULL;
}

static void *job_thread(void *arg)
{
    InflateJob *j = (InflateJob *)arg;
    job_run(j);
    if (j->mode == JOB_INFLATE) { /* also when job_run returned early (out of memory) */
        pthread_mutex_lock(&j->mu);
        j->ready = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* Wait for the thread (GIL released). A job is meant for one Python thread; a second one arriving while the
 * first waits gets RuntimeError instead of a second pthread_join. 0, or -1 with the exception set. */
static int job_join(InflateJob *j)
{
    if (j->joining) {
        PyErr_SetString(PyExc_RuntimeError, "another thread is waiting for this job");
        return -1;
    }
    if (j->running) {
        j->joining = 1;
        Py_BEGIN_ALLOW_THREADS
        pthread_join(j->thread, NULL);
        Py_END_ALLOW_THREADS
        j->running = 0;
        j->joining = 0;
    }
    return 0;
}

static int job_release(InflateJob *j)
{
    if (job_join(j) < 0)
        return -1;
    if (j->fd >= 0 && j->mode == JOB_HASH_FD) {
        close(j->fd); /* our dup() of the caller's descriptor */
        j->fd = -1;
    }
    if (!j->in_py)
        free(j->out);
    j->out = NULL;
    j->in_py = 0;
    Py_CLEAR(j->pyout);
    if (j->have_view) {
        PyBuffer_Release(&j->view);
        j->have_view = 0;
    }
    return 0;
}

/* The output as a bytes object (a new reference), with the GIL held. The preallocated object is trimmed to
 * the real length in place (the hash thread reads only [0, out_len)); when a lying declared size left it
 * far too big, a right-sized copy is returned instead, so the big one dies with the job. */
static PyObject *job_bytes(InflateJob *j)
{
    if (!j->in_py)
        return PyBytes_FromStringAndSize((const char *)j->out, (Py_ssize_t)j->out_len);
    if (j->pre - (Py_ssize_t)j->out_len > ((Py_ssize_t)1 << 20) && (Py_ssize_t)j->out_len < j->pre / 2)
        return PyBytes_FromStringAndSize((const char *)j->out, (Py_ssize_t)j->out_len);
    if (!j->trimmed) {
        Py_SET_SIZE(j->pyout, (Py_ssize_t)j->out_len);
        j->out[j->out_len] = 0;
        j->trimmed = 1;
    }
    Py_INCREF(j->pyout);
    return j->pyout;
}

static void job_hex(const InflateJob *j, char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", j->digest[i]);
}

static void job_dealloc(InflateJob *j)
{
    job_release(j); /* nobody else can hold the object here: the join cannot be refused */
    if (j->sync_ok) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
    }
    Py_TYPE(j)->tp_free((PyObject *)j);
}

static PyObject *job_result(InflateJob *j, PyObject *unused)
{
    if (job_join(j) < 0)
        return NULL;
    if (!j->have_view && j->out == NULL && j->mode != JOB_HASH_FD) {
        PyErr_SetString(PyExc_ValueError, "inflate job already closed");
        return NULL;
    }
    if (j->oom) {
        int was_fd = j->mode == JOB_HASH_FD;
        if (job_release(j) < 0)
            return NULL;
        if (was_fd)
            return PyErr_Format(PyExc_OSError, "cannot read the file to hash it");
        return PyErr_NoMemory();
    }
    PyObject *r;
    char hex[65];
    job_hex(j, hex);
    if (j->mode != JOB_INFLATE) {
        r = Py_BuildValue("(OsOO)", Py_None, hex, Py_True, Py_None);
    } else if (j->zerr) {
        r = Py_BuildValue("(OOOs)", Py_None, Py_None, Py_False, j->msg);
    } else {
        PyObject *data = job_bytes(j);
        r = data ? Py_BuildValue("(NzOO)", data, j->want_digest && !j->hash_failed ? hex : NULL,
                                 j->eof ? Py_True : Py_False, Py_None)
                 : NULL;
    }
    if (job_release(j) < 0) {
        Py_XDECREF(r);
        return NULL;
    }
    return r;
}

static PyObject *job_data(InflateJob *j, PyObject *unused)
{
    if (j->mode != JOB_INFLATE || !j->sync_ok) {
        PyErr_SetString(PyExc_ValueError, "data() is for inflate jobs");
        return NULL;
    }
    if (j->running) { /* wait for the bytes, not for the hash */
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&j->mu);
        while (!j->ready)
            pthread_cond_wait(&j->cv, &j->mu);
        pthread_mutex_unlock(&j->mu);
        Py_END_ALLOW_THREADS
    }
    if (j->out == NULL && !j->oom && !j->zerr) {
        PyErr_SetString(PyExc_ValueError, "inflate job already closed");
        return NULL;
    }
    if (j->have_view) { /* the thread is done with the artifact's buffer: the mmap may close now */
        PyBuffer_Release(&j->view);
        j->have_view = 0;
    }
    if (j->oom) {
        if (job_release(j) < 0)
            return NULL;
        return PyErr_NoMemory();
    }
    if (j->zerr)
        return Py_BuildValue("(OOs)", Py_None, Py_False, j->msg);
    PyObject *data = job_bytes(j); /* usually the object the output went straight into: no copy */
    return data ? Py_BuildValue("(NOO)", data, j->eof ? Py_True : Py_False, Py_None) : NULL;
}

static PyObject *job_digest(InflateJob *j, PyObject *unused)
{
    int had_thread = j->running;
    if (job_join(j) < 0)
        return NULL;
    if (!had_thread && j->out == NULL && j->mode == JOB_INFLATE) {
        PyErr_SetString(PyExc_ValueError, "inflate job already closed");
        return NULL;
    }
    int bad = j->oom || j->zerr || !j->want_digest || j->hash_failed;
    char hex[65];
    job_hex(j, hex);
    if (job_release(j) < 0)
        return NULL;
    if (bad)
        Py_RETURN_NONE;
    return PyUnicode_FromString(hex);
}

static PyObject *job_close(InflateJob *j, PyObject *unused)
{
    if (job_release(j) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef job_methods[] = {
    {"result", (PyCFunction)job_result, METH_NOARGS,
     "result() -> (data | None, sha256 hex | None, eof, zlib error message | None); waits without the GIL."},
    {"data", (PyCFunction)job_data, METH_NOARGS,
     "data() -> (bytes | None, eof, zlib error message | None) as soon as inflated; the hash may still run."},
    {"digest", (PyCFunction)job_digest, METH_NOARGS,
     "digest() -> sha256 hex | None: waits for the hash, then frees everything (call after data())."},
    {"close", (PyCFunction)job_close, METH_NOARGS, "Wait for the thread and drop the buffer (idempotent)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject InflateJobType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "scanner._speedups.InflateJob",
    .tp_basicsize = sizeof(InflateJob),
    .tp_dealloc = (destructor)job_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A zip member being inflated and hashed on a native thread (see inflate_job).",
    .tp_methods = job_methods,
};

/* A job with every field zeroed (nothing to release yet), no descriptor, in ``mode``. */
static InflateJob *job_new(int mode)
{
    InflateJob *j = PyObject_New(InflateJob, &InflateJobType);
    if (j == NULL)
        return NULL;
    memset((char *)j + sizeof(PyObject), 0, sizeof(InflateJob) - sizeof(PyObject));
    j->fd = -1;
    j->mode = mode;
    j->want_digest = 1;
    return j;
}

/* Start the job's thread; on failure the job is dropped and NULL returned with OSError set. */
static PyObject *job_start(InflateJob *j)
{
    if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
        Py_DECREF(j);
        PyErr_SetString(PyExc_OSError, "cannot start a native thread");
        return NULL;
    }
    j->running = 1;
    return (PyObject *)j;
}

PyDoc_STRVAR(inflate_job_doc,
"inflate_job(buf, start, csize, deflated, limit, expect, fast=False, digest=True) -> InflateJob\n\n"
"Start inflating (raw deflate) or copying ``buf[start:start+csize]`` on a native thread, keeping at most\n"
"``limit`` output bytes, then SHA-256 of the output. ``expect`` sizes the first output buffer (the declared\n"
"size; it may lie). ``fast``: inflate with ISA-L where built with it (else zlib). ``digest=False``: no hash\n"
"(result()[1] is None; see sha256_buf_job). ``buf`` stays exported (an\n"
"mmap cannot close) until result() or close().");

static PyObject *inflate_job(PyObject *self, PyObject *args)
{
    PyObject *buf;
    Py_ssize_t start, csize, limit, expect;
    int deflated, fast = 0, digest = 1;
    if (!PyArg_ParseTuple(args, "Onnpnn|pp:inflate_job", &buf, &start, &csize, &deflated, &limit, &expect, &fast,
                          &digest))
        return NULL;
    InflateJob *j = job_new(JOB_INFLATE);
    if (j == NULL)
        return NULL;
    if (PyObject_GetBuffer(buf, &j->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(j);
        return NULL;
    }
    j->have_view = 1;
    if (start < 0 || csize < 0 || limit < 0 || (deflated && limit < 1) || start > j->view.len ||
        csize > j->view.len - start) {
        Py_DECREF(j);
        PyErr_SetString(PyExc_ValueError, "member data lies outside the buffer");
        return NULL;
    }
    j->start = start;
    j->csize = csize;
    j->limit = limit;
    j->deflated = deflated;
    j->fast = fast;
    j->want_digest = digest;
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        Py_DECREF(j);
        return PyErr_NoMemory();
    }
    if (pthread_cond_init(&j->cv, NULL) != 0) {
        pthread_mutex_destroy(&j->mu);
        Py_DECREF(j);
        return PyErr_NoMemory();
    }
    j->sync_ok = 1;
    j->out_cap = expect > 0 ? (size_t)expect + 1 : 65536;
    if (j->out_cap > ((size_t)64 << 20)) /* a lying header must not reserve gigabytes up front */
        j->out_cap = (size_t)64 << 20;
    /* The output goes straight into a bytes object sized from the declared size (+1, so that a stream of
     * exactly that size ends without growing; the object is trimmed in place); a longer stream moves on
     * to a malloc'd buffer. Stored members are copied once, into an object of their exact size. */
    Py_ssize_t pre = deflated ? (expect > 0 ? expect + 1 : 0) : (csize < limit ? csize : limit);
    if (pre > 0 && pre <= ((Py_ssize_t)64 << 20) && (!deflated || pre <= limit)) {
        j->pyout = PyBytes_FromStringAndSize(NULL, pre);
        if (j->pyout == NULL) {
            Py_DECREF(j);
            return NULL;
        }
        j->out = (unsigned char *)PyBytes_AS_STRING(j->pyout);
        j->in_py = 1;
        j->pre = pre;
        if (deflated)
            j->out_cap = (size_t)pre;
    }
    return job_start(j);
}

PyDoc_STRVAR(inflate_prefix_doc,
"inflate_prefix(buf, start, end, n, step) -> bytes\n\n"
"The first ``n`` bytes of the raw deflate stream in ``buf[start:end]``, fed ``step`` bytes at a time and\n"
"stopping like scanner.zipread.ZipArchive.read_prefix's zlib loop (its specification): what the chunks\n"
"before a corrupt one gave; nothing past the output limit. For sniffing every member of an archive.");

static PyObject *inflate_prefix(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end, n, step;
    if (!PyArg_ParseTuple(args, "y*nnnn:inflate_prefix", &view, &start, &end, &n, &step))
        return NULL;
    PyObject *result = NULL;
    unsigned char *out = NULL;
    if (start < 0 || end > view.len || n < 0 || step <= 0 || n > (1 << 24) || step > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "inflate_prefix: bad range");
        goto done;
    }
    out = malloc(n ? (size_t)n : 1);
    if (out == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t produced = 0, pos = start;
    int eof = 0;
    const unsigned char *b = (const unsigned char *)view.buf;
    while (produced < n && pos < end && !eof) {
        Py_ssize_t chunk_end = end < pos + step ? end : pos + step;
        Py_ssize_t before = produced;
        zs.next_in = (Bytef *)(b + pos);
        zs.avail_in = (uInt)(chunk_end - pos);
        zs.next_out = out + produced;
        zs.avail_out = (uInt)(n - produced);
        int failed = 0;
        for (;;) { /* CPython's Decompress.decompress(data, max_length) loop */
            int ret = inflate(&zs, Z_SYNC_FLUSH);
            if (ret == Z_STREAM_END) { eof = 1; break; }
            if (ret == Z_OK) {
                if (zs.avail_out == 0 || zs.avail_in == 0) break;
                continue;
            }
            if (ret == Z_BUF_ERROR) break; /* no progress possible: wants more input */
            failed = 1; /* zlib.error: the chunk's output is dropped */
            break;
        }
        if (failed) {
            produced = before;
            break;
        }
        produced = n - (Py_ssize_t)zs.avail_out;
        pos += step;
        if (!eof && zs.avail_in > 0) break; /* an unconsumed tail: the output limit was reached */
    }
    inflateEnd(&zs);
    result = PyBytes_FromStringAndSize((const char *)out, produced);
done:
    free(out);
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(sha256_fd_job_doc,
"sha256_fd_job(fd) -> InflateJob\n\n"
"Start hashing the open file ``fd`` (pread from offset 0 to its end) on a native thread; result()[1] is the\n"
"hex digest. Reading the descriptor, not the artifact's mmap, keeps the hashed pages out of this process's\n"
"RSS. The descriptor must stay open until result() or close().");

static PyObject *sha256_fd_job(PyObject *self, PyObject *args)
{
    int fd;
    if (!PyArg_ParseTuple(args, "i:sha256_fd_job", &fd))
        return NULL;
    if (fd < 0) {
        PyErr_SetString(PyExc_OSError, "sha256_fd_job: not an open file descriptor");
        return NULL;
    }
    InflateJob *j = job_new(JOB_HASH_FD);
    if (j == NULL)
        return NULL;
    j->fd = dup(fd); /* our own descriptor: closing or reusing the caller's cannot change what we hash */
    if (j->fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(j);
        return NULL;
    }
    return job_start(j);
}

PyDoc_STRVAR(sha256_buf_job_doc,
"sha256_buf_job(data) -> InflateJob\n\n"
"Start the SHA-256 of a bytes-like object on a native thread (result()[1] is the hex digest), so that the\n"
"caller parses the same bytes meanwhile. The object stays exported until result() or close().");

static PyObject *sha256_buf_job(PyObject *self, PyObject *args)
{
    PyObject *buf;
    if (!PyArg_ParseTuple(args, "O:sha256_buf_job", &buf))
        return NULL;
    InflateJob *j = job_new(JOB_HASH_BUF);
    if (j == NULL)
        return NULL;
    if (PyObject_GetBuffer(buf, &j->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(j);
        return NULL;
    }
    j->have_view = 1;
    return job_start(j);
}

PyDoc_STRVAR(elf_exports_doc,
"elf_exports(data, off, size, entsize, is64, stroff, strsize, limit) -> list[str] | None\n\n"
"Names of the exported symbols of a little-endian ELF .dynsym table (``off``/``size``/``entsize``) whose\n"
"names live in ``data[stroff:stroff+strsize]``: first occurrences, in table order, at most ``limit``.\n"
"Exported as lief's Symbol.is_exported says: defined (st_shndx != 0), an address or a size, GLOBAL or WEAK\n"
"binding, FUNC, GNU_IFUNC or OBJECT type. None when the tables do not fit (the caller asks lief).");

static PyObject *elf_exports(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off, size, entsize, stroff, strsize, limit;
    int is64;
    if (!PyArg_ParseTuple(args, "y*nnnpnnn:elf_exports", &view, &off, &size, &entsize, &is64, &stroff, &strsize,
                          &limit))
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    const Py_ssize_t n = view.len;
    PyObject *out = NULL, *seen = NULL;
    if (off < 0 || size < 0 || stroff < 0 || strsize < 0 || off > n || size > n - off || stroff > n ||
        strsize > n - stroff || entsize != (is64 ? 24 : 16)) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    out = PyList_New(0);
    seen = PySet_New(NULL);
    if (out == NULL || seen == NULL)
        goto fail;
    for (Py_ssize_t p = off; p + entsize <= off + size && PyList_GET_SIZE(out) < limit; p += entsize) {
        uint32_t name;
        uint8_t info;
        uint16_t shndx;
        uint64_t value, sz;
        if (is64) { /* Elf64_Sym: name u32, info u8, other u8, shndx u16, value u64, size u64 */
            name = rd32(d + p);
            info = d[p + 4];
            shndx = rd16(d + p + 6);
            value = (uint64_t)rd32(d + p + 8) | (uint64_t)rd32(d + p + 12) << 32;
            sz = (uint64_t)rd32(d + p + 16) | (uint64_t)rd32(d + p + 20) << 32;
        } else { /* Elf32_Sym: name u32, value u32, size u32, info u8, other u8, shndx u16 */
            name = rd32(d + p);
            value = rd32(d + p + 4);
            sz = rd32(d + p + 8);
            info = d[p + 12];
            shndx = rd16(d + p + 14);
        }
        int bind = info >> 4, type = info & 0x0F;
        if (shndx == 0 || (value == 0 && sz == 0) || (bind != 1 && bind != 2) || (type != 1 && type != 2 && type != 10))
            continue;
        /* A name outside the string table, or running off its end: lief reads on past the table, so leave
         * such (tampered) files to lief. */
        if (name >= (uint64_t)strsize)
            goto differ;
        const unsigned char *s = d + stroff + name;
        const unsigned char *e = memchr(s, 0, (size_t)(strsize - name));
        if (e == NULL)
            goto differ;
        Py_ssize_t len = e - s;
        if (len == 0)
            continue;
        PyObject *u = PyUnicode_DecodeUTF8((const char *)s, len, "replace");
        if (u == NULL)
            goto fail;
        int had = PySet_Contains(seen, u);
        if (had < 0 || (!had && (PySet_Add(seen, u) < 0 || PyList_Append(out, u) < 0))) {
            Py_DECREF(u);
            goto fail;
        }
        Py_DECREF(u);
    }
    Py_DECREF(seen);
    PyBuffer_Release(&view);
    return out;
differ:
    Py_XDECREF(out);
    Py_XDECREF(seen);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(out);
    Py_XDECREF(seen);
    PyBuffer_Release(&view);
    return NULL;
}

PyDoc_STRVAR(elf_hash_count_doc,
"elf_hash_count(data, offset, gnu, is64) -> int\n\n"
"The number of dynamic symbols a little-endian ELF hash table at ``offset`` implies: nchain for a SysV\n"
"DT_HASH table, the end of the longest chain for a DT_GNU_HASH one (``gnu``). -1 when it does not fit.");

static PyObject *elf_hash_count(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off;
    int gnu, is64;
    if (!PyArg_ParseTuple(args, "y*npp:elf_hash_count", &view, &off, &gnu, &is64))
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    const Py_ssize_t n = view.len;
    long long count = -1;
    if (off < 0 || off > n - 16)
        goto done;
    if (!gnu) {
        count = rd32(d + off + 4); /* nbucket, nchain */
        goto done;
    }
    {
        uint32_t nbuckets = rd32(d + off), symoffset = rd32(d + off + 4), bloom = rd32(d + off + 8);
        Py_ssize_t word = is64 ? 8 : 4;
        Py_ssize_t buckets = off + 16 + (Py_ssize_t)bloom * word;
        if (nbuckets == 0 || bloom > (1u << 24) || nbuckets > (1u << 24) || buckets > n - 4 * (Py_ssize_t)nbuckets)
            goto done;
        uint32_t maxb = 0;
        for (uint32_t i = 0; i < nbuckets; i++) {
            uint32_t b = rd32(d + buckets + 4 * (Py_ssize_t)i);
            if (b > maxb)
                maxb = b;
        }
        if (maxb == 0) {
            count = symoffset;
            goto done;
        }
        if (maxb < symoffset)
            goto done;
        Py_ssize_t chain = buckets + 4 * (Py_ssize_t)nbuckets;
        for (uint64_t i = maxb; ; i++) {
            Py_ssize_t at = chain + 4 * (Py_ssize_t)(i - symoffset);
            if (at > n - 4 || i - maxb > (1u << 24))
                goto done;
            if (rd32(d + at) & 1) {
                count = (long long)i + 1;
                break;
            }
        }
    }
done:
    PyBuffer_Release(&view);
    return PyLong_FromLongLong(count);
}

PyDoc_STRVAR(entropy_doc,
"entropy(data) -> float\n\n"
"Shannon entropy in bits per byte, bit for bit what scanner.sniff.entropy_py computes: the terms taken in\n"
"the order each byte value first occurs, summed left to right.");

static PyObject *entropy(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:entropy", &view))
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    uint64_t count[256] = {0};
    unsigned char order[256];
    int seen = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (count[d[i]]++ == 0)
            order[seen++] = d[i];
    }
    double total = 0.0;
    for (int i = 0; i < seen; i++) {
        double p = (double)count[order[i]] / (double)n;
        total += p * log2(p);
    }
    PyBuffer_Release(&view);
    return PyFloat_FromDouble(n ? -total : 0.0);
}

PyDoc_STRVAR(short_strings_doc,
"short_strings(strings, maxlen) -> list[str]\n\n"
"The non-empty strings of at most ``maxlen`` characters that are neither ``@`` references nor ``res/``\n"
"paths, first occurrences in order (the resource strings an Inventory keeps).");

static PyObject *short_strings(PyObject *self, PyObject *args)
{
    PyObject *seq;
    Py_ssize_t maxlen;
    if (!PyArg_ParseTuple(args, "On:short_strings", &seq, &maxlen))
        return NULL;
    /* A private tuple: set operations below may run Python code only for str subclasses, which are refused,
     * but the caller's list must not change under the loop either way. */
    PyObject *fast = PySequence_Tuple(seq);
    if (fast == NULL)
        return NULL;
    PyObject *out = PyList_New(0), *seen = PySet_New(NULL);
    if (out == NULL || seen == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(seen);
        Py_DECREF(fast);
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(fast);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *s = PyTuple_GET_ITEM(fast, i);
        if (!PyUnicode_CheckExact(s)) {
            PyErr_SetString(PyExc_TypeError, "short_strings expects str items");
            Py_CLEAR(out);
            break;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        if (len == 0 || len > maxlen || PyUnicode_READ_CHAR(s, 0) == '@')
            continue;
        if (len >= 4 && PyUnicode_READ_CHAR(s, 0) == 'r' && PyUnicode_READ_CHAR(s, 1) == 'e' &&
            PyUnicode_READ_CHAR(s, 2) == 's' && PyUnicode_READ_CHAR(s, 3) == '/')
            continue;
        int had = PySet_Contains(seen, s);
        if (had < 0 || (!had && (PySet_Add(seen, s) < 0 || PyList_Append(out, s) < 0)))
            Py_CLEAR(out);
    }
    Py_XDECREF(seen);
    Py_DECREF(fast);
    return out;
}

PyDoc_STRVAR(cd_records_doc,
"cd_records(buf, pos, count, eocd) -> (records, done, pos, last record's start or -1)\n\n"
"Central-directory records from ``pos`` while they are well formed (signature in place, fixed part before\n"
"``eocd``): (name, method, flags, crc, csize, usize, local header offset, version made by, external\n"
"attributes) each, names decoded like scanner.zipread._decode_name. ``done`` records were read; the caller\n"
"takes over at ``pos`` for the rest (its resynchronising slow path).");

static PyObject *cd_records(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, count, eocd;
    if (!PyArg_ParseTuple(args, "y*nnn:cd_records", &view, &pos, &count, &eocd))
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    const Py_ssize_t n = view.len;
    PyObject *out = PyList_New(0);
    Py_ssize_t i = 0, last = -1;
    for (; out != NULL && i < count; i++) {
        if (pos < 0 || pos + 46 > eocd || pos + 46 > n || rd32(b + pos) != 0x02014B50)
            break;
        last = pos;
        uint16_t vm = rd16(b + pos + 4), flags = rd16(b + pos + 8), method = rd16(b + pos + 10);
        uint32_t crc = rd32(b + pos + 16), csize = rd32(b + pos + 20), usize = rd32(b + pos + 24);
        uint16_t nlen = rd16(b + pos + 28), elen = rd16(b + pos + 30), clen = rd16(b + pos + 32);
        uint32_t ea = rd32(b + pos + 38), lho = rd32(b + pos + 42);
        Py_ssize_t ns = pos + 46, ne = ns + nlen < n ? ns + nlen : n; /* a slice past the end is cut, as in Python */
        const char *raw = (const char *)b + ns;
        Py_ssize_t len = ne > ns ? ne - ns : 0;
        PyObject *name;
        if (is_ascii((const unsigned char *)raw, len)) {
            name = ascii_str((const unsigned char *)raw, len);
        } else if (flags & 0x800) {
            name = PyUnicode_DecodeUTF8(raw, len, "replace");
        } else {
            name = PyUnicode_DecodeUTF8(raw, len, NULL);
            if (name == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                name = PyUnicode_Decode(raw, len, "cp437", NULL);
            }
        }
        if (name == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyObject *rec = Py_BuildValue("(NIIkkkkIk)", name, (unsigned)method, (unsigned)flags, (unsigned long)crc,
                                      (unsigned long)csize, (unsigned long)usize, (unsigned long)lho, (unsigned)vm,
                                      (unsigned long)ea);
        if (rec == NULL || PyList_Append(out, rec) < 0) {
            Py_XDECREF(rec);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(rec);
        pos += 46 + (Py_ssize_t)nlen + elen + clen;
    }
    PyBuffer_Release(&view);
    if (out == NULL)
        return NULL;
    return Py_BuildValue("(Nnnn)", out, i, pos, last);
}

/* ---- many literals at once: which of a fixed set of terms occur in a text ---------------------------- */
typedef struct {
    Py_ssize_t n;
    unsigned char **term;
    Py_ssize_t *len;
    int32_t *next;        /* next term with the same first two bytes, -1 ends */
    int32_t head[65536];  /* first term per two-byte prefix, -1 none */
    uint64_t bitmap[1024];
    int32_t single[256];  /* a one-byte term per byte value (-1 none; several alike: the first) */
} TermSet;

static void termset_free(PyObject *cap)
{
    TermSet *t = PyCapsule_GetPointer(cap, "synthreview.TermSet");
    if (t == NULL)
        return;
    for (Py_ssize_t i = 0; i < t->n; i++)
        PyMem_Free(t->term[i]);
    PyMem_Free(t->term);
    PyMem_Free(t->len);
    PyMem_Free(t->next);
    PyMem_Free(t);
}

PyDoc_STRVAR(compile_terms_doc,
"compile_terms(terms) -> capsule\n\n"
"Index a tuple of non-empty str terms (as UTF-8) for terms_present; built once per rule pack.");

static PyObject *compile_terms(PyObject *self, PyObject *args)
{
    PyObject *terms;
    if (!PyArg_ParseTuple(args, "O!:compile_terms", &PyTuple_Type, &terms))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(terms);
    TermSet *t = PyMem_Calloc(1, sizeof(TermSet));
    if (t == NULL)
        return PyErr_NoMemory();
    t->term = PyMem_Calloc(n ? n : 1, sizeof(unsigned char *));
    t->len = PyMem_Calloc(n ? n : 1, sizeof(Py_ssize_t));
    t->next = PyMem_Calloc(n ? n : 1, sizeof(int32_t));
    PyObject *cap = NULL;
    if (t->term == NULL || t->len == NULL || t->next == NULL) {
        PyMem_Free(t->term); PyMem_Free(t->len); PyMem_Free(t->next); PyMem_Free(t);
        return PyErr_NoMemory();
    }
    cap = PyCapsule_New(t, "synthreview.TermSet", termset_free);
    if (cap == NULL) {
        PyMem_Free(t->term); PyMem_Free(t->len); PyMem_Free(t->next); PyMem_Free(t);
        return NULL;
    }
    memset(t->head, 0xFF, sizeof t->head);
    memset(t->single, 0xFF, sizeof t->single);
    for (Py_ssize_t i = n - 1; i >= 0; i--) { /* backwards, so chains run in index order */
        PyObject *o = PyTuple_GET_ITEM(terms, i);
        Py_ssize_t len;
        const char *u = PyUnicode_Check(o) ? PyUnicode_AsUTF8AndSize(o, &len) : NULL;
        if (u == NULL || len == 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "terms must be non-empty str");
            Py_DECREF(cap);
            return NULL;
        }
        t->term[i] = PyMem_Malloc((size_t)len);
        if (t->term[i] == NULL) {
            Py_DECREF(cap);
            return PyErr_NoMemory();
        }
        memcpy(t->term[i], u, (size_t)len);
        t->len[i] = len;
        t->n = t->n > i + 1 ? t->n : i + 1;
        unsigned char b0 = (unsigned char)u[0];
        if (len == 1) {
            t->single[b0] = (int32_t)i;
            t->next[i] = -1;
            continue;
        }
        unsigned bg = (unsigned)b0 << 8 | (unsigned char)u[1];
        t->next[i] = t->head[bg];
        t->head[bg] = (int32_t)i;
        t->bitmap[bg >> 6] |= (uint64_t)1 << (bg & 63);
    }
    t->n = n;
    return cap;
}

PyDoc_STRVAR(terms_present_doc,
"terms_present(termset, text) -> list[int]\n\n"
"Indices (ascending) of the compiled terms that occur in ``text``, found in one pass over its UTF-8 with a\n"
"two-byte filter. None when the text cannot be UTF-8 (lone surrogates): the caller searches another way.");

static PyObject *terms_present(PyObject *self, PyObject *args)
{
    PyObject *cap, *text;
    if (!PyArg_ParseTuple(args, "OU:terms_present", &cap, &text))
        return NULL;
    TermSet *t = PyCapsule_GetPointer(cap, "synthreview.TermSet");
    if (t == NULL)
        return NULL;
    Py_ssize_t n;
    const unsigned char *d = (const unsigned char *)PyUnicode_AsUTF8AndSize(text, &n);
    if (d == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    unsigned char *found = PyMem_Calloc(t->n ? t->n : 1, 1);
    if (found == NULL)
        return PyErr_NoMemory();
    Py_ssize_t remaining = t->n;
    for (int b = 0; b < 256; b++) { /* one-byte terms */
        int32_t i = t->single[b];
        if (i >= 0 && !found[i] && memchr(d, b, (size_t)n) != NULL) {
            found[i] = 1;
            remaining--;
        }
    }
    for (Py_ssize_t pos = 0; pos + 1 < n && remaining > 0; pos++) {
        unsigned bg = (unsigned)d[pos] << 8 | d[pos + 1];
        if (!(t->bitmap[bg >> 6] >> (bg & 63) & 1))
            continue;
        for (int32_t i = t->head[bg]; i >= 0; i = t->next[i]) {
            if (!found[i] && pos + t->len[i] <= n && memcmp(d + pos, t->term[i], (size_t)t->len[i]) == 0) {
                found[i] = 1;
                remaining--;
            }
        }
    }
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < t->n; i++) {
        if (!found[i])
            continue;
        PyObject *v = PyLong_FromSsize_t(i);
        if (v == NULL || PyList_Append(out, v) < 0)
            Py_CLEAR(out);
        Py_XDECREF(v);
    }
    PyMem_Free(found);
    return out;
}

PyDoc_STRVAR(startswith_any_doc,
"startswith_any(strings, prefixes) -> list[int]\n\n"
"Indices (ascending) of the strings that start with any of the prefixes (a tuple of str): the loop behind\n"
"``[i for i, s in enumerate(strings) if s.startswith(prefixes)]``.");

static PyObject *startswith_any(PyObject *self, PyObject *args)
{
    PyObject *seq, *prefixes;
    if (!PyArg_ParseTuple(args, "OO!:startswith_any", &seq, &PyTuple_Type, &prefixes))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "startswith_any expects a sequence of str");
    if (fast == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast), k = PyTuple_GET_SIZE(prefixes);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *s = items[i];
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "startswith_any expects str items");
            Py_CLEAR(out);
            break;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            Py_ssize_t r = PyUnicode_Tailmatch(s, PyTuple_GET_ITEM(prefixes, j), 0, PY_SSIZE_T_MAX, -1);
            if (r < 0) {
                Py_CLEAR(out);
                break;
            }
            if (r) {
                PyObject *v = PyLong_FromSsize_t(i);
                if (v == NULL || PyList_Append(out, v) < 0)
                    Py_CLEAR(out);
                Py_XDECREF(v);
                break;
            }
        }
    }
    Py_DECREF(fast);
    return out;
}

static PyMethodDef methods[] = {
    {"dex_tables", dex_tables, METH_VARARGS, dex_tables_doc},
    {"arsc_pool", arsc_pool, METH_VARARGS, arsc_pool_doc},
    {"host_candidates", host_candidates, METH_O, host_candidates_doc},
    {"split_ascii", split_ascii, METH_VARARGS, split_ascii_doc},
    {"needles_mask", needles_mask, METH_VARARGS, needles_mask_doc},
    {"inflate_job", inflate_job, METH_VARARGS, inflate_job_doc},
    {"inflate_prefix", inflate_prefix, METH_VARARGS, inflate_prefix_doc},
    {"sha256_fd_job", sha256_fd_job, METH_VARARGS, sha256_fd_job_doc},
    {"sha256_buf_job", sha256_buf_job, METH_VARARGS, sha256_buf_job_doc},
    {"elf_exports", elf_exports, METH_VARARGS, elf_exports_doc},
    {"elf_hash_count", elf_hash_count, METH_VARARGS, elf_hash_count_doc},
    {"entropy", entropy, METH_VARARGS, entropy_doc},
    {"short_strings", short_strings, METH_VARARGS, short_strings_doc},
    {"cd_records", cd_records, METH_VARARGS, cd_records_doc},
    {"compile_terms", compile_terms, METH_VARARGS, compile_terms_doc},
    {"terms_present", terms_present, METH_VARARGS, terms_present_doc},
    {"startswith_any", startswith_any, METH_VARARGS, startswith_any_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "scanner._speedups",
    "Compiled twins of the inventory's per-string loops (see scanner/_speedups.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    if (PyType_Ready(&InflateJobType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
#ifdef SYNTH_HAVE_ISAL
    if (m != NULL && PyModule_AddIntConstant(m, "HAVE_ISAL", 1) < 0) { Py_DECREF(m); return NULL; }
#else
    if (m != NULL && PyModule_AddIntConstant(m, "HAVE_ISAL", 0) < 0) { Py_DECREF(m); return NULL; }
#endif
    return m;
}
