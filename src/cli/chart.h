/*
 * chart.h — drawing a report as a picture: an SVG or PNG file through
 * Cairo (chart_file), or Unicode blocks in a terminal (chart_term).
 * Only the tokmeter program links Cairo; the library never draws.
 *
 * A chart is series over points (periods), or, with no points, one bar per
 * series (the series' total). Values are doubles for drawing only: the
 * exact figures are the report's; NAN is "no value" (a gap).
 */
#ifndef TM_CLI_CHART_H
#define TM_CLI_CHART_H

#include <stddef.h>
#include <stdio.h>

enum { CHART_LINE, CHART_AREA, CHART_BAR };

#define CHART_MAX_SERIES 9  /* the palette's colours                        */
#define CHART_MAX_BARS 20

typedef struct chart_series {
    const char *name;       /* the group's values, joined by " / "          */
    double *v;              /* npoints values; NAN: none                     */
    double total;           /* over the range (bars draw this)               */
    const char *total_text; /* the total as shown in legends                 */
} chart_series;

typedef struct chart {
    const char *title;
    const char *metric;     /* the y axis                                    */
    const char **labels;    /* npoints period labels                         */
    size_t npoints;
    chart_series *series;
    size_t nseries;
    size_t more;            /* groups left out (only the largest are drawn)  */
    int style;              /* CHART_LINE, CHART_AREA or CHART_BAR           */
    int additive;           /* columns of several points may be summed       */
    int width, height;      /* pixels (points in SVG)                        */
} chart;

/* The palette (Paul Tol's "muted", safe for colour-blind readers) as
 * 0xRRGGBB; series i is drawn in chart_palette[i % CHART_MAX_SERIES]. */
extern const unsigned chart_palette[CHART_MAX_SERIES];

/* Draws c into path as SVG (png 0) or PNG (png 1). Returns 0, or -1 with
 * the reason in err. */
int chart_file(const chart *c, const char *path, int png, char *err, size_t errlen);

/* Draws c as text: a sparkline per series with its total (one scale for
 * all rows), or a bar per series; `cols` wide; plain ASCII when ascii. */
void chart_term(const chart *c, FILE *f, int ascii, int cols);

#endif
