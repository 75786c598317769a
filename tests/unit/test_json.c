/*
 * test_json.c — the text-preserving JSON tree and the writer.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/core/json.h"
#include "tokmeter.h"

static int parse(tm_arena *a, const char *s, tm_jv **v, char *err)
{
    return tm__json_parse(a, s, strlen(s), v, err, 200);
}

Test(json, numbers_keep_their_text)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200];
    cr_assert_eq(parse(&a, "{\"c\": 0.1000000000000000055511151231257827, \"n\": 12345678901234567890123}", &v, err), TM_OK);
    cr_assert_str_eq(tm__json_get(v, "c")->s, "0.1000000000000000055511151231257827");
    cr_assert_str_eq(tm__json_get(v, "n")->s, "12345678901234567890123");
    tm__arena_free(&a);
}

Test(json, rejects)
{
    const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "{\"a\":1}x", "NaN", "{\"a\": Infinity}",
                         "/* c */ {}", "{'a':1}", "\"\xff\"", "{\"a\":\"\xc3\x28\"}", "01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tm_arena a = TM_ARENA_INIT;
        tm_jv *v;
        char err[200] = "";
        cr_expect_eq(parse(&a, bad[i], &v, err), TM_EINVAL, "'%s' should be refused", bad[i]);
        cr_expect(strlen(err) > 0);
        tm__arena_free(&a);
    }
}

Test(json, depth_is_capped)
{
    char deep[2 * 100000 + 1];
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200];
    cr_assert_eq(parse(&a, deep, &v, err), TM_EINVAL);
    cr_assert(strstr(err, "nested deeper") != NULL, "%s", err);
    tm__arena_free(&a);
}

Test(json, write_round_trip)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200];
    const char *in = "{\"a\":[1,2.50,{\"b\":null}],\"s\":\"q\\\"\\\\\\n\\u0001é\",\"t\":true}";
    cr_assert_eq(parse(&a, in, &v, err), TM_OK);
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__json_write(&b, v), TM_OK);
    cr_assert_str_eq(b.data, in);
    tm__buf_free(&b);
    tm__arena_free(&a);
}

Test(json, buf_cap)
{
    tm_buf b = TM_BUF_INIT;
    b.max = 8;
    cr_assert_eq(tm__buf_puts(&b, "12345678"), TM_OK);
    cr_assert_eq(tm__buf_puts(&b, "9"), TM_ETOOBIG);
    cr_assert_eq(b.len, 8);
    tm__buf_free(&b);
}
