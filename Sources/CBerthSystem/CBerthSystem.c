// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set.
#define _GNU_SOURCE
#include "CBerthSystem.h"
#include <fcntl.h>

int cberth_start_writeback(int fd, int64_t offset, int64_t length) {
#ifdef __linux__
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}
