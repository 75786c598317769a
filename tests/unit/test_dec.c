/*
 * test_dec.c — exact decimal parsing and formatting, table-driven.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/core/dec.h"

static const struct {
    const char *text;
    int scale;
    int rc;
    int64_t want;
} parse_cases[] = {
    {"0", 12, TM_DEC_OK, 0},
    {"1", 9, TM_DEC_OK, 1000000000},
    {"0.0375", 12, TM_DEC_OK, 37500000000},         /* $0.0375 */
    {"0.000006", 12, TM_DEC_OK, 6000000},
    {"12.345678912", 12, TM_DEC_OK, 12345678912000},
    {"1e-3", 12, TM_DEC_OK, 1000000000},
    {"2.5E+2", 0, TM_DEC_OK, 250},
    {"1.5", 0, TM_DEC_OK, 2},                       /* half to even */
    {"2.5", 0, TM_DEC_OK, 2},
    {"3.5", 0, TM_DEC_OK, 4},
    {"2.5000001", 0, TM_DEC_OK, 3},
    {"0.0037500000000000003", 12, TM_DEC_OK, 3750000000}, /* float noise below pico */
    {"9223372.036854775807", 12, TM_DEC_OK, INT64_MAX},
    {"9223372.036854775808", 12, TM_DEC_RANGE, 0},
    {"1e400", 0, TM_DEC_RANGE, 0},
    {"1e-400", 12, TM_DEC_OK, 0},
    {"-1", 9, TM_DEC_NEGATIVE, 0},
    {"-0", 9, TM_DEC_OK, 0},
    {"", 9, TM_DEC_SYNTAX, 0},
    {".5", 9, TM_DEC_SYNTAX, 0},
    {"5.", 9, TM_DEC_SYNTAX, 0},
    {"1e", 9, TM_DEC_SYNTAX, 0},
    {"NaN", 9, TM_DEC_SYNTAX, 0},
    {"Infinity", 9, TM_DEC_SYNTAX, 0},
    {"0x10", 9, TM_DEC_SYNTAX, 0},
    {"1 ", 9, TM_DEC_SYNTAX, 0},
    {"1234567890123456789012345678901234567", 0, TM_DEC_RANGE, 0},
};

Test(dec, parse_table)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        int64_t v = -42;
        int rc = tm__dec_parse(parse_cases[i].text, strlen(parse_cases[i].text),
                               parse_cases[i].scale, 0, &v);
        cr_expect_eq(rc, parse_cases[i].rc, "'%s': rc %d, want %d", parse_cases[i].text, rc,
                     parse_cases[i].rc);
        if (rc == TM_DEC_OK)
            cr_expect_eq(v, parse_cases[i].want, "'%s': got %lld want %lld", parse_cases[i].text,
                         (long long)v, (long long)parse_cases[i].want);
    }
}

Test(dec, negative_allowed)
{
    int64_t v;
    cr_assert_eq(tm__dec_parse("-2.25", 5, 2, 1, &v), TM_DEC_OK);
    cr_assert_eq(v, -225);
}

Test(dec, uint)
{
    uint64_t v;
    cr_assert_eq(tm__uint_parse("9007199254740992", 16, 1ull << 53, &v), TM_DEC_OK);
    cr_assert_eq(v, 1ull << 53);
    cr_assert_eq(tm__uint_parse("9007199254740993", 16, 1ull << 53, &v), TM_DEC_RANGE);
    cr_assert_eq(tm__uint_parse("1.0", 3, 100, &v), TM_DEC_SYNTAX);
    cr_assert_eq(tm__uint_parse("1e3", 3, 10000, &v), TM_DEC_SYNTAX);
    cr_assert_eq(tm__uint_parse("-1", 2, 100, &v), TM_DEC_NEGATIVE);
    cr_assert_eq(tm__uint_parse("", 0, 100, &v), TM_DEC_SYNTAX);
}

static const struct {
    int64_t v;
    int scale, places;
    const char *want;
} fmt_cases[] = {
    {12345678912000, 12, -1, "12.345678912"},
    {0, 12, -1, "0"},
    {37500000000, 12, -1, "0.0375"},
    {-500000000000, 12, -1, "-0.5"},
    {1000000000, 9, -1, "1"},
    {12345678912000, 12, 2, "12.35"},
    {12344999999999, 12, 2, "12.34"},
    {5000000000, 12, 2, "0.01"},     /* half away from zero */
    {-5000000000, 12, 2, "-0.01"},
    {7, 0, 2, "7.00"},
    {INT64_MAX, 12, -1, "9223372.036854775807"},
};

Test(dec, format_table)
{
    for (size_t i = 0; i < sizeof fmt_cases / sizeof fmt_cases[0]; i++) {
        char buf[64];
        if (fmt_cases[i].places < 0)
            tm__dec_format(fmt_cases[i].v, fmt_cases[i].scale, buf);
        else
            tm__dec_format_fixed(fmt_cases[i].v, fmt_cases[i].scale, fmt_cases[i].places, buf);
        cr_expect_str_eq(buf, fmt_cases[i].want, "case %zu", i);
    }
}

Test(dec, sum_128_bits)
{
    /* A year of a large organisation: 10^9 events of $9,000 each does not
     * fit 64 bits of pico-USD but does fit 128. */
    tm_i128 sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += (tm_i128)9000 * 1000000000000LL * 1000000;
    char buf[64];
    tm__dec_format(sum, 12, buf);
    cr_assert_str_eq(buf, "9000000000000");
}

Test(dec, round_trip)
{
    const char *texts[] = {"0.1", "123.456", "0.000000000001", "42", "99999.999999999999"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int64_t v;
        char buf[64];
        cr_assert_eq(tm__dec_parse(texts[i], strlen(texts[i]), 12, 0, &v), TM_DEC_OK);
        tm__dec_format(v, 12, buf);
        cr_expect_str_eq(buf, texts[i]);
    }
}

/* Exact comparison of number texts, as alert thresholds use it. */
Test(dec, cmp_table)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"0", "0", 0},          {"0", "-0", 0},          {"0.0", "0e5", 0},
        {"1", "1.000", 0},      {"80", "80", 0},         {"79.999999", "80", -1},
        {"80.0000001", "80", 1}, {"0.0375", "3.75e-2", 0}, {"0.00036", "0.000360000000", 0},
        {"-1", "1", -1},        {"-2", "-1", -1},        {"1e3", "999.9999999", 1},
        {"100", "99", 1},       {"0.1", "0.09", 1},      {"007", "7", 0},
        {"12345678901234567890123456789012345678901234567890", "1.2345678901234567890123456789012345678901234567890e49", 0},
        {"12345678901234567890123456789012345678901234567891", "1.2345678901234567890123456789012345678901234567890e49", 1},
        {"0.000000000000000000000000000001", "0", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = 9, back = 9;
        cr_assert_eq(tm__dec_cmp(cases[i].a, strlen(cases[i].a), cases[i].b, strlen(cases[i].b), &got), TM_DEC_OK,
                     "%s vs %s: not parsed", cases[i].a, cases[i].b);
        cr_expect_eq(got, cases[i].want, "%s vs %s: got %d, want %d", cases[i].a, cases[i].b, got, cases[i].want);
        tm__dec_cmp(cases[i].b, strlen(cases[i].b), cases[i].a, strlen(cases[i].a), &back);
        cr_expect_eq(back, -cases[i].want, "%s vs %s reversed: got %d", cases[i].b, cases[i].a, back);
    }
    const char *bad[] = {"", ".5", "5.", "1e", "NaN", "1 ", "--1", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int got;
        cr_expect_eq(tm__dec_cmp(bad[i], strlen(bad[i]), "1", 1, &got), TM_DEC_SYNTAX, "'%s' accepted", bad[i]);
    }
}

/* Against the integer order of the same values at one scale. */
Test(dec, cmp_matches_integers)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        int64_t v[2];
        char t[2][64];
        int64_t raw[2];
        for (int k = 0; k < 2; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            raw[k] = i % 7 == 0 && k == 1 ? raw[0] : (int64_t)(x % 2000000001) - 1000000000;
            tm__dec_format(raw[k], (int)(x % 10), t[k]); /* equal raws may get other scales */
            cr_assert_eq(tm__dec_parse(t[k], strlen(t[k]), 9, 1, &v[k]), TM_DEC_OK, "%s", t[k]);
        }
        int got;
        cr_assert_eq(tm__dec_cmp(t[0], strlen(t[0]), t[1], strlen(t[1]), &got), TM_DEC_OK);
        int want = (v[0] > v[1]) - (v[0] < v[1]);
        cr_assert_eq(got, want, "%s vs %s: got %d, want %d", t[0], t[1], got, want);
    }
}

Test(dec, ratio)
{
    static const struct {
        long long num, den;
        int places;
        const char *want;
    } cases[] = {
        {0, 1, 6, "0"},           {1, 1, 6, "1"},          {2, 40, 6, "0.05"},
        {1, 3, 6, "0.333333"},    {2, 3, 6, "0.666667"},   {1, 2000000, 6, "0"}, /* 0.0000005: half to even */
        {3, 2000000, 6, "0.000002"}, {9999, 10000, 2, "1"}, {1897, 2000, 4, "0.9485"},
        {100 * 19, 20, 4, "95"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        tm__dec_ratio(cases[i].num, cases[i].den, cases[i].places, buf);
        cr_expect_str_eq(buf, cases[i].want, "%lld/%lld at %d: got %s, want %s", cases[i].num, cases[i].den,
                         cases[i].places, buf, cases[i].want);
    }
}
