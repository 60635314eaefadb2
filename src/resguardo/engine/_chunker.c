/*
 * Native hot loop of the content-defined chunker (FastCDC with a 64-bit gear hash).
 *
 * The Python side (resguardo/engine/chunker.py) derives the gear table from the repository key and
 * the masks from the chunk-size parameters; this module only scans bytes and reports where chunks end.
 *
 * The rules, for one chunk starting at offset 0 of the remaining data:
 *   - the first min_size bytes are skipped without hashing; the hash starts at 0;
 *   - for every following byte at index i: hash = (hash << 1) + table[byte] (modulo 2**64);
 *   - while i < average_size the chunk ends after byte i when (hash & mask_small) == 0,
 *     from i >= average_size on when (hash & mask_large) == 0 (normalized chunking);
 *   - the chunk ends after max_size bytes at the latest.
 * A chunk whose end is not yet decided (fewer than max_size bytes left, no matching hash) is left
 * to the caller, who carries it into the next call; with at_end the rest of the data is the last chunk.
 * So the boundaries depend only on the content, never on how the caller split its reads.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define UNLIKELY(condition) __builtin_expect(!!(condition), 0)
#else
#define UNLIKELY(condition) (condition)
#endif

#define GEAR_TABLE_ENTRIES 256
#define GEAR_TABLE_BYTES (GEAR_TABLE_ENTRIES * 8)

typedef struct {
    uint64_t table[GEAR_TABLE_ENTRIES];
    size_t min_size;
    size_t average_size;
    size_t max_size;
    uint64_t mask_small;
    uint64_t mask_large;
} chunk_rules;

/* Growable array of end offsets, filled while the GIL is released (raw allocator only). */
typedef struct {
    Py_ssize_t *offsets;
    size_t count;
    size_t capacity;
} offset_list;

static int
offset_list_append(offset_list *list, size_t offset)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        Py_ssize_t *grown = PyMem_RawRealloc(list->offsets, capacity * sizeof(Py_ssize_t));
        if (grown == NULL) {
            return -1;
        }
        list->offsets = grown;
        list->capacity = capacity;
    }
    list->offsets[list->count++] = (Py_ssize_t)offset;
    return 0;
}

/*
 * Hash data[position..end) into *hash, byte by byte. Return the index of the first byte after
 * which (hash & mask) == 0, or end when there is none; *hash is left as it was after that byte.
 *
 * The loop handles eight bytes per round. It keeps the loop-carried dependency short: the running
 * prefix sums of the table entries (prefix_k = sum of table[byte_j] << (k - j)) do not depend on the
 * hash, so the hash after byte k of the round is (hash << k) + prefix_k, and only
 * hash << 8 + prefix_8 carries into the next round. One branch per round tells whether any of
 * the eight hashes matched; the rare match is then located with the plain one-byte loop.
 */
static inline size_t
scan_for_boundary(const uint8_t *data, size_t position, size_t end, const uint64_t *table,
                  uint64_t mask, uint64_t *hash_io)
{
    uint64_t hash = *hash_io;

    while (end - position >= 8) {
        const uint8_t *bytes = data + position;
        uint64_t prefix1 = table[bytes[0]];
        uint64_t prefix2 = (prefix1 << 1) + table[bytes[1]];
        uint64_t prefix3 = (prefix2 << 1) + table[bytes[2]];
        uint64_t prefix4 = (prefix3 << 1) + table[bytes[3]];
        uint64_t prefix5 = (prefix4 << 1) + table[bytes[4]];
        uint64_t prefix6 = (prefix5 << 1) + table[bytes[5]];
        uint64_t prefix7 = (prefix6 << 1) + table[bytes[6]];
        uint64_t prefix8 = (prefix7 << 1) + table[bytes[7]];
        uint64_t hash1 = (hash << 1) + prefix1;
        uint64_t hash2 = (hash << 2) + prefix2;
        uint64_t hash3 = (hash << 3) + prefix3;
        uint64_t hash4 = (hash << 4) + prefix4;
        uint64_t hash5 = (hash << 5) + prefix5;
        uint64_t hash6 = (hash << 6) + prefix6;
        uint64_t hash7 = (hash << 7) + prefix7;
        uint64_t hash8 = (hash << 8) + prefix8;
        int matched = ((hash1 & mask) == 0) | ((hash2 & mask) == 0) | ((hash3 & mask) == 0) |
                      ((hash4 & mask) == 0) | ((hash5 & mask) == 0) | ((hash6 & mask) == 0) |
                      ((hash7 & mask) == 0) | ((hash8 & mask) == 0);
        if (UNLIKELY(matched)) {
            break; /* the one-byte loop below finds it within these eight bytes */
        }
        hash = hash8;
        position += 8;
    }
    for (; position < end; position++) {
        hash = (hash << 1) + table[data[position]];
        if ((hash & mask) == 0) {
            *hash_io = hash;
            return position;
        }
    }
    *hash_io = hash;
    return end;
}

/*
 * Length of the chunk that starts at data[0], given that available bytes are there.
 * Return 0 when the end is not decided yet (more data could still move it).
 */
static size_t
find_chunk_end(const uint8_t *data, size_t available, const chunk_rules *rules)
{
    if (available <= rules->min_size) {
        return 0; /* min_size < max_size, so nothing is decided before more data comes */
    }
    size_t limit = available < rules->max_size ? available : rules->max_size;
    size_t normal = rules->average_size < limit ? rules->average_size : limit;
    uint64_t hash = 0;

    size_t position = scan_for_boundary(data, rules->min_size, normal, rules->table,
                                        rules->mask_small, &hash);
    if (position < normal) {
        return position + 1;
    }
    position = scan_for_boundary(data, normal, limit, rules->table, rules->mask_large, &hash);
    if (position < limit) {
        return position + 1;
    }
    if (limit == rules->max_size) {
        return rules->max_size;
    }
    return 0;
}

/* Fill offsets with the end of every decided chunk; return -1 only when memory runs out. */
static int
find_cut_points(const uint8_t *data, size_t length, const chunk_rules *rules, int at_end,
                offset_list *offsets)
{
    size_t start = 0;
    while (start < length) {
        size_t chunk_length = find_chunk_end(data + start, length - start, rules);
        if (chunk_length == 0) {
            if (!at_end) {
                break;
            }
            chunk_length = length - start;
        }
        start += chunk_length;
        if (offset_list_append(offsets, start) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Read a mask argument: an int in [0, 2**64). */
static int
read_mask(PyObject *value, const char *name, uint64_t *mask)
{
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(value)->tp_name);
        return -1;
    }
    unsigned long long converted = PyLong_AsUnsignedLongLong(value);
    if (converted == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_ValueError, "%s must be in [0, 2**64)", name);
        }
        return -1;
    }
    *mask = (uint64_t)converted;
    return 0;
}

PyDoc_STRVAR(cut_points_doc,
"cut_points(table, data, min_size, mask_small, mask_large, average_size, max_size, at_end)\n"
"--\n"
"\n"
"Return the end offsets (exclusive, increasing) of the complete chunks of data, from offset 0.\n"
"\n"
"table is the 2048-byte gear table (256 little-endian uint64); data is any contiguous buffer.\n"
"Bytes after the last offset are an incomplete chunk to carry into the next call, unless at_end\n"
"is true: then the last offset is len(data) (for non-empty data). Requires\n"
"0 <= min_size < average_size < max_size; masks are ints in [0, 2**64). The GIL is released\n"
"while scanning. Raises TypeError for wrong types and ValueError for bad values.");

/* Read a size argument: an int in [0, PY_SSIZE_T_MAX]. */
static int
read_size(PyObject *value, const char *name, Py_ssize_t *size)
{
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_ssize_t converted = PyLong_AsSsize_t(value);
    if (converted == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_ValueError, "%s is too large", name);
        }
        return -1;
    }
    if (converted < 0) {
        PyErr_Format(PyExc_ValueError, "%s must not be negative, got %zd", name, converted);
        return -1;
    }
    *size = converted;
    return 0;
}

/* Get a contiguous byte view of value; a wrong type or layout raises TypeError naming the argument. */
static int
get_contiguous_buffer(PyObject *value, const char *name, Py_buffer *view)
{
    if (PyObject_GetBuffer(value, view, PyBUF_SIMPLE) == 0) {
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_BufferError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s must be a contiguous buffer (bytes, bytearray, memoryview), not %.100s", name,
                     Py_TYPE(value)->tp_name);
    }
    return -1;
}

static PyObject *
cut_points(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *keywords[] = {"table",        "data",     "min_size", "mask_small", "mask_large",
                               "average_size", "max_size", "at_end",   NULL};
    Py_buffer table_view;
    Py_buffer data_view;
    PyObject *table_object;
    PyObject *data_object;
    PyObject *min_size_object;
    PyObject *mask_small_object;
    PyObject *mask_large_object;
    PyObject *average_size_object;
    PyObject *max_size_object;
    int at_end;
    Py_ssize_t min_size;
    Py_ssize_t average_size;
    Py_ssize_t max_size;
    chunk_rules rules;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOOp:cut_points", keywords, &table_object,
                                     &data_object, &min_size_object, &mask_small_object,
                                     &mask_large_object, &average_size_object, &max_size_object,
                                     &at_end)) {
        return NULL;
    }
    if (get_contiguous_buffer(table_object, "table", &table_view) < 0) {
        return NULL;
    }
    if (get_contiguous_buffer(data_object, "data", &data_view) < 0) {
        PyBuffer_Release(&table_view);
        return NULL;
    }

    PyObject *result = NULL;
    if (table_view.len != GEAR_TABLE_BYTES) {
        PyErr_Format(PyExc_ValueError, "table must be %d bytes (256 little-endian uint64), not %zd",
                     GEAR_TABLE_BYTES, table_view.len);
        goto done;
    }
    if (read_size(min_size_object, "min_size", &min_size) < 0 ||
        read_size(average_size_object, "average_size", &average_size) < 0 ||
        read_size(max_size_object, "max_size", &max_size) < 0) {
        goto done;
    }
    if (average_size <= min_size || max_size <= average_size) {
        PyErr_Format(PyExc_ValueError,
                     "sizes must satisfy 0 <= min_size < average_size < max_size, "
                     "got min_size=%zd, average_size=%zd, max_size=%zd",
                     min_size, average_size, max_size);
        goto done;
    }
    if (read_mask(mask_small_object, "mask_small", &rules.mask_small) < 0 ||
        read_mask(mask_large_object, "mask_large", &rules.mask_large) < 0) {
        goto done;
    }
    const unsigned char *table_bytes = table_view.buf;
    for (size_t entry = 0; entry < GEAR_TABLE_ENTRIES; entry++) {
        uint64_t value = 0;
        for (int byte = 7; byte >= 0; byte--) {
            value = (value << 8) | table_bytes[entry * 8 + (size_t)byte];
        }
        rules.table[entry] = value;
    }
    rules.min_size = (size_t)min_size;
    rules.average_size = (size_t)average_size;
    rules.max_size = (size_t)max_size;

    offset_list offsets = {NULL, 0, 0};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = find_cut_points(data_view.buf, (size_t)data_view.len, &rules, at_end, &offsets);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyMem_RawFree(offsets.offsets);
        PyErr_NoMemory();
        goto done;
    }

    result = PyList_New((Py_ssize_t)offsets.count);
    if (result != NULL) {
        for (size_t index = 0; index < offsets.count; index++) {
            PyObject *offset = PyLong_FromSsize_t(offsets.offsets[index]);
            if (offset == NULL) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, (Py_ssize_t)index, offset);
        }
    }
    PyMem_RawFree(offsets.offsets);

done:
    PyBuffer_Release(&data_view);
    PyBuffer_Release(&table_view);
    return result;
}

static PyMethodDef chunker_methods[] = {
    {"cut_points", (PyCFunction)(void (*)(void))cut_points, METH_VARARGS | METH_KEYWORDS,
     cut_points_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef chunker_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "resguardo.engine._chunker",
    .m_doc = "Native hot loop of the content-defined chunker: see resguardo.engine.chunker.",
    .m_size = 0,
    .m_methods = chunker_methods,
};

PyMODINIT_FUNC
PyInit__chunker(void)
{
    return PyModule_Create(&chunker_module);
}
