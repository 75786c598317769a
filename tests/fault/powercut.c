/*
 * powercut.c — cuts the power under a store that is acknowledging events,
 * again and again, and checks that nothing acknowledged was lost.
 *
 *   tm_powercut [--lying-disk] DIR CYCLES [SEED]
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
static void writer(const char *path, int cycle, int fd, uint64_t crash_at, int lie)
{
    if (tm_powerloss_register(crash_at, rng) != 0)
        _exit(2);
    tm_powerloss_lie(lie);
    tm *t = NULL;
    if (tm_open(&t, path, NULL) != TM_OK) {
        dprintf(fd, "E open: %s\n", tm_errmsg());
        _exit(1);
    }
    char *body = malloc(16 * 512);
    if (!body)
        _exit(2);
    for (int k = 0;;) {
        if (next_rand() % 200 == 0) { /* a clean close (its checkpoint too) and reopen */
            tm_close(t);
            t = NULL;
            if (tm_open(&t, path, NULL) != TM_OK) {
                dprintf(fd, "E reopen: %s\n", tm_errmsg());
                _exit(1);
            }
        }
        int n = 1 + (int)(next_rand() % 16), how = (int)(next_rand() % 3), rc;
        if (how == 0) {
            char one[512];
            event_json(one, sizeof one, cycle, k);
            tm_batch_result *r = NULL;
            /* a single event: the daemon's path for one object */
            rc = tm_track_json(t, one, strlen(one), 0, NULL, &r);
            if (rc == TM_OK && r->accepted == 1)
                dprintf(fd, "c%d-%d\n", cycle, k);
            tm_batch_result_free(r);
            k++;
        } else {
            size_t len = 0;
            body[len++] = how == 1 ? '[' : '\n';
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
            tm_batch_result *r = NULL;
            rc = tm_track_json(t, body, len, how == 2 ? TM_JSON_NDJSON : 0, NULL, &r);
            if (rc == TM_OK && (int)r->accepted != n)
                dprintf(fd, "E batch: %zu of %d accepted\n", r->accepted, n);
            else if (rc == TM_OK)
                for (int i = 0; i < n; i++)
                    dprintf(fd, "c%d-%d\n", cycle, k + i);
            tm_batch_result_free(r);
            k += n;
        }
        if (rc != TM_OK) {
            dprintf(fd, "E track: %s: %s\n", tm_strerror(rc), tm_errmsg());
            _exit(1);
        }
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

static void verify_line(void *arg, const char *line)
{
    (void)arg;
    if (strncmp(line, "ok", 2) != 0)
        fprintf(stderr, "  verify: %s\n", line);
}

int main(int argc, char **argv)
{
    int lie = argc > 1 && strcmp(argv[1], "--lying-disk") == 0;
    argc -= lie, argv += lie;
    if (argc < 3) {
        fprintf(stderr, "usage: tm_powercut [--lying-disk] DIR CYCLES [SEED]\n");
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
        int pfd[2];
        if (pipe(pfd) != 0)
            return 2;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            writer(path, c, pfd[1], crash_at, lie);
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
    printf("powercut: seed %llu: %d cycles, %lld power cuts, %lld events acknowledged, %lld lost, "
           "%lld stored in all, verify failed %lld times, writers failed %lld times%s\n",
           (unsigned long long)seed, cycles, cuts, acked, lost, (long long)stored, verify_failed,
           writer_failed, lie ? " (lying disk)" : "");
    free(ids);
    free(found);
    return lost || verify_failed || writer_failed ? 1 : 0;
}
