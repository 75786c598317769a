/*
 * test_text.c — table text: display width, cells cut with an ellipsis,
 * thousands separators, small costs.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/core/text.h"

Test(text, display_width)
{
    cr_expect_eq(tm__text_width(""), 0);
    cr_expect_eq(tm__text_width("gpt-4o"), 6);
    cr_expect_eq(tm__text_width("ünï"), 3);            /* 2-byte letters: one column each */
    cr_expect_eq(tm__text_width("u\xcc\x88"), 1);       /* u + combining diaeresis */
    cr_expect_eq(tm__text_width("模型"), 4);             /* wide */
    cr_expect_eq(tm__text_width("\xff" "a"), 2);         /* not UTF-8: a column a byte */
}

static const char *cell(const char *s, size_t w, int right)
{
    static tm_buf b = TM_BUF_INIT;
    tm__buf_reset(&b);
    cr_assert_eq(tm__buf_cell(&b, s, w, right), TM_OK);
    return b.data ? b.data : "";
}

Test(text, cells)
{
    cr_expect_str_eq(cell("abc", 5, 0), "abc  ");
    cr_expect_str_eq(cell("abc", 5, 1), "  abc");
    cr_expect_str_eq(cell("abcde", 5, 0), "abcde");       /* N: fits */
    cr_expect_str_eq(cell("abcdef", 5, 0), "abcd…");      /* N+1: cut */
    cr_expect_str_eq(cell("abcd", 5, 0), "abcd ");        /* N-1 */
    cr_expect_str_eq(cell("ünïcödé", 5, 0), "ünïc…");
    cr_expect_str_eq(cell("模型名称", 5, 0), "模型…");     /* 2+2+1 columns */
    cr_expect_str_eq(cell("模型名称", 6, 0), "模型… ");    /* a wide char never split */
    cr_expect_eq(tm__text_width(cell("модель-名前-long", 10, 0)), 10);
}

Test(text, counts_and_costs)
{
    char b[32], c[64];
    cr_expect_str_eq(tm__fmt_count(0, b), "0");
    cr_expect_str_eq(tm__fmt_count(999, b), "999");
    cr_expect_str_eq(tm__fmt_count(1000, b), "1,000");
    cr_expect_str_eq(tm__fmt_count(123456789, b), "123,456,789");
    cr_expect_str_eq(tm__fmt_count(-1234, b), "-1,234");
    cr_expect_str_eq(tm__fmt_cost(0, c), "0.0000");
    cr_expect_str_eq(tm__fmt_cost(6000000, c), "0.000006");          /* $0.000006 */
    cr_expect_str_eq(tm__fmt_cost(360000000, c), "0.00036");         /* $0.00036 */
    cr_expect_str_eq(tm__fmt_cost(1000000000, c), "0.0010");         /* $0.001: 4 places */
    cr_expect_str_eq(tm__fmt_cost(999999999, c), "0.0010");          /* just under, rounded */
    cr_expect_str_eq(tm__fmt_cost(13500000000, c), "0.0135");
    cr_expect_str_eq(tm__fmt_cost(1, c), "0.000000000001");          /* 1 pUSD: 12 places */
    cr_expect_str_eq(tm__fmt_cost(14125000000000, c), "14.1250");
}
