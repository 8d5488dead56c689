/* The log scanner's hot loops in C, for incidents where most lines match (see bulk.py, stamps.py, fields.py).
 *
 * Why: with 30 % of lines matching, the Python side paid for one callback per Hyperscan report, one
 * rfind per matched line, a regex per JSON line's time and one per line for its field values. Here one call
 * per batch (4 MiB) does each:
 *
 *   Lines(patterns)              a Hyperscan database (block mode) over the signature line patterns
 *   Lines.scan(buf, start, end)  (starts, ends, masks) of every matched line, as int64 bytearrays
 *   Lines.serialize() / Lines.load(data)   the compiled database, for the user's cache
 *   keys(buf, starts, ends)      per line, the time as microseconds since 1970 (UTC) or INT64_MIN
 *   Groups(pattern).count(buf, starts, ends, max_len)
 *                                the distinct group tuples of a signature's first match per line, with
 *                                their counts, in order of first appearance (PCRE2, JIT where it can)
 *
 * keys() reads only the shapes it is sure of and answers INT64_MIN for anything else; the caller then
 * reads that line with formats.quick_time. So a key from here is always the time quick_time gives:
 * tests/test_logs_stamps.py and tests/test_logs_native.py hold the two to that.
 *
 * Groups answers None (and the caller reads the batch in Python) for a line longer than max_len or a match
 * that hits PCRE2's limits: the signature patterns are this project's own and use no look-around, lazy
 * quantifiers or back-references, so PCRE2 and Python's re find the same first match and groups
 * (tests/test_logs_native.py checks every sample line of every signature).
 *
 * Optional: pyproject builds this module where Debian's libhyperscan-dev and libpcre2-dev are installed;
 * without it the scanner keeps its Python paths (bulk.py with the hyperscan wheel, or RE2), which give the
 * same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <hs/hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_KEY INT64_MIN
#define MAX_PATTERNS 63

/* ---- growable int64 arrays ----------------------------------------------------------------------- */
typedef struct {
    int64_t *v;
    Py_ssize_t n, cap;
    int failed;
} vec_t;

static int vec_push(vec_t *a, int64_t x) {
    if (a->n == a->cap) {
        Py_ssize_t cap = a->cap ? a->cap * 2 : 4096;
        int64_t *v = realloc(a->v, (size_t)cap * sizeof(int64_t));
        if (v == NULL) {
            a->failed = 1;
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* ---- Lines: the Hyperscan database ---------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    hs_database_t *db;
    hs_scratch_t *scratch;
} LinesObject;

static void Lines_dealloc(LinesObject *self) {
    if (self->scratch) hs_free_scratch(self->scratch);
    if (self->db) hs_free_database(self->db);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Lines_init_scratch(LinesObject *self) {
    if (hs_alloc_scratch(self->db, &self->scratch) != HS_SUCCESS) {
        PyErr_SetString(PyExc_MemoryError, "hyperscan: no scratch space");
        return -1;
    }
    return 0;
}

static int Lines_init(LinesObject *self, PyObject *args, PyObject *kwds) {
    PyObject *seq;
    static char *kwlist[] = {"patterns", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &seq)) return -1;
    PyObject *fast = PySequence_Fast(seq, "patterns: a sequence of bytes");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > MAX_PATTERNS) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "patterns: 1 to %d, not %zd", MAX_PATTERNS, n);
        return -1;
    }
    const char *exprs[MAX_PATTERNS];
    unsigned int flags[MAX_PATTERNS], ids[MAX_PATTERNS];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyBytes_Check(p) || memchr(PyBytes_AS_STRING(p), 0, (size_t)PyBytes_GET_SIZE(p)) != NULL) {
            Py_DECREF(fast);
            PyErr_Format(PyExc_TypeError, "pattern %zd: bytes without NUL", i);
            return -1;
        }
        exprs[i] = PyBytes_AS_STRING(p);
        flags[i] = 0;
        ids[i] = (unsigned int)i;
    }
    hs_compile_error_t *err = NULL;
    hs_database_t *db = NULL;
    hs_error_t rc = hs_compile_multi(exprs, flags, ids, (unsigned int)n, HS_MODE_BLOCK, NULL, &db, &err);
    Py_DECREF(fast);
    if (rc != HS_SUCCESS) {
        PyErr_Format(PyExc_ValueError, "hyperscan: pattern %d: %s", err ? err->expression : -1,
                     err ? err->message : "compile failed");
        hs_free_compile_error(err);
        return -1;
    }
    if (self->scratch) hs_free_scratch(self->scratch);
    if (self->db) hs_free_database(self->db);
    self->db = db;
    self->scratch = NULL;
    return Lines_init_scratch(self);
}

static PyObject *Lines_serialize(LinesObject *self, PyObject *Py_UNUSED(ignored)) {
    char *bytes = NULL;
    size_t length = 0;
    if (hs_serialize_database(self->db, &bytes, &length) != HS_SUCCESS) {
        PyErr_SetString(PyExc_ValueError, "hyperscan: cannot serialise the database");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(bytes, (Py_ssize_t)length);
    free(bytes);
    return out;
}

static PyObject *Lines_load(PyObject *cls, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    hs_database_t *db = NULL;
    hs_error_t rc = hs_deserialize_database(view.buf, (size_t)view.len, &db);
    PyBuffer_Release(&view);
    if (rc != HS_SUCCESS) {
        PyErr_SetString(PyExc_ValueError, "hyperscan: not a database this library can load");
        return NULL;
    }
    LinesObject *self = (LinesObject *)((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
    if (self == NULL) {
        hs_free_database(db);
        return NULL;
    }
    self->db = db;
    if (Lines_init_scratch(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* A report: end offset (one past the newline closing the line) << 6 | pattern id. A database loaded from a
 * file could carry ids this layout cannot hold: the scan stops and says so. */
static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                    void *ctx) {
    (void)from;
    (void)flags;
    vec_t *reports = ctx;
    if (id >= MAX_PATTERNS) {
        reports->failed = 2;
        return 1;
    }
    return vec_push(reports, (int64_t)(to << 6 | id)) < 0 ? 1 : 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Scan data[0:len) and append (end of line without its newline, mask) per matched line; ends are
 * data offsets + base - 1. Returns 0, or -1 (Python error set). */
static int scan_group(LinesObject *self, const char *data, size_t len, int64_t base, vec_t *ends, vec_t *masks) {
    vec_t reports = {0};
    /* with the GIL held: one scratch per database, and two threads must not share it at once */
    hs_error_t rc = hs_scan(self->db, data, (unsigned int)len, 0, self->scratch, on_match, &reports);
    if (reports.failed || (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED)) {
        free(reports.v);
        if (reports.failed == 2) PyErr_Format(PyExc_ValueError, "hyperscan: a pattern id above %d", MAX_PATTERNS - 1);
        else if (reports.failed) PyErr_NoMemory();
        else PyErr_Format(PyExc_RuntimeError, "hyperscan: scan failed (%d)", (int)rc);
        return -1;
    }
    int sorted = 1;
    for (Py_ssize_t i = 1; i < reports.n && sorted; i++) sorted = (reports.v[i] >> 6) >= (reports.v[i - 1] >> 6);
    if (!sorted) qsort(reports.v, (size_t)reports.n, sizeof(int64_t), cmp_i64);  /* never rely on the order */
    for (Py_ssize_t i = 0; i < reports.n; i++) {
        int64_t to = reports.v[i] >> 6, bit = (int64_t)1 << (reports.v[i] & 63);
        int64_t end = to + base - 1;
        if (to < 1 || (size_t)to > len) {  /* a report outside what was scanned: never from a sound database */
            free(reports.v);
            PyErr_SetString(PyExc_ValueError, "hyperscan: a report outside the scanned bytes");
            return -1;
        }
        if (ends->n && ends->v[ends->n - 1] == end) {
            masks->v[masks->n - 1] |= bit;
        } else if (vec_push(ends, end) < 0 || vec_push(masks, bit) < 0) {
            free(reports.v);
            PyErr_NoMemory();
            return -1;
        }
    }
    free(reports.v);
    return 0;
}

static PyObject *as_bytearray(vec_t *a) {
    return PyByteArray_FromStringAndSize((const char *)a->v, a->n * (Py_ssize_t)sizeof(int64_t));
}

/* (starts, ends, masks) of every matched line of buf[start:end]: the same lines as bulk.Bulk.batch. */
static PyObject *Lines_scan(LinesObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    if (start < 0 || end > view.len || start > end || end - start > (Py_ssize_t)UINT32_MAX - 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "scan: start/end outside the buffer (or over 4 GiB)");
        return NULL;
    }
    const char *buf = view.buf;
    vec_t ends = {0}, masks = {0}, starts = {0};
    PyObject *out = NULL;
    Py_ssize_t body_end = start;
    for (Py_ssize_t i = end; i > start; i--) {
        if (buf[i - 1] == '\n') {
            body_end = i;
            break;
        }
    }
    if (body_end > start && scan_group(self, buf + start, (size_t)(body_end - start), start, &ends, &masks) < 0)
        goto done;
    if (body_end < end) {  /* a last line without its newline: scanned on its own, with one added */
        size_t tail = (size_t)(end - body_end);
        char *copy = malloc(tail + 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(copy, buf + body_end, tail);
        copy[tail] = '\n';
        vec_t tail_ends = {0}, tail_masks = {0};
        int rc = scan_group(self, copy, tail + 1, 0, &tail_ends, &tail_masks);
        free(copy);
        if (rc < 0) {
            free(tail_ends.v);
            free(tail_masks.v);
            goto done;
        }
        if (tail_ends.n && (vec_push(&ends, end) < 0 || vec_push(&masks, tail_masks.v[0]) < 0)) {
            free(tail_ends.v);
            free(tail_masks.v);
            PyErr_NoMemory();
            goto done;
        }
        free(tail_ends.v);
        free(tail_masks.v);
    }
    for (Py_ssize_t i = 0; i < ends.n; i++) {
        Py_ssize_t e = (Py_ssize_t)ends.v[i], s = e;
        while (s > start && buf[s - 1] != '\n') s--;
        if (vec_push(&starts, s) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    {
        PyObject *a = as_bytearray(&starts), *b = as_bytearray(&ends), *c = as_bytearray(&masks);
        if (a && b && c) out = PyTuple_Pack(3, a, b, c);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
    }
done:
    free(starts.v);
    free(ends.v);
    free(masks.v);
    PyBuffer_Release(&view);
    return out;
}

/* ---- times ---------------------------------------------------------------------------------------- */
static int digits(const unsigned char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The key of a date and time Python's datetime accepts; NO_KEY for one it would refuse. */
static int64_t make_key(int y, int mo, int d, int h, int mi, int s, int64_t micro) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return NO_KEY;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y))) return NO_KEY;
    return (((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s) * 1000000 + micro;
}

/* YYYY-MM-DD?HH:MM:SS at p (sep: the bytes allowed in column 10). */
static int64_t iso_seconds(const unsigned char *p, const char *sep, int *ok) {
    int y, mo, d, h, mi, s;
    *ok = 0;
    if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' || !digits(p + 8, 2, &d) ||
        p[10] == 0 || strchr(sep, p[10]) == NULL || !digits(p + 11, 2, &h) || p[13] != ':' ||
        !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &s))
        return 0;
    int64_t key = make_key(y, mo, d, h, mi, s, 0);
    *ok = key != NO_KEY;
    return key;
}

/* An ISO time in p[0:room): YYYY-MM-DD?HH:MM:SS, then [.,]digits or nothing, then the end (at_start: only
 * "T", "." and a "Z" must follow). Anything else (a zone, UTC) is left to quick_time. */
static int64_t iso_key(const unsigned char *p, Py_ssize_t room, int at_start) {
    if (room < 19) return NO_KEY;
    int ok;
    int64_t key = iso_seconds(p, at_start ? "T" : "T _", &ok);
    if (!ok) return NO_KEY;
    Py_ssize_t after = 19;
    int64_t micro = 0;
    if (room > 19 && (p[19] == '.' || (!at_start && p[19] == ','))) {
        Py_ssize_t i = 20;
        while (i < room && p[i] >= '0' && p[i] <= '9') {
            if (i < 26) micro = micro * 10 + (p[i] - '0');
            i++;
        }
        if (i == 20) return NO_KEY;
        for (Py_ssize_t k = i < 26 ? i : 26; k < 26; k++) micro *= 10;
        after = i;
    }
    if (after < room && p[after] == 'Z') return key + micro;  /* parse_time reads a prefix: Z, then anything */
    if (!at_start && after == room) return key + micro;
    return NO_KEY;
}

/* The first access-log stamp "[DD/Mon/YYYY:...]" of line[0:n) as CLF_STAMP finds it: its offset (the
 * "["), or -1; *value_end: the "]". */
static Py_ssize_t find_clf(const unsigned char *line, Py_ssize_t n, Py_ssize_t *value_end) {
    for (Py_ssize_t p = 0; p + 14 < n; p++) {
        const unsigned char *q = memchr(line + p, '[', (size_t)(n - p));
        if (q == NULL) return -1;
        p = q - line;
        if (p + 14 >= n) return -1;
        const unsigned char *c = line + p + 1;
        if (c[0] >= '0' && c[0] <= '9' && c[1] >= '0' && c[1] <= '9' && c[2] == '/' && c[3] >= 'A' && c[3] <= 'Z' &&
            c[4] >= 'a' && c[4] <= 'z' && c[5] >= 'a' && c[5] <= 'z' && c[6] == '/' && c[7] >= '0' && c[7] <= '9' &&
            c[8] >= '0' && c[8] <= '9' && c[9] >= '0' && c[9] <= '9' && c[10] >= '0' && c[10] <= '9' &&
            c[11] == ':' && c[12] != ']') {
            const unsigned char *close = memchr(c + 12, ']', (size_t)(n - (p + 13)));
            if (close != NULL) {
                *value_end = close - line;
                return p;
            }
        }
    }
    return -1;
}

/* The first "time" key as TIME_KEY finds it: its offset, or -1; vs, ve: where its value (group 1) starts and ends. */
static Py_ssize_t find_time_key(const unsigned char *line, Py_ssize_t n, Py_ssize_t *vs, Py_ssize_t *ve) {
    Py_ssize_t p = 0;
    while (p + 5 < n) {
        const unsigned char *q = memmem(line + p, (size_t)(n - p), "time", 4);
        if (q == NULL) return -1;
        Py_ssize_t k = q - line, v = -1;
        p = k + 1;
        Py_ssize_t i = k + 4;
        if (i < n && line[i] == '=') {
            if (i + 1 < n && line[i + 1] == '"') v = i + 2;
            else if (i + 1 < n && line[i + 1] >= '0' && line[i + 1] <= '9') v = i + 1;
        } else if (i < n && line[i] == '"') {
            i++;
            while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
            if (i < n && line[i] == ':') {
                i++;
                while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
                if (i < n && line[i] == '"') v = i + 1;
            }
        }
        if (v < 0 || v >= n || line[v] == '"' || line[v] == ' ') continue;  /* [^" ]+ needs one byte */
        Py_ssize_t e = v;
        while (e < n && line[e] != '"' && line[e] != ' ') e++;
        /* (?: [0-9:.]+(?: ?[-+][0-9:]+| UTC)?)? -- greedy, and nothing after it can fail */
#define IN(c, set) ((c) != 0 && strchr(set, (c)) != NULL)
        if (e + 1 < n && line[e] == ' ' && IN(line[e + 1], "0123456789:.")) {
            e += 1;
            while (e < n && IN(line[e], "0123456789:.")) e++;
            Py_ssize_t z = e < n && line[e] == ' ' ? e + 1 : e;
            if (z + 1 < n && IN(line[z], "-+") && IN(line[z + 1], "0123456789:")) {
                z += 1;
                while (z < n && IN(line[z], "0123456789:")) z++;
                e = z;
            } else if (e + 3 < n && memcmp(line + e, " UTC", 4) == 0) {
                e += 4;
            }
        }
#undef IN
        *vs = v;
        *ve = e;
        return k;
    }
    return -1;
}

static const char *MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "DD/Mon/YYYY:HH:MM:SS +0000" exactly (the value of an access-log stamp); NO_KEY for anything else. */
static int64_t clf_key(const unsigned char *p, Py_ssize_t len) {
    int d, y, h, mi, s, zone, mo = 0;
    if (len != 26 || !digits(p, 2, &d) || p[2] != '/' || p[6] != '/' || !digits(p + 7, 4, &y) || p[11] != ':' ||
        !digits(p + 12, 2, &h) || p[14] != ':' || !digits(p + 15, 2, &mi) || p[17] != ':' || !digits(p + 18, 2, &s) ||
        p[20] != ' ' || p[21] != '+' || !digits(p + 22, 4, &zone) || zone != 0)
        return NO_KEY;
    for (int i = 0; i < 12; i++)
        if (memcmp(p + 3, MONTHS[i], 3) == 0) mo = i + 1;
    return mo ? make_key(y, mo, d, h, mi, s, 0) : NO_KEY;
}

/* The key of one line as quick_time reads it, where this is sure; NO_KEY elsewhere. */
static int64_t line_key(const unsigned char *line, Py_ssize_t n) {
    if (n >= 26 && line[10] == '_' && line[25] == ' ' && line[19] == '.') {  /* svlogd */
        int ok, frac;
        int64_t key = iso_seconds(line, "_", &ok);
        if (ok && digits(line + 20, 5, &frac)) return key + (int64_t)frac * 10;
    }
    if (n > 4 && (line[4] == '-' || line[4] == '/')) {  /* a leading stamp: CRI, kubectl, Go, NGINX */
        return n > 10 && line[4] == '-' && line[10] == 'T' ? iso_key(line, n, 1) : NO_KEY;
    }
    Py_ssize_t vs = 0, ve = 0, ce = 0;
    Py_ssize_t key_at = find_time_key(line, n, &vs, &ve);
    Py_ssize_t clf_at = find_clf(line, n, &ce);
    if (clf_at >= 0 && (key_at < 0 || clf_at < key_at)) return clf_key(line + clf_at + 1, ce - clf_at - 1);
    if (key_at >= 0) return iso_key(line + vs, ve - vs, 0);
    return NO_KEY;
}

static int int64_view(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 8 || view->format == NULL || (strcmp(view->format, "l") && strcmp(view->format, "q") &&
                                                         strcmp(view->format, "<q") && strcmp(view->format, "=q"))) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s: int64 array expected", what);
        return -1;
    }
    return 0;
}

/* The lines buf[starts[i]:ends[i]] of a call: three buffer views, checked (equal lengths, every line inside
 * buf). Returns the number of lines, or -1 with a Python error set and nothing held. */
typedef struct {
    Py_buffer buf, starts, ends;
} lines_t;

static Py_ssize_t lines_open(lines_t *v, PyObject *buf, PyObject *starts, PyObject *ends, const char *what) {
    if (PyObject_GetBuffer(buf, &v->buf, PyBUF_SIMPLE) < 0) return -1;
    if (int64_view(starts, &v->starts, "starts") < 0) {
        PyBuffer_Release(&v->buf);
        return -1;
    }
    if (int64_view(ends, &v->ends, "ends") < 0) {
        PyBuffer_Release(&v->starts);
        PyBuffer_Release(&v->buf);
        return -1;
    }
    Py_ssize_t n = v->starts.len / 8;
    const int64_t *s = v->starts.buf, *e = v->ends.buf;
    if (v->ends.len / 8 != n) {
        PyErr_Format(PyExc_ValueError, "%s: starts and ends differ in length", what);
        n = -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < 0 || e[i] < s[i] || e[i] > v->buf.len) {
            PyErr_Format(PyExc_ValueError, "%s: line %zd outside the buffer", what, i);
            n = -1;
        }
    }
    if (n < 0) {
        PyBuffer_Release(&v->ends);
        PyBuffer_Release(&v->starts);
        PyBuffer_Release(&v->buf);
    }
    return n;
}

static void lines_close(lines_t *v) {
    PyBuffer_Release(&v->ends);
    PyBuffer_Release(&v->starts);
    PyBuffer_Release(&v->buf);
}

/* keys(buf, starts, ends): a bytearray of int64 keys, one per line buf[starts[i]:ends[i]]. */
static PyObject *native_keys(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *buf_obj, *starts_obj, *ends_obj;
    if (!PyArg_ParseTuple(args, "OOO", &buf_obj, &starts_obj, &ends_obj)) return NULL;
    lines_t v;
    Py_ssize_t n = lines_open(&v, buf_obj, starts_obj, ends_obj, "keys");
    if (n < 0) return NULL;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * 8);
    if (out != NULL) {
        int64_t *keys = (int64_t *)PyByteArray_AS_STRING(out);
        const int64_t *s = v.starts.buf, *e = v.ends.buf;
        const unsigned char *data = v.buf.buf;
        /* with the GIL held: starts and ends were checked above and nobody may change them until we are done */
        for (Py_ssize_t i = 0; i < n; i++) keys[i] = line_key(data + s[i], (Py_ssize_t)(e[i] - s[i]));
    }
    lines_close(&v);
    return out;
}

/* ---- Groups: a signature's fields, counted ---------------------------------------------------------- */
typedef struct {
    uint64_t hash;
    size_t off, len;
    Py_ssize_t count;
} entry_t;

typedef struct {
    entry_t *entries;
    Py_ssize_t n, cap;
    int32_t *slots;  /* index into entries, -1: empty */
    size_t nslots;   /* a power of two, at least twice n */
    char *arena;
    size_t used, room;
} tally_t;

static void tally_free(tally_t *t) {
    free(t->entries);
    free(t->slots);
    free(t->arena);
}

static int tally_grow_slots(tally_t *t) {
    size_t nslots = t->nslots ? t->nslots * 2 : 1024;
    int32_t *slots = malloc(nslots * sizeof(int32_t));
    if (slots == NULL) return -1;
    memset(slots, 0xff, nslots * sizeof(int32_t));
    for (Py_ssize_t i = 0; i < t->n; i++) {
        size_t k = (size_t)t->entries[i].hash & (nslots - 1);
        while (slots[k] >= 0) k = (k + 1) & (nslots - 1);
        slots[k] = (int32_t)i;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Count one key (the encoded groups of one line): +1 to its entry, or a new entry at the end. */
static int tally_add(tally_t *t, const char *key, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    if ((size_t)(t->n + 1) * 2 > t->nslots && tally_grow_slots(t) < 0) return -1;
    size_t k = (size_t)h & (t->nslots - 1);
    while (t->slots[k] >= 0) {
        entry_t *e = &t->entries[t->slots[k]];
        if (e->hash == h && e->len == len && memcmp(t->arena + e->off, key, len) == 0) {
            e->count++;
            return 0;
        }
        k = (k + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? t->cap * 2 : 256;
        entry_t *entries = realloc(t->entries, (size_t)cap * sizeof(entry_t));
        if (entries == NULL) return -1;
        t->entries = entries;
        t->cap = cap;
    }
    if (t->used + len > t->room) {
        size_t room = (t->room ? t->room * 2 : 65536) + len;
        char *arena = realloc(t->arena, room);
        if (arena == NULL) return -1;
        t->arena = arena;
        t->room = room;
    }
    memcpy(t->arena + t->used, key, len);
    t->entries[t->n] = (entry_t){h, t->used, len, 1};
    t->used += len;
    t->slots[k] = (int32_t)t->n++;
    return 0;
}

typedef struct {
    PyObject_HEAD
    pcre2_code *code;
    pcre2_match_context *context;
    uint32_t groups;
} GroupsObject;

static void Groups_dealloc(GroupsObject *self) {
    if (self->context) pcre2_match_context_free(self->context);
    if (self->code) pcre2_code_free(self->code);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Groups_init(GroupsObject *self, PyObject *args, PyObject *kwds) {
    Py_buffer pattern;
    static char *kwlist[] = {"pattern", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*", kwlist, &pattern)) return -1;
    int err;
    PCRE2_SIZE at;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern.buf, (PCRE2_SIZE)pattern.len, 0, &err, &at, NULL);
    PyBuffer_Release(&pattern);
    if (code == NULL) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(err, message, sizeof message);
        PyErr_Format(PyExc_ValueError, "pcre2: %s at offset %zu", (const char *)message, (size_t)at);
        return -1;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  /* where JIT is refused, the interpreter reads the same */
    pcre2_match_context *context = pcre2_match_context_create(NULL);
    if (context == NULL) {
        pcre2_code_free(code);
        PyErr_NoMemory();
        return -1;
    }
    pcre2_set_match_limit(context, 1000000);  /* a line that needs more is read by the caller (RE2) */
    pcre2_set_depth_limit(context, 100000);
    if (self->context) pcre2_match_context_free(self->context);
    if (self->code) pcre2_code_free(self->code);
    self->code = code;
    self->context = context;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &self->groups);
    return 0;
}

/* The encoded groups of one match: per group a 4-byte length (0xffffffff: did not take part) and its bytes. */
static size_t encode_groups(const unsigned char *line, const PCRE2_SIZE *ov, int rc, uint32_t groups, char *out) {
    size_t k = 0;
    for (uint32_t g = 1; g <= groups; g++) {
        uint32_t len = 0xffffffffu;
        if ((int)g < rc && ov[2 * g] != PCRE2_UNSET) len = (uint32_t)(ov[2 * g + 1] - ov[2 * g]);
        memcpy(out + k, &len, 4);
        k += 4;
        if (len != 0xffffffffu) {
            memcpy(out + k, line + ov[2 * g], len);
            k += len;
        }
    }
    return k;
}

static PyObject *decode_groups(const char *key, uint32_t groups) {
    PyObject *tuple = PyTuple_New(groups);
    if (tuple == NULL) return NULL;
    size_t k = 0;
    for (uint32_t g = 0; g < groups; g++) {
        uint32_t len;
        memcpy(&len, key + k, 4);
        k += 4;
        PyObject *item;
        if (len == 0xffffffffu) {
            item = Py_None;
            Py_INCREF(item);
        } else {
            item = PyBytes_FromStringAndSize(key + k, len);
            k += len;
        }
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, g, item);
    }
    return tuple;
}

/* count(buf, starts, ends, max_len) -> [(groups, count), ...] in first-appearance order, or None. */
static PyObject *Groups_count(GroupsObject *self, PyObject *args) {
    PyObject *buf_obj, *starts_obj, *ends_obj;
    Py_ssize_t max_len;
    if (!PyArg_ParseTuple(args, "OOOn", &buf_obj, &starts_obj, &ends_obj, &max_len)) return NULL;
    if (self->code == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Groups: not initialised");
        return NULL;
    }
    if (max_len < 0) {
        PyErr_SetString(PyExc_ValueError, "count: max_len must be 0 or more");
        return NULL;
    }
    lines_t v;
    Py_ssize_t n = lines_open(&v, buf_obj, starts_obj, ends_obj, "count");
    if (n < 0) return NULL;
    PyObject *out = NULL;
    tally_t t = {0};
    char *key = NULL;
    pcre2_match_data *md = NULL;
    const int64_t *s = v.starts.buf, *e = v.ends.buf;
    int64_t longest = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (e[i] - s[i] > max_len) {  /* the caller reads long lines with RE2 */
            out = Py_None;
            Py_INCREF(out);
            goto done;
        }
        if (e[i] - s[i] > longest) longest = e[i] - s[i];
    }
    md = pcre2_match_data_create_from_pattern(self->code, NULL);
    /* every group's bytes and length: nested groups repeat bytes (longest <= the buffer, groups < 65536) */
    key = malloc(((size_t)longest + 4) * ((size_t)self->groups + 1));
    if (md == NULL || key == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int failed = 0;  /* 1: out of memory, 2: a match PCRE2 gave up on */
    const unsigned char *data = v.buf.buf;
    /* with the GIL held: the lines were checked above, and the pattern is not replaced, until we are done */
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        const unsigned char *line = data + s[i];
        int rc = pcre2_match(self->code, line, (PCRE2_SIZE)(e[i] - s[i]), 0, 0, md, self->context);
        if (rc == PCRE2_ERROR_NOMATCH) continue;
        if (rc <= 0) {
            failed = 2;
            break;
        }
        size_t len = encode_groups(line, pcre2_get_ovector_pointer(md), rc, self->groups, key);
        if (tally_add(&t, key, len) < 0) failed = 1;
    }
    if (failed == 1) {
        PyErr_NoMemory();
        goto done;
    }
    if (failed == 2) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    out = PyList_New(t.n);
    if (out == NULL) goto done;
    for (Py_ssize_t i = 0; i < t.n; i++) {
        PyObject *groups = decode_groups(t.arena + t.entries[i].off, self->groups);
        PyObject *pair = groups ? Py_BuildValue("(Nn)", groups, t.entries[i].count) : NULL;
        if (pair == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, pair);
    }
done:
    pcre2_match_data_free(md);
    free(key);
    tally_free(&t);
    lines_close(&v);
    return out;
}

static PyMethodDef Groups_methods[] = {
    {"count", (PyCFunction)Groups_count, METH_VARARGS,
     "count(buf, starts, ends, max_len) -> [(groups, count), ...] in first-appearance order, or None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GroupsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "runbooklib.logs._native.Groups",
    .tp_basicsize = sizeof(GroupsObject),
    .tp_dealloc = (destructor)Groups_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Groups(pattern): the groups of a pattern's first match per line, counted",
    .tp_methods = Groups_methods,
    .tp_init = (initproc)Groups_init,
    .tp_new = PyType_GenericNew,
};

/* ---- module --------------------------------------------------------------------------------------- */
static PyMethodDef Lines_methods[] = {
    {"scan", (PyCFunction)Lines_scan, METH_VARARGS,
     "scan(buf, start, end) -> (starts, ends, masks): int64 bytearrays of every matched line"},
    {"serialize", (PyCFunction)Lines_serialize, METH_NOARGS, "the compiled database as bytes"},
    {"load", (PyCFunction)Lines_load, METH_O | METH_CLASS, "a Lines from serialize()'s bytes"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LinesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "runbooklib.logs._native.Lines",
    .tp_basicsize = sizeof(LinesObject),
    .tp_dealloc = (destructor)Lines_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lines(patterns): a Hyperscan database whose reports are grouped per matched line",
    .tp_methods = Lines_methods,
    .tp_init = (initproc)Lines_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *native_version(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    return PyUnicode_FromString(hs_version());
}

static PyMethodDef module_methods[] = {
    {"keys", native_keys, METH_VARARGS, "keys(buf, starts, ends) -> int64 bytearray of line times (INT64_MIN: none)"},
    {"hs_version", native_version, METH_NOARGS, "the Hyperscan library's version"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native", "The log scanner's hot loops in C (see runbooklib/logs/_native.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&LinesType) < 0 || PyType_Ready(&GroupsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL) return NULL;
    /* PyModule_AddType (3.9+) takes its own reference and names the type after tp_name's last part */
    if (PyModule_AddType(m, &LinesType) < 0 || PyModule_AddType(m, &GroupsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
