/*
 * adduser.c - the adduser command (see adduser.h).
 */
#include "adduser.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "password.h"
#include "uuid.h"
#include "validate.h"

long password_read_line(FILE *in, char *buf, size_t bufsize)
{
    size_t n = 0;
    int c;

    while ((c = getc(in)) != EOF && c != '\n') {
        if (c == '\0' || n + 1 >= bufsize) {
            OPENSSL_cleanse(buf, bufsize);
            return -1;
        }
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return -1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (long)n;
}

int adduser_run(const api_config *cfg)
{
    char password[PASSWORD_MAX + 2], hash[PASSWORD_HASH_STR_MAX];
    char id[UUID_STR_LEN + 1];
    const char *env = getenv("PARLEY_NEW_PASSWORD");
    const char *role = cfg->role != NULL ? cfg->role : "user";
    const char *display =
        cfg->display_name != NULL ? cfg->display_name : cfg->username;
    user_role parsed_role;
    db_conn *db = NULL;
    PGresult *res = NULL;
    long plen;
    int rc = -1;

    if (!username_valid(cfg->username, strlen(cfg->username))) {
        fprintf(stderr,
                "parley-api: username must match [A-Za-z0-9_.-]{3,32}\n");
        return -1;
    }
    if (user_role_parse(role, &parsed_role) != 0) {
        fprintf(stderr, "parley-api: role must be user, admin or device\n");
        return -1;
    }
    if (!text_label_valid(display, strlen(display), DISPLAY_NAME_MAX)) {
        fprintf(stderr, "parley-api: display name must be 1 to 64 printable "
                        "characters\n");
        return -1;
    }
    if (env != NULL) {
        plen = (long)strlen(env);
        if (plen > PASSWORD_MAX) {
            fprintf(stderr, "parley-api: password must be 8 to 1024 bytes\n");
            return -1;
        }
        memcpy(password, env, (size_t)plen + 1);
    } else {
        plen = password_read_line(stdin, password, sizeof password);
    }
    if (plen < 0 || !password_valid(password, (size_t)plen)) {
        fprintf(stderr, "parley-api: password must be 8 to 1024 bytes\n");
        goto done;
    }
    if (password_hash(password, (size_t)plen, hash) != 0 ||
        uuid_generate(id) != 0) {
        fprintf(stderr, "parley-api: hashing the password failed\n");
        goto done;
    }
    db = db_conn_open(cfg->database_url);
    if (db == NULL)
        goto done;
    res = DB_EXEC(db, STMT_USER_UPSERT, id, cfg->username, display, role, hash,
                  cfg->display_name != NULL ? "true" : "false");
    if (res == NULL || PQntuples(res) != 1) {
        fprintf(stderr, "parley-api: storing the user failed\n");
        goto done;
    }
    printf("%s user %s (%s, role %s)\n",
           PQgetvalue(res, 0, 1)[0] == 't' ? "created" : "updated",
           cfg->username, PQgetvalue(res, 0, 0), role);
    rc = 0;
done:
    OPENSSL_cleanse(password, sizeof password);
    OPENSSL_cleanse(hash, sizeof hash);
    PQclear(res);
    db_conn_close(db);
    return rc;
}
