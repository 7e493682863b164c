/* Parsing untrusted JSON with jansson, faithfully even when memory runs out.
 *
 * jansson (2.14, and its master as of this writing) keeps the text of the token being lexed in a
 * growable buffer, and its lex_save() ignores the result of appending to it: when growing that
 * buffer fails, the byte is silently dropped and parsing goes on. json_loadb can then succeed
 * with a document that is not the input -- a key "cnf" read as "cn", a date missing a digit. For
 * a verifier that would turn an allocation failure into a wrong decision (a DPoP-bound token
 * accepted as a bearer token), so every untrusted document is parsed as the second element of
 *     ["<n times x>", <document>]
 * where n is the length of the document's longest token (found by a scan that follows the
 * lexer's rules: a string runs from '"' to the next unescaped '"'; anything else runs to the
 * next structural character or whitespace). The lexer's buffer must grow to hold the first
 * string, and no token of the document is longer; so if the first string comes back with all
 * n characters, the buffer never had to grow again and no byte of the document can have been
 * lost. If it comes back shorter, an allocation failed: VK_ENOMEM, never a wrong document. (A
 * document the scan misjudges is not valid JSON, and jansson refuses it whatever it lost.) */
#include "jose/jose.h"

#include <string.h>

#include "base/crypto.h"
#include "base/limits.h"
#include "base/mem.h"

static json_t *parse_once(const char *w, size_t total, size_t n, int *rc)
{
    json_error_t jerr;
    json_t *arr, *pad, *doc = NULL;

    /* Duplicate member names are rejected: RFC 7515 §5.2 allows only that or last-wins, and two
     * parsers that disagree are an attack surface. NUL bytes and trailing data are rejected by
     * jansson's defaults. */
    arr = json_loadb(w, total, JSON_REJECT_DUPLICATES, &jerr);
    if (arr == NULL) {
        *rc = json_error_code(&jerr) == json_error_out_of_memory ? VK_ENOMEM : VK_EINVAL;
        return NULL;
    }
    pad = json_array_get(arr, 0);
    *rc = VK_EINVAL;
    if (!json_is_string(pad) || json_string_length(pad) != n) {
        *rc = VK_ENOMEM; /* the lexer lost bytes: see above */
    } else if (json_array_size(arr) == 2) {
        doc = json_incref(json_array_get(arr, 1));
        *rc = VK_OK;
    }
    json_decref(arr);
    return doc;
}

/* The length of the longest token of buf as jansson's lexer saves it (quotes included). */
static size_t longest_token(const char *buf, size_t n)
{
    size_t max = 0, start = 0;
    bool in_str = false, in_tok = false;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"') {
                in_str = false;
                if (i + 1 - start > max)
                    max = i + 1 - start;
            }
            continue;
        }
        bool boundary = c == '"' || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' ||
                        c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (in_tok && boundary) {
            in_tok = false;
            if (i - start > max)
                max = i - start;
        }
        if (c == '"') {
            in_str = true;
            start = i;
        } else if (!boundary && !in_tok) {
            in_tok = true;
            start = i;
        }
    }
    if (in_str || in_tok) /* runs to the end: as long as the rest */
        max = n - start > max ? n - start : max;
    return max;
}

json_t *vk_json_load(const char *buf, size_t n, int *rc)
{
    json_t *doc;
    size_t total, pad;
    char *w;

    if (buf == NULL || n > VK_MAX_JSON_INPUT) {
        *rc = buf == NULL ? VK_EINVAL : VK_ETOOBIG;
        return NULL;
    }
    pad = longest_token(buf, n);
    total = pad + n + 5; /* [ " pad " , doc ] */
    w = vk_malloc(total);
    if (w == NULL) {
        *rc = VK_ENOMEM;
        return NULL;
    }
    w[0] = '[';
    w[1] = '"';
    memset(w + 2, 'x', pad);
    w[2 + pad] = '"';
    w[3 + pad] = ',';
    if (n > 0)
        memcpy(w + 4 + pad, buf, n);
    w[4 + pad + n] = ']';
    doc = parse_once(w, total, pad, rc);
    /* jansson reports some allocation failures as syntax errors (a string it could not allocate
     * becomes an invalid token): a document refused as malformed is parsed once more, so a
     * transient failure does not turn a valid token into an invalid one. Real garbage fails
     * twice, at the cost of one more parse. */
    if (doc == NULL && *rc == VK_EINVAL)
        doc = parse_once(w, total, pad, rc);
    vk_wipe(w + 4 + pad, n); /* the document may be claims: personal data */
    vk_free(w);
    return doc;
}
