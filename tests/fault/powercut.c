/*
 * powercut.c — cuts the power under a store that is acknowledging events,
 * again and again, and checks that nothing acknowledged was lost.
 *
 *   tm_powercut [--faults | --lying-disk] DIR CYCLES [SEED]
 *
 * Each cycle forks a writer that puts the powerloss VFS (powerloss_vfs.c)
 * under SQLite, opens the store DIR/store.db and stores batches of events
 * the ways a client can (one object, a JSON array, NDJSON, through
 * tm_track_json as the daemon does), telling the parent each id as soon as
 * its call returns TM_OK, and now and then closes and reopens the store.
 * The power fails at a random write, truncate or sync (mostly within the
 * first 600, one cycle in five within 8,000, past the first checkpoints),
 * and everything not yet synced is lost. The parent
 * then removes the never-durable wal-index, opens the store as tokmeter
 * would after a reboot, and checks that every acknowledged event of the
 * cycle is there and that tm_verify (`tokmeter verify`) passes.
 *
 * Prints one line of totals; exits 1 when an event was lost, the store
 * failed to open or verify, or a writer ended other than by the power cut.
 * --faults: before the cut, one operation fails as the OS reports a fault:
 * ENOSPC or EIO on a write, EIO on a sync (whose dirty pages the kernel
 * then forgets) or on a truncate. Cycle c fails the first operation of
 * kind c mod 4 at or after the (c/4 mod 150)+1-th, so 600 cycles put each
 * kind at each of the first 150 steps (opening the
 * store, each commit's log writes and sync, checkpoints, closing). The
 * writer must get an error, not an acknowledgement, for what failed (a
 * fault in a checkpoint or a close reaches no caller: the log still holds
 * every commit); it
 * retries that batch once, which must then be stored (accepted, or found
 * stored already), and goes on. The error messages are tallied.
 * --lying-disk is the test's own control: syncs write nothing, so events
 * must be reported lost (tests/fault/powercut.sh expects it to fail).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "powerloss_vfs.h"
#include "tokmeter.h"

#define BASE_US 1790000000000000LL /* 2026-09-21: cycle c's events are at BASE + c s */
#define MAX_ACK 200000

static uint64_t rng;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void event_json(char *buf, size_t cap, int cycle, int k)
{
    snprintf(buf, cap,
             "{\"id\":\"c%d-%d\",\"timestamp\":%lld,\"provider\":\"anthropic\",\"model\":"
             "\"claude-sonnet-4\",\"user_id\":\"u%d\",\"input_tokens\":%d,\"output_tokens\":%d,"
             "\"latency_ms\":%d}",
             cycle, k, (long long)(BASE_US / 1000 + (int64_t)cycle * 1000 + k % 1000), k % 7,
             100 + k, 10 + k % 50, 5 + k % 300);
}

/* The writer: never returns. */
/* Opens the store; after a failure (an injected fault) once more. */
static tm *open_store(const char *path, int fd)
{
    tm *t = NULL;
    for (int try = 0; try < 2; try++) {
        if (tm_open(&t, path, NULL) == TM_OK)
            return t;
        if (!tm_powerloss_faulted() || try) {
            dprintf(fd, "E open: %s\n", tm_errmsg());
            _exit(1);
        }
        dprintf(fd, "F open: %s\n", tm_errmsg());
    }
    return t;
}

/* Stores body (n events from id k), once more after an injected fault:
 * then every event must be accepted or a duplicate (stored before the
 * error was reported). Returns 1 when acknowledged. */
static int store(tm *t, const char *body, size_t len, unsigned flags, int n, int fd)
{
    for (int try = 0; try < 2; try++) {
        tm_batch_result *r = NULL;
        int rc = tm_track_json(t, body, len, flags, NULL, &r);
        size_t acc = r ? r->accepted : 0, dup = r ? r->duplicates : 0;
        tm_batch_result_free(r);
        if (rc == TM_OK && (int)(acc + (try ? dup : 0)) == n)
            return 1;
        if (rc == TM_OK) {
            dprintf(fd, "E batch: %zu accepted and %zu duplicates of %d%s\n", acc, dup, n,
                    try ? " when retried after the fault" : "");
            _exit(1);
        }
        if (!tm_powerloss_faulted() || try) {
            dprintf(fd, "E track: %s: %s\n", tm_strerror(rc), tm_errmsg());
            _exit(1);
        }
        dprintf(fd, "F track: %s: %s\n", tm_strerror(rc), tm_errmsg());
    }
    return 0;
}

static void writer(const char *path, int cycle, int fd, uint64_t crash_at, int lie, uint64_t fault_at,
                   int fault_kind)
{
    if (tm_powerloss_register(crash_at, rng) != 0)
        _exit(2);
    tm_powerloss_lie(lie);
    tm_powerloss_fault(fault_at, fault_kind, fd);
    tm *t = open_store(path, fd);
    char *body = malloc(16 * 512);
    if (!body)
        _exit(2);
    for (int k = 0;;) {
        if (next_rand() % 200 == 0) { /* a clean close (its checkpoint too) and reopen */
            if (tm_close(t) != TM_OK)
                dprintf(fd, "F close: %s\n", tm_errmsg());
            t = open_store(path, fd);
        }
        int n = 1 + (int)(next_rand() % 16), how = (int)(next_rand() % 3);
        if (how == 0)
            n = 1; /* a single object: the daemon's path for one event */
        size_t len = 0;
        if (how == 1)
            body[len++] = '[';
        for (int i = 0; i < n; i++) {
            if (i && how == 1)
                body[len++] = ',';
            event_json(body + len, 512, cycle, k + i);
            len += strlen(body + len);
            if (how == 2)
                body[len++] = '\n';
        }
        if (how == 1)
            body[len++] = ']';
        if (store(t, body, len, how == 2 ? TM_JSON_NDJSON : 0, n, fd))
            for (int i = 0; i < n; i++)
                dprintf(fd, "c%d-%d\n", cycle, k + i);
        k += n;
    }
}

typedef struct seen {
    char **ids;
    size_t n;
    unsigned char *found;
} seen;

static int mark(void *arg, const tm_event *ev)
{
    seen *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (!s->found[i] && strcmp(s->ids[i], ev->id) == 0) {
            s->found[i] = 1;
            break;
        }
    return 0;
}

/* The distinct error messages the injected faults produced, and how often. */
static char *msgs[64];
static long long nmsg[64];
static long long faults_reported, faults_fired;

static void tally(const char *m)
{
    faults_reported++;
    for (int i = 0; i < 64; i++) {
        if (!msgs[i])
            msgs[i] = strdup(m);
        if (msgs[i] && strcmp(msgs[i], m) == 0) {
            nmsg[i]++;
            return;
        }
    }
}

static void verify_line(void *arg, const char *line)
{
    (void)arg;
    if (strncmp(line, "ok", 2) != 0)
        fprintf(stderr, "  verify: %s\n", line);
}

int main(int argc, char **argv)
{
    int lie = argc > 1 && strcmp(argv[1], "--lying-disk") == 0;
    int faults = argc > 1 && strcmp(argv[1], "--faults") == 0;
    argc -= lie + faults, argv += lie + faults;
    if (argc < 3) {
        fprintf(stderr, "usage: tm_powercut [--faults | --lying-disk] DIR CYCLES [SEED]\n");
        return 2;
    }
    char path[4096], shm[4200];
    snprintf(path, sizeof path, "%s/store.db", argv[1]);
    snprintf(shm, sizeof shm, "%s-shm", path);
    int cycles = atoi(argv[2]);
    rng = argc > 3 ? strtoull(argv[3], NULL, 10) : (uint64_t)getpid();
    uint64_t seed = rng;
    if (!rng)
        rng = 1;
    long long acked = 0, lost = 0, cuts = 0, verify_failed = 0, writer_failed = 0;
    char **ids = malloc(MAX_ACK * sizeof *ids);
    unsigned char *found = malloc(MAX_ACK);
    if (!ids || !found)
        return 2;
    for (int c = 0; c < cycles; c++) {
        uint64_t crash_at = 1 + next_rand() % (next_rand() % 5 ? 600 : 8000);
        uint64_t fault_at = faults ? 1 + (uint64_t)(c / 4) % 150 : 0;
        int fault_kind = faults ? TM_PL_WRITE_ENOSPC + c % 4 : 0;
        if (faults)
            crash_at += fault_at + 50; /* the cut comes after the fault */
        int pfd[2];
        if (pipe(pfd) != 0)
            return 2;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            writer(path, c, pfd[1], crash_at, lie, fault_at, fault_kind);
        }
        close(pfd[1]);
        FILE *in = fdopen(pfd[0], "r");
        char line[1024];
        size_t n = 0;
        while (in && fgets(line, sizeof line, in)) {
            line[strcspn(line, "\n")] = 0;
            if (line[0] == 'E') {
                fprintf(stderr, "powercut: cycle %d: writer: %s\n", c, line + 2);
                continue;
            }
            if (line[0] == 'X') {
                faults_fired++;
                continue;
            }
            if (line[0] == 'F') {
                tally(line + 2);
                continue;
            }
            if (n < MAX_ACK)
                ids[n++] = strdup(line);
        }
        if (in)
            fclose(in);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != TM_POWERLOSS_EXIT) {
            fprintf(stderr, "powercut: cycle %d: the writer ended with %s %d, not by the power cut\n", c,
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            writer_failed++;
        } else {
            cuts++;
        }
        /* After the cut: the wal-index was never durable. */
        if (unlink(shm) != 0 && errno != ENOENT)
            perror("powercut: unlink -shm");
        tm *t = NULL;
        if (tm_open(&t, path, NULL) != TM_OK) {
            fprintf(stderr, "powercut: cycle %d: the store does not open after the cut: %s\n", c,
                    tm_errmsg());
            return 1;
        }
        memset(found, 0, n);
        seen s = {ids, n, found};
        tm_event_filter f = {.since_us = BASE_US + (int64_t)c * 1000000,
                             .until_us = BASE_US + (int64_t)(c + 1) * 1000000};
        if (tm_events(t, &f, mark, &s) != TM_OK) {
            fprintf(stderr, "powercut: cycle %d: reading events: %s\n", c, tm_errmsg());
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            if (!found[i]) {
                if (lost < 20)
                    fprintf(stderr, "powercut: cycle %d: acknowledged event %s is missing\n", c, ids[i]);
                lost++;
            }
        if (tm_verify(t, verify_line, NULL) != TM_OK) {
            fprintf(stderr, "powercut: cycle %d: verify failed: %s\n", c, tm_errmsg());
            verify_failed++;
        }
        tm_close(t);
        acked += (long long)n;
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
    }
    int64_t stored = 0;
    tm *t = NULL;
    if (tm_open(&t, path, NULL) == TM_OK)
        tm_count(t, &stored);
    tm_close(t);
    for (int i = 0; i < 64 && msgs[i]; i++)
        printf("  fault reported %lld times as: %s\n", nmsg[i], msgs[i]);
    if (faults)
        printf("powercut: %lld faults injected, %lld reported as errors (the rest hit a checkpoint or a "
               "close, whose failure loses nothing and reaches no caller)\n",
               faults_fired, faults_reported);
    printf("powercut: seed %llu: %d cycles, %lld power cuts, %lld events acknowledged, %lld lost, "
           "%lld stored in all, verify failed %lld times, writers failed %lld times%s%s\n",
           (unsigned long long)seed, cycles, cuts, acked, lost, (long long)stored, verify_failed,
           writer_failed, lie ? " (lying disk)" : "", faults ? " (with faults)" : "");
    free(ids);
    free(found);
    return lost || verify_failed || writer_failed ? 1 : 0;
}
