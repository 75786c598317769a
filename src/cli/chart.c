/*
 * chart.c — a report drawn as a chart (see chart.h): Cairo for SVG and PNG
 * files, Unicode blocks for terminals.
 *
 *   +--------------------------------------------------------------+
 *   | title                                                        |
 *   |  y ticks | plot: grid, lines / stacked areas / bars | legend |
 *   |          | x labels (period labels)                |        |
 *   +--------------------------------------------------------------+
 *
 * Axes, grid and text are greys (r = g = b); only series use the palette's
 * colours, so a reader (or a test) can tell series apart by colour alone.
 */
#include "chart.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned chart_palette[CHART_MAX_SERIES] = {
    0x332288, 0x88CCEE, 0x44AA99, 0x117733, 0x999933, 0xDDCC77, 0xCC6677, 0x882255, 0xAA4499,
};

#define TEXT 0x333333
#define AXIS 0x888888
#define GRID 0xE0E0E0

static void colour(cairo_t *cr, unsigned rgb)
{
    cairo_set_source_rgb(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0,
                         (rgb & 255) / 255.0);
}

/* A step of 1, 2 or 5 × 10^k giving about `n` ticks up to max. */
static double nice_step(double max, int n)
{
    double raw = max / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void tick_text(double v, double step, char *buf, size_t cap)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e6 && step >= 1e5)
        snprintf(buf, cap, "%.*fM", step >= 1e6 ? 0 : 1, v / 1e6);
    else if (fabs(v) >= 1e3 && step >= 100)
        snprintf(buf, cap, "%.*fk", step >= 1e3 ? 0 : 1, v / 1e3);
    else
        snprintf(buf, cap, "%.*f", dec > 9 ? 9 : dec, v);
}

static double text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* s cut to fit w pixels, with an ellipsis, into buf. */
static const char *fit(cairo_t *cr, const char *s, double w, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", s);
    size_t n = strlen(buf);
    while (n > 1 && text_width(cr, buf) > w) {
        do
            n--;
        while (n > 1 && (buf[n] & 0xC0) == 0x80); /* whole UTF-8 characters */
        snprintf(buf + n, cap - n, "…");
    }
    return buf;
}

/* The largest value to draw: stacked sums for areas, totals for bars. */
static double max_value(const chart *c)
{
    double max = 0;
    if (c->style == CHART_BAR) {
        for (size_t s = 0; s < c->nseries; s++)
            if (c->series[s].total > max)
                max = c->series[s].total;
        return max;
    }
    for (size_t i = 0; i < c->npoints; i++) {
        double sum = 0;
        for (size_t s = 0; s < c->nseries; s++) {
            double v = c->series[s].v[i];
            if (isnan(v))
                continue;
            if (c->style == CHART_AREA)
                sum += v;
            else if (v > sum)
                sum = v;
        }
        if (sum > max)
            max = sum;
    }
    return max;
}

static void draw_legend(cairo_t *cr, const chart *c, double x, double y, double w)
{
    char buf[256];
    cairo_set_font_size(cr, 12);
    for (size_t s = 0; s < c->nseries; s++, y += 34) {
        colour(cr, chart_palette[s % CHART_MAX_SERIES]);
        cairo_rectangle(cr, x, y, 12, 12);
        cairo_fill(cr);
        colour(cr, TEXT);
        cairo_move_to(cr, x + 18, y + 11);
        cairo_show_text(cr, fit(cr, c->series[s].name, w - 18, buf, sizeof buf));
        colour(cr, AXIS);
        cairo_move_to(cr, x + 18, y + 26);
        cairo_show_text(cr, fit(cr, c->series[s].total_text, w - 18, buf, sizeof buf));
    }
    if (c->more) {
        colour(cr, AXIS);
        snprintf(buf, sizeof buf, "+%zu more (not drawn)", c->more);
        cairo_move_to(cr, x, y + 11);
        cairo_show_text(cr, buf);
    }
}

/* The y axis (ticks, grid, its label) for 0..max over the plot box. */
static double draw_y_axis(cairo_t *cr, const chart *c, double x0, double y0, double pw, double ph)
{
    double max = max_value(c);
    if (!(max > 0))
        max = 1;
    double step = nice_step(max, 5), top = ceil(max / step - 1e-9) * step;
    char buf[64];
    cairo_set_font_size(cr, 11);
    cairo_set_line_width(cr, 1);
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = y0 + ph - v / top * ph;
        colour(cr, GRID);
        cairo_move_to(cr, x0, floor(y) + 0.5);
        cairo_line_to(cr, x0 + pw, floor(y) + 0.5);
        cairo_stroke(cr);
        tick_text(v, step, buf, sizeof buf);
        colour(cr, TEXT);
        cairo_move_to(cr, x0 - 6 - text_width(cr, buf), y + 4);
        cairo_show_text(cr, buf);
    }
    cairo_save(cr);
    cairo_move_to(cr, 16, y0 + ph / 2 + text_width(cr, c->metric) / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, c->metric);
    cairo_restore(cr);
    colour(cr, AXIS);
    cairo_move_to(cr, x0 + 0.5, y0);
    cairo_line_to(cr, x0 + 0.5, y0 + ph + 0.5);
    cairo_line_to(cr, x0 + pw, y0 + ph + 0.5);
    cairo_stroke(cr);
    return top;
}

static void draw_series(cairo_t *cr, const chart *c, double x0, double y0, double pw, double ph,
                        double top)
{
    size_t n = c->npoints;
    double dx = n > 1 ? pw / (double)(n - 1) : 0;
#define X(i) (x0 + (n > 1 ? (double)(i) * dx : pw / 2))
#define Y(v) (y0 + ph - (v) / top * ph)
    char buf[64];
    /* x labels: as many as fit side by side, always the first. */
    double gap = 0;
    cairo_set_font_size(cr, 11);
    for (size_t i = 0; i < n; i++)
        if (text_width(cr, c->labels[i]) + 16 > gap)
            gap = text_width(cr, c->labels[i]) + 16;
    size_t every = 1;
    while (n > 1 && (double)every * dx < gap)
        every++;
    colour(cr, TEXT);
    for (size_t i = 0; i < n; i++) {
        if (i % every)
            continue;
        snprintf(buf, sizeof buf, "%s", c->labels[i]);
        double w = text_width(cr, buf), x = X(i) - w / 2;
        if (x + w > x0 + pw + 40)
            x = x0 + pw + 40 - w;
        cairo_move_to(cr, x < 4 ? 4 : x, y0 + ph + 18);
        cairo_show_text(cr, buf);
    }
    if (c->style == CHART_AREA) {
        /* Stacked from the first series up; each band is base..base+v. */
        double *base = calloc(2 * n + 1, sizeof *base), *next = base + n;
        for (size_t s = 0; base && s < c->nseries; s++) {
            for (size_t i = 0; i < n; i++)
                next[i] = base[i] + (isnan(c->series[s].v[i]) ? 0 : c->series[s].v[i]);
            cairo_move_to(cr, X(0), Y(next[0]));
            for (size_t i = 1; i < n; i++)
                cairo_line_to(cr, X(i), Y(next[i]));
            for (size_t i = n; i-- > 0;)
                cairo_line_to(cr, X(i), Y(base[i]));
            cairo_close_path(cr);
            colour(cr, chart_palette[s % CHART_MAX_SERIES]);
            cairo_fill(cr);
            memcpy(base, next, n * sizeof *base);
        }
        free(base);
        return;
    }
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t s = 0; s < c->nseries; s++) {
        colour(cr, chart_palette[s % CHART_MAX_SERIES]);
        int pen = 0;
        for (size_t i = 0; i < n; i++) {
            double v = c->series[s].v[i];
            if (isnan(v)) {
                pen = 0;
                continue;
            }
            int alone = (i == 0 || isnan(c->series[s].v[i - 1])) &&
                        (i + 1 == n || isnan(c->series[s].v[i + 1]));
            if (alone) { /* a point with no neighbour: a dot */
                cairo_new_sub_path(cr);
                cairo_arc(cr, X(i), Y(v), 3, 0, 2 * M_PI);
                pen = 0;
            } else if (pen) {
                cairo_line_to(cr, X(i), Y(v));
            } else {
                cairo_move_to(cr, X(i), Y(v));
                pen = 1;
            }
        }
        cairo_stroke(cr);
    }
#undef X
#undef Y
}

static void draw_bars(cairo_t *cr, const chart *c, double x0, double y0, double pw, double ph,
                      double top)
{
    double slot = ph / (double)(c->nseries ? c->nseries : 1), bh = slot * 0.7;
    char buf[256];
    cairo_set_font_size(cr, 12);
    for (size_t s = 0; s < c->nseries; s++) {
        double y = y0 + (double)s * slot + (slot - bh) / 2, v = c->series[s].total;
        double w = isnan(v) || v < 0 ? 0 : v / top * pw;
        colour(cr, chart_palette[s % CHART_MAX_SERIES]);
        cairo_rectangle(cr, x0, y, w, bh);
        cairo_fill(cr);
        colour(cr, TEXT);
        fit(cr, c->series[s].name, x0 - 12, buf, sizeof buf);
        cairo_move_to(cr, x0 - 6 - text_width(cr, buf), y + bh / 2 + 4);
        cairo_show_text(cr, buf);
        cairo_move_to(cr, x0 + w + 6, y + bh / 2 + 4);
        cairo_show_text(cr, c->series[s].total_text);
    }
}

/* The x axis of a bar chart (values run left to right). */
static double draw_x_axis(cairo_t *cr, const chart *c, double x0, double y0, double pw, double ph)
{
    double max = max_value(c);
    if (!(max > 0))
        max = 1;
    double step = nice_step(max * 1.15, 5), top = ceil(max * 1.15 / step - 1e-9) * step;
    char buf[64];
    cairo_set_font_size(cr, 11);
    cairo_set_line_width(cr, 1);
    for (double v = 0; v <= top + step / 2; v += step) {
        double x = floor(x0 + v / top * pw) + 0.5;
        colour(cr, GRID);
        cairo_move_to(cr, x, y0);
        cairo_line_to(cr, x, y0 + ph);
        cairo_stroke(cr);
        tick_text(v, step, buf, sizeof buf);
        colour(cr, TEXT);
        cairo_move_to(cr, x - text_width(cr, buf) / 2, y0 + ph + 16);
        cairo_show_text(cr, buf);
    }
    cairo_move_to(cr, x0 + pw / 2 - text_width(cr, c->metric) / 2, y0 + ph + 34);
    cairo_show_text(cr, c->metric);
    colour(cr, AXIS);
    cairo_move_to(cr, x0 + 0.5, y0);
    cairo_line_to(cr, x0 + 0.5, y0 + ph + 0.5);
    cairo_stroke(cr);
    return top;
}

static void draw(cairo_t *cr, const chart *c)
{
    double W = c->width, H = c->height;
    colour(cr, 0xFFFFFF);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 15);
    colour(cr, TEXT);
    cairo_move_to(cr, 16, 26);
    cairo_show_text(cr, c->title);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    if (c->style == CHART_BAR) {
        double label = 0;
        cairo_set_font_size(cr, 12);
        for (size_t s = 0; s < c->nseries; s++)
            if (text_width(cr, c->series[s].name) > label)
                label = text_width(cr, c->series[s].name);
        double x0 = 16 + (label < W * 0.3 ? label : W * 0.3) + 12, y0 = 48;
        double pw = W - x0 - 100, ph = H - y0 - 50;
        double top = draw_x_axis(cr, c, x0, y0, pw, ph);
        draw_bars(cr, c, x0, y0, pw, ph, top);
        return;
    }
    double legend = W >= 480 ? 190 : 0;
    double x0 = 72, y0 = 48, pw = W - x0 - legend - 36, ph = H - y0 - 40;
    double top = draw_y_axis(cr, c, x0, y0, pw, ph);
    draw_series(cr, c, x0, y0, pw, ph, top);
    if (legend)
        draw_legend(cr, c, W - legend, y0, legend - 12);
}

int chart_file(const chart *c, const char *path, int png, char *err, size_t errlen)
{
    cairo_surface_t *sf = png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, c->width, c->height)
                              : cairo_svg_surface_create(path, c->width, c->height);
    cairo_t *cr = cairo_create(sf);
    draw(cr, c);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && png)
        st = cairo_surface_write_to_png(sf, path);
    cairo_surface_finish(sf);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(sf);
    cairo_surface_destroy(sf);
    /* Cairo's and fontconfig's font caches, freed so a leak checker sees
     * only our own memory (one chart per run: nothing is lost). */
    cairo_debug_reset_static_data();
    FcFini();
    if (st == CAIRO_STATUS_SUCCESS)
        return 0;
    snprintf(err, errlen, "%s: %s", path, cairo_status_to_string(st));
    return -1;
}

/* ---- the terminal ---- */

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s & 0xC0) != 0x80;
    return n;
}

/* Prints s in exactly w columns (cut with "…", or padded). */
static void put_cell(FILE *f, const char *s, size_t w, int ascii)
{
    size_t n = utf8_len(s), cols = 0;
    for (const char *p = s; *p; p++) {
        if ((*p & 0xC0) != 0x80 && n > w && cols + 1 == w) {
            fputs(ascii ? "~" : "…", f);
            cols++;
            break;
        }
        if ((*p & 0xC0) != 0x80 && cols++ == w)
            break;
        fputc(*p, f);
    }
    for (; cols < w; cols++)
        fputc(' ', f);
}

void chart_term(const chart *c, FILE *f, int ascii, int cols)
{
    static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    static const char steps[] = ".:-=+*#@";
    size_t name_w = 4, total_w = 0;
    for (size_t s = 0; s < c->nseries; s++) {
        size_t n = utf8_len(c->series[s].name), t = strlen(c->series[s].total_text);
        name_w = n > name_w ? n : name_w;
        total_w = t > total_w ? t : total_w;
    }
    if (name_w > 24)
        name_w = 24;
    size_t room = cols > (int)(name_w + total_w + 6) ? (size_t)cols - name_w - total_w - 4 : 10;
    fprintf(f, "%s\n", c->title);
    double max = max_value(c);
    if (c->style == CHART_BAR) {
        if (room > 50)
            room = 50;
        for (size_t s = 0; s < c->nseries; s++) {
            double v = c->series[s].total, len = max > 0 && v > 0 ? v / max * (double)room : 0;
            size_t whole = (size_t)len, part = (size_t)((len - (double)whole) * 8);
            put_cell(f, c->series[s].name, name_w, ascii);
            fputs("  ", f);
            for (size_t i = 0; i < whole; i++)
                fputs(ascii ? "#" : "█", f);
            if (part && !ascii)
                fputs(eighths[part], f);
            fprintf(f, "%*s  %s\n", (int)(room - whole - (part && !ascii)), "", c->series[s].total_text);
        }
    } else {
        /* Columns: k points each (summed when additive, else the largest). */
        size_t k = (c->npoints + room - 1) / (room ? room : 1), ncol = 0;
        if (k == 0)
            k = 1;
        ncol = (c->npoints + k - 1) / k;
        double colmax = 0, *colv = calloc(ncol + 1, sizeof *colv);
        for (int pass = 0; colv && pass < 2; pass++)
            for (size_t s = 0; s < c->nseries; s++) {
                for (size_t j = 0; j < ncol; j++) {
                    double v = NAN;
                    for (size_t i = j * k; i < (j + 1) * k && i < c->npoints; i++) {
                        double x = c->series[s].v[i];
                        if (isnan(x))
                            continue;
                        v = isnan(v) ? x : c->additive ? v + x : x > v ? x : v;
                    }
                    colv[j] = v;
                    if (!isnan(v) && v > colmax)
                        colmax = v;
                }
                if (pass == 0)
                    continue;
                put_cell(f, c->series[s].name, name_w, ascii);
                fputs("  ", f);
                for (size_t j = 0; j < ncol; j++) {
                    double v = colv[j];
                    if (isnan(v) || v <= 0 || colmax <= 0) {
                        fputc(' ', f);
                        continue;
                    }
                    int lv = (int)ceil(v / colmax * 8 - 1e-9);
                    lv = lv < 1 ? 1 : lv > 8 ? 8 : lv;
                    if (ascii)
                        fputc(steps[lv - 1], f);
                    else
                        fputs(blocks[lv - 1], f);
                }
                fprintf(f, "  %s\n", c->series[s].total_text);
            }
        free(colv);
        if (c->npoints) {
            char peak[64];
            snprintf(peak, sizeof peak, "%.6g", colmax);
            fprintf(f, "%*s  %s … %s  (one scale: full block = %s%s)\n", (int)name_w, "",
                    c->labels[0], c->labels[c->npoints - 1], peak,
                    k > 1 ? (c->additive ? ", a column sums several periods"
                                         : ", a column shows the largest of several periods")
                          : "");
        }
    }
    if (c->more)
        fprintf(f, "+%zu more not shown\n", c->more);
}
