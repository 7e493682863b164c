/* base64url without padding (RFC 4648 §5, as JOSE uses it) and standard base64 (for HTTP Basic). */
#ifndef VK_BASE_B64URL_H
#define VK_BASE_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

/* Length of the unpadded base64url encoding of n bytes. */
size_t vk_b64url_enc_len(size_t n);
/* Writes the encoding of in[0..n) to out (vk_b64url_enc_len(n) bytes + NUL). */
void vk_b64url_encode(const uint8_t *in, size_t n, char *out);
/* Decodes unpadded base64url strictly: rejects '=', '+', '/', whitespace, a length of 4k+1
 * and non-zero trailing bits. out must hold in.len*3/4 bytes. */
int vk_b64url_decode(vk_str in, uint8_t *out, size_t outsz, size_t *outlen);
/* Decodes standard base64 with padding (RFC 4648 §4), strictly. */
int vk_b64_decode(vk_str in, uint8_t *out, size_t outsz, size_t *outlen);

#endif
