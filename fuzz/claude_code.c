/*
 * claude_code.c — fuzzes the Claude Code importer's record reader on its
 * JSONL transcripts (one assistant message per line), through
 * fuzz/importer.h.
 */
#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_importer(&tm__imp_claude, data, size);
}
