#include "store/store.h"

#include <string.h>

const struct vk_store_retention vk_store_retention_default = {
    .codes_after_expiry = 86400,
    .grants_after_expiry = 86400, /* the longest access-token lifetime (access_token_ttl <= 1 d) */
    .events_after_expiry = 3600,
    .max_events = 1000000,
};

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
