/* Figures outside their range; see figure_range.h. */
#include "figure_range.h"

#include <stdarg.h>
#include <stdio.h>

bool figure_in_range(double value, double max) {
  return value >= 0 && value <= max;
}

void figure_left_out(out_of_range_t *oor, const char *format, ...) {
  if (oor->count++ == 0) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(oor->first, sizeof(oor->first), format, ap);
    va_end(ap);
  }
}
