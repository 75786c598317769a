/*
 * codex.c — fuzzes the Codex importer's record reader on its rollout JSONL
 * (session_meta, turn_context and token_count lines), through
 * fuzz/importer.h.
 */
#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_importer(&tm__imp_codex, data, size);
}
