/* Counters as JSON (the format in docs/vfw.md): per port, per rule, the default action,
 * drop reasons, neighbours and the startup timeline. */
#ifndef VFW_STATS_H
#define VFW_STATS_H

#include "app.h"

/* to cfg->stats_file (atomically: temp file, fsync, rename) or stdout; 0 or -1 */
int vfw_stats_write(const struct vfw_app *app);
/* the ready file: written once both links are up */
int vfw_write_file_atomic(const char *path, const char *text, size_t len);

#endif
