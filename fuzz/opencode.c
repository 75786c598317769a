/*
 * opencode.c — fuzzes the OpenCode importer's record reader on its message
 * files (one JSON object per file), through fuzz/importer.h.
 */
#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_importer(&tm__imp_opencode, data, size);
}
