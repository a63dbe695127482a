/*
 * secret.c - creating and reading the JWT secret file (see secret.h).
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoding.h"
#include "log.h"
#include "token.h"

#define SECRET_FILE_MAX 4096

/* Writes a fresh secret into a new file.  Returns 0, 1 if the file already
 * existed (another process may have won the race), or -1. */
static int create_secret_file(const char *path, char *err, size_t errlen)
{
    unsigned char raw[32];
    char hex[2 * sizeof raw + 2];
    int fd;
    ssize_t n;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 1;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (RAND_bytes(raw, sizeof raw) != 1) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "RAND_bytes failed");
        return -1;
    }
    hex_encode(raw, sizeof raw, hex);
    OPENSSL_cleanse(raw, sizeof raw);
    hex[2 * sizeof raw] = '\n';
    hex[2 * sizeof raw + 1] = '\0';
    n = write(fd, hex, 2 * sizeof raw + 1);
    OPENSSL_cleanse(hex, sizeof hex);
    if (n != (ssize_t)(2 * sizeof raw + 1) || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int secret_load_or_create(const char *path, unsigned char **out, size_t *len,
                          char *err, size_t errlen)
{
    unsigned char *buf;
    struct stat st;
    size_t n = 0;
    ssize_t got;
    int fd;

    *out = NULL;
    *len = 0;
    if (create_secret_file(path, err, errlen) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        api_log("warning: %s is readable by group or others", path);
    buf = malloc(SECRET_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (n < SECRET_FILE_MAX &&
           (got = read(fd, buf + n, SECRET_FILE_MAX - n)) > 0)
        n += (size_t)got;
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n < TOKEN_MIN_SECRET_BYTES || n == SECRET_FILE_MAX) {
        secret_free(buf, SECRET_FILE_MAX);
        snprintf(err, errlen, "%s must hold 32 to %d bytes of secret", path,
                 SECRET_FILE_MAX - 1);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

void secret_free(unsigned char *secret, size_t len)
{
    if (secret == NULL)
        return;
    OPENSSL_cleanse(secret, len);
    free(secret);
}
