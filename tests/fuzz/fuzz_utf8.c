/*
 * fuzz_utf8.c - libFuzzer target for common/utf8.c.
 *
 * utf8_valid must agree with the harness's table-driven validator (Unicode
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF, no
 * truncated sequence, and no NUL) on every input, and for valid input
 * utf8_length must count the code points the validator decoded.  The input
 * is passed in an exact-size buffer, so any read past n is an ASan error.
 */
#include "common/utf8.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size > 0 ? size : 1);
    size_t chars = 0;
    bool ok, ref;

    FUZZ_CHECK(buf != NULL);
    if (size > 0)
        memcpy(buf, data, size);
    ok = utf8_valid(buf, size);
    ref = ref_utf8_valid(buf, size, &chars);
    FUZZ_CHECK(ok == ref);
    if (ok)
        FUZZ_CHECK(utf8_length(buf, size) == chars);
    /* Every prefix that ends on a character boundary is valid too. */
    if (ok && size > 0) {
        size_t cut = size - 1;
        while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
            cut--;
        FUZZ_CHECK(utf8_valid(buf, cut));
    }
    free(buf);
    return 0;
}
