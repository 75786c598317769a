/*
 * codex.c — fuzzes the codex importer's record reader on Codex's rollout JSONL (session_meta, turn_context, token_count lines),
 * through fuzz/importer.h.
 */
#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_importer(&tm__imp_codex, data, size);
}
