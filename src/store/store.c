#include "store/store.h"

#include <string.h>

int vk_store_open(const char *dsn, struct vk_store **out, struct vk_err *err)
{
    *out = NULL;
    if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
        return vk_err_set(err, VK_EINVAL, "the PostgreSQL back end is not built yet");
    return vk_store_sqlite.open(dsn, out, err);
}

void vk_store_close(struct vk_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}
