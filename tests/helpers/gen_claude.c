/*
 * gen_claude.c — writes a Claude Code projects/ tree shaped like the real
 * thing, for the importer tests and benchmarks:
 *
 *   gen_claude DIR RECORDS [SEED] [DAYS]
 *
 * DIR/projects/<project>/<session>.jsonl, RECORDS assistant lines in all.
 * Each API response is written as 1-3 lines (one per content block, the
 * output count growing to its final value, as Claude Code streams them),
 * user lines sit between turns, every 20th session is a resumed one that
 * starts with copies of an earlier session's lines, and a few lines are
 * synthetic, usage-less or cut short. The records spread over DAYS days
 * (default 30) from 2026-10-01. Deterministic for a given SEED.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned below(unsigned n) { return (unsigned)(next() % n); }

static const char *const models[] = {"claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805",
                                     "claude-haiku-4-5-20251001", "claude-sonnet-4-20250514"};

static void uuid(char out[37])
{
    uint64_t a = next(), b = next();
    snprintf(out, 37, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)(b >> 52) & 0xfff, (unsigned long long)(b & 0xffffffffffffull));
}

static void stamp(long long t_ms, char out[64])
{
    time_t s = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t_ms % 1000));
}

static const char text[] =
    "I'll look at the failing test first, then check how the parser handles the empty case. "
    "The fix is to return early when the buffer is empty instead of reading past its end; "
    "after that the suite passes and the benchmark is unchanged.";

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_claude DIR RECORDS [SEED] [DAYS]\n");
        return 64;
    }
    const char *dir = argv[1];
    long long want = atoll(argv[2]);
    if (argc > 3)
        rng ^= strtoull(argv[3], NULL, 10) * 0xff51afd7ed558ccdull;
    long long days = argc > 4 ? atoll(argv[4]) : 30;
    unsigned step = (unsigned)(days * 86400000LL / (want > 0 ? want : 1)); /* ms per record */
    if (step < 2)
        step = 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/projects", dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    enum { NPROJ = 12 };
    long long written = 0, t_ms = 1790812800000LL; /* 2026-10-01T00:00:00Z */
    int session_no = 0;
    char prev_path[NPROJ][4096];
    memset(prev_path, 0, sizeof prev_path);
    while (written < want) {
        int p = (int)below(NPROJ);
        char sid[37], proj[64];
        uuid(sid);
        snprintf(proj, sizeof proj, "-home-dev-work-project-%02d", p);
        snprintf(path, sizeof path, "%s/projects/%s", dir, proj);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/projects/%s/%s.jsonl", dir, proj, sid);
        FILE *f = fopen(path, "w");
        if (!f) {
            perror(path);
            return 1;
        }
        session_no++;
        /* A resumed session starts with copies of an earlier one's lines. */
        if (session_no % 20 == 0 && prev_path[p][0]) {
            FILE *old = fopen(prev_path[p], "r");
            char line[8192];
            for (int i = 0; old && i < 30 && fgets(line, sizeof line, old); i++)
                fputs(line, f);
            if (old)
                fclose(old);
        }
        int turns = 50 + (int)below(400);
        const char *model = models[below(4)];
        for (int turn = 0; turn < turns && written < want; turn++) {
            char ts[64], u1[37], u2[37], mid[40], rid[40];
            t_ms += below(step);
            stamp(t_ms, ts);
            uuid(u1);
            fprintf(f, "{\"parentUuid\":null,\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\"/home/dev/work/project-%02d\",\"sessionId\":\"%s\",\"version\":\"2.0.14\",\"gitBranch\":\"main\",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"please fix the test\"},\"uuid\":\"%s\",\"timestamp\":\"%s\"}\n",
                    p, sid, u1, ts);
            if (below(40) == 0)
                model = models[below(4)];
            snprintf(mid, sizeof mid, "msg_01%016llx%06x", (unsigned long long)next(), below(1 << 24));
            snprintf(rid, sizeof rid, "req_011%016llx%05x", (unsigned long long)next(), below(1 << 20));
            long long in = 3 + below(20), cw = below(4) ? below(3000) : 0, cr = 2000 + below(60000),
                      out = 20 + below(2000), cw1h = below(10) == 0 ? cw / 2 : 0;
            int blocks = 1 + (int)below(3);
            const char *m = model;
            if (below(500) == 0) /* Claude Code's own messages: no tokens */
                m = "<synthetic>", in = cw = cr = out = cw1h = 0;
            for (int b = 0; b < blocks && written < want; b++) {
                long long o = b + 1 == blocks ? out : out * (b + 1) / (blocks + 1);
                t_ms += below(step);
                stamp(t_ms, ts);
                uuid(u2);
                int cut = below(5000) == 0;
                char line[2048];
                int n = snprintf(line, sizeof line,
                        "{\"parentUuid\":\"%s\",\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\"/home/dev/work/project-%02d\",\"sessionId\":\"%s\",\"version\":\"2.0.14\",\"gitBranch\":\"main\",\"message\":{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"%s\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":%lld,\"cache_creation_input_tokens\":%lld,\"cache_read_input_tokens\":%lld,\"cache_creation\":{\"ephemeral_5m_input_tokens\":%lld,\"ephemeral_1h_input_tokens\":%lld},\"output_tokens\":%lld,\"service_tier\":\"standard\"}},\"requestId\":\"%s\",\"type\":\"assistant\",\"uuid\":\"%s\",\"timestamp\":\"%s\"}",
                        u1, p, sid, mid, m, text, in, cw, cr, cw - cw1h, cw1h, o, rid, u2, ts);
                if (cut) /* a line cut short, as a crash leaves it */
                    n = n / 2;
                fprintf(f, "%.*s\n", n, line);
                written++;
            }
        }
        fclose(f);
        snprintf(prev_path[p], sizeof prev_path[p], "%s", path);
    }
    return 0;
}
