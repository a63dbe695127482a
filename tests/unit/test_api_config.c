/*
 * test_api_config.c - unit tests for httpapi/config.c and the migration
 * file names of httpapi/migrate.c: defaults, environment, flags overriding
 * the environment, both flag spellings, numbers out of range or malformed,
 * options of another command, missing required options; and which file
 * names count as migrations; reading adduser's password line; the limits
 * against hostile clients (connections, login and registration budgets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "httpapi/adduser.h"
#include "httpapi/config.h"
#include "httpapi/migrate.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

static const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

static const char *test_env(const char *name)
{
    if (strcmp(name, "PARLEY_HTTP_ADDR") == 0)
        return "0.0.0.0";
    if (strcmp(name, "PARLEY_HTTP_PORT") == 0)
        return "9000";
    if (strcmp(name, "PARLEY_DATABASE_URL") == 0)
        return "postgresql://env/db";
    if (strcmp(name, "PARLEY_JWT_SECRET_FILE") == 0)
        return "/env/secret";
    return NULL;
}

static const char *bad_port_env(const char *name)
{
    return strcmp(name, "PARLEY_HTTP_PORT") == 0 ? "http" : test_env(name);
}

static void test_serve_defaults(void **state)
{
    char *argv[] = {"parley-api", "--database-url", "dbname=x",
                    "--jwt-secret-file", "/s"};
    api_config c;
    char err[256];

    (void)state;
    assert_int_equal(
        config_parse(&c, ARGC(argv), argv, no_env, err, sizeof err), 0);
    assert_int_equal(c.command, CMD_SERVE);
    assert_string_equal(c.listen_addr, "127.0.0.1");
    assert_int_equal(c.port, 18832);
    assert_string_equal(c.issuer, "parley");
    assert_string_equal(c.audience, "parley");
    assert_int_equal(c.access_ttl, 900);
    assert_int_equal(c.refresh_ttl, 30L * 24 * 3600);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.edit_window, 900);
    assert_int_equal(c.delete_window, 3600);
    assert_string_equal(c.database_url, "dbname=x");
    assert_string_equal(c.jwt_secret_file, "/s");
}

static void test_env_and_flags(void **state)
{
    char *only_env[] = {"parley-api", "serve"};
    char *flags[] = {"parley-api",   "serve",     "--port=8080",
                     "--listen",     "::1",       "--database-url",
                     "dbname=flag",  "--threads", "16",
                     "--access-ttl", "60",        "--refresh-ttl=3600",
                     "--issuer",     "me",        "--audience=you"};
    api_config c;
    char err[256];

    (void)state;
    assert_int_equal(
        config_parse(&c, ARGC(only_env), only_env, test_env, err, sizeof err),
        0);
    assert_string_equal(c.listen_addr, "0.0.0.0");
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.database_url, "postgresql://env/db");
    assert_string_equal(c.jwt_secret_file, "/env/secret");

    assert_int_equal(
        config_parse(&c, ARGC(flags), flags, test_env, err, sizeof err), 0);
    assert_string_equal(c.listen_addr, "::1");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.database_url, "dbname=flag");
    assert_string_equal(c.jwt_secret_file, "/env/secret");
    assert_int_equal(c.threads, 16);
    assert_int_equal(c.access_ttl, 60);
    assert_int_equal(c.refresh_ttl, 3600);
    assert_string_equal(c.issuer, "me");
    assert_string_equal(c.audience, "you");
}

static void expect_error(char **argv, int argc, config_env_fn env)
{
    api_config c;
    char err[256] = "";

    assert_int_equal(config_parse(&c, argc, argv, env, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
}

static void test_errors(void **state)
{
    char *unknown_cmd[] = {"parley-api", "frobnicate"};
    char *unknown_opt[] = {"parley-api", "--colour", "x"};
    char *no_value[] = {"parley-api", "--port"};
    char *port_big[] = {"parley-api", "--port", "65536"};
    char *port_neg[] = {"parley-api", "--port", "-1"};
    char *port_sign[] = {"parley-api", "--port", "+80"};
    char *port_zero_pad[] = {"parley-api", "--port", "080"};
    char *port_text[] = {"parley-api", "--port", "80x"};
    char *port_huge[] = {"parley-api", "--port", "99999999999999999999999"};
    char *port_empty[] = {"parley-api", "--port="};
    char *threads0[] = {"parley-api", "--threads", "0"};
    char *threads_big[] = {"parley-api", "--threads", "257"};
    char *ttl0[] = {"parley-api", "--access-ttl", "0"};
    char *empty_str[] = {"parley-api", "--issuer", ""};
    char *serve_opt_in_migrate[] = {"parley-api", "migrate",      "--port",
                                    "1",          "--schema-dir", "s"};
    char *migrate_opt_in_serve[] = {"parley-api", "--schema-dir", "s"};
    char *prefix[] = {"parley-api", "--data", "x"};

    (void)state;
    expect_error(unknown_cmd, ARGC(unknown_cmd), test_env);
    expect_error(unknown_opt, ARGC(unknown_opt), test_env);
    expect_error(no_value, ARGC(no_value), test_env);
    expect_error(port_big, ARGC(port_big), test_env);
    expect_error(port_neg, ARGC(port_neg), test_env);
    expect_error(port_sign, ARGC(port_sign), test_env);
    expect_error(port_zero_pad, ARGC(port_zero_pad), test_env);
    expect_error(port_text, ARGC(port_text), test_env);
    expect_error(port_huge, ARGC(port_huge), test_env);
    expect_error(port_empty, ARGC(port_empty), test_env);
    expect_error(threads0, ARGC(threads0), test_env);
    expect_error(threads_big, ARGC(threads_big), test_env);
    expect_error(ttl0, ARGC(ttl0), test_env);
    expect_error(empty_str, ARGC(empty_str), test_env);
    expect_error(serve_opt_in_migrate, ARGC(serve_opt_in_migrate), test_env);
    expect_error(migrate_opt_in_serve, ARGC(migrate_opt_in_serve), test_env);
    expect_error(prefix, ARGC(prefix), test_env);
    /* a bad environment value is an error too */
    {
        char *argv[] = {"parley-api"};
        expect_error(argv, 1, bad_port_env);
    }
}

static void test_message_windows(void **state)
{
    char *set[] = {"parley-api", "--edit-window", "2", "--delete-window=0"};
    char *max[] = {"parley-api", "--edit-window", "315360000",
                   "--delete-window", "315360000"};
    char *over[] = {"parley-api", "--edit-window", "315360001"};
    char *neg[] = {"parley-api", "--delete-window", "-1"};
    char *pad[] = {"parley-api", "--edit-window", "0900"};
    char *unit[] = {"parley-api", "--edit-window", "15m"};
    char *empty[] = {"parley-api", "--delete-window="};
    char *in_migrate[] = {"parley-api", "migrate",       "--schema-dir",
                          "s",          "--edit-window", "5"};
    api_config c;
    char err[256];

    (void)state;
    assert_int_equal(
        config_parse(&c, ARGC(set), set, test_env, err, sizeof err), 0);
    assert_int_equal(c.edit_window, 2);
    assert_int_equal(c.delete_window, 0); /* 0: authors may not delete */
    assert_int_equal(
        config_parse(&c, ARGC(max), max, test_env, err, sizeof err), 0);
    assert_int_equal(c.edit_window, MESSAGE_WINDOW_MAX);
    assert_int_equal(c.delete_window, MESSAGE_WINDOW_MAX);
    expect_error(over, ARGC(over), test_env);
    expect_error(neg, ARGC(neg), test_env);
    expect_error(pad, ARGC(pad), test_env);
    expect_error(unit, ARGC(unit), test_env);
    expect_error(empty, ARGC(empty), test_env);
    expect_error(in_migrate, ARGC(in_migrate), test_env);
    assert_non_null(strstr(config_usage(), "--edit-window"));
    assert_non_null(strstr(config_usage(), "--delete-window"));
}

static void test_hostile_client_limits(void **state)
{
    char *defaults[] = {"parley-api"};
    char *set[] = {"parley-api",
                   "--connection-timeout",
                   "2",
                   "--max-connections=20",
                   "--per-ip-connections",
                   "0",
                   "--login-pair-burst",
                   "2",
                   "--login-pair-per-hour",
                   "3600000",
                   "--login-address-burst",
                   "0",
                   "--login-address-per-hour",
                   "1",
                   "--login-user-burst",
                   "7",
                   "--login-user-per-hour",
                   "8",
                   "--register-burst",
                   "9",
                   "--register-per-hour",
                   "10",
                   "--throttle-entries",
                   "64"};
    char *bad[][3] = {
        {"parley-api", "--connection-timeout", "0"},
        {"parley-api", "--connection-timeout", "3601"},
        {"parley-api", "--max-connections", "0"},
        {"parley-api", "--per-ip-connections", "-1"},
        {"parley-api", "--login-pair-burst", "x"},
        {"parley-api", "--login-pair-per-hour", "0"},
        {"parley-api", "--login-user-per-hour", "3600001"},
        {"parley-api", "--register-per-hour", "0"},
        {"parley-api", "--throttle-entries", "63"},
    };
    char *in_migrate[] = {"parley-api",         "migrate", "--schema-dir", "s",
                          "--login-pair-burst", "1"};
    api_config c;
    char err[256];

    (void)state;
    assert_int_equal(
        config_parse(&c, ARGC(defaults), defaults, test_env, err, sizeof err),
        0);
    assert_int_equal(c.connection_timeout, 30);
    assert_int_equal(c.max_connections, 1000);
    assert_int_equal(c.per_ip_connections, 64);
    assert_int_equal(c.login_pair_burst, 5);
    assert_int_equal(c.login_pair_per_hour, 60);
    assert_int_equal(c.login_address_burst, 30);
    assert_int_equal(c.login_address_per_hour, 180);
    assert_int_equal(c.login_user_burst, 50);
    assert_int_equal(c.login_user_per_hour, 120);
    assert_int_equal(c.register_burst, 300);
    assert_int_equal(c.register_per_hour, 7200);
    assert_int_equal(c.throttle_entries, 32768);
    assert_int_equal(
        config_parse(&c, ARGC(set), set, test_env, err, sizeof err), 0);
    assert_int_equal(c.connection_timeout, 2);
    assert_int_equal(c.max_connections, 20);
    assert_int_equal(c.per_ip_connections, 0);
    assert_int_equal(c.login_pair_burst, 2);
    assert_int_equal(c.login_pair_per_hour, 3600000);
    assert_int_equal(c.login_address_burst, 0);
    assert_int_equal(c.login_address_per_hour, 1);
    assert_int_equal(c.login_user_burst, 7);
    assert_int_equal(c.login_user_per_hour, 8);
    assert_int_equal(c.register_burst, 9);
    assert_int_equal(c.register_per_hour, 10);
    assert_int_equal(c.throttle_entries, 64);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], 3, test_env);
    expect_error(in_migrate, ARGC(in_migrate), test_env);
    for (size_t i = 1; i < ARGC(set); i++) {
        char flag[64];
        if (strncmp(set[i], "--", 2) != 0)
            continue;
        snprintf(flag, sizeof flag, "%.*s", (int)strcspn(set[i], "="), set[i]);
        assert_non_null(strstr(config_usage(), flag));
    }
}

static void test_required(void **state)
{
    char *serve_no_db[] = {"parley-api", "--jwt-secret-file", "/s"};
    char *serve_no_secret[] = {"parley-api", "--database-url", "x"};
    char *migrate_no_dir[] = {"parley-api", "migrate", "--database-url", "x"};
    char *adduser_no_name[] = {"parley-api", "adduser", "--database-url", "x"};

    (void)state;
    expect_error(serve_no_db, ARGC(serve_no_db), no_env);
    expect_error(serve_no_secret, ARGC(serve_no_secret), no_env);
    expect_error(migrate_no_dir, ARGC(migrate_no_dir), no_env);
    expect_error(adduser_no_name, ARGC(adduser_no_name), no_env);
}

static void test_other_commands(void **state)
{
    char *migrate[] = {"parley-api", "migrate",      "--database-url",
                       "x",          "--schema-dir", "schema"};
    char *adduser[] = {"parley-api",     "adduser",  "--database-url", "x",
                       "--username",     "admin",    "--role",         "admin",
                       "--display-name", "The Admin"};
    char *help[] = {"parley-api", "--help"};
    char *help_cmd[] = {"parley-api", "help"};
    api_config c;
    char err[256];

    (void)state;
    assert_int_equal(
        config_parse(&c, ARGC(migrate), migrate, no_env, err, sizeof err), 0);
    assert_int_equal(c.command, CMD_MIGRATE);
    assert_string_equal(c.schema_dir, "schema");
    assert_int_equal(
        config_parse(&c, ARGC(adduser), adduser, no_env, err, sizeof err), 0);
    assert_int_equal(c.command, CMD_ADDUSER);
    assert_string_equal(c.username, "admin");
    assert_string_equal(c.role, "admin");
    assert_string_equal(c.display_name, "The Admin");
    assert_int_equal(
        config_parse(&c, ARGC(help), help, no_env, err, sizeof err), 0);
    assert_int_equal(c.command, CMD_HELP);
    assert_int_equal(
        config_parse(&c, ARGC(help_cmd), help_cmd, no_env, err, sizeof err), 0);
    assert_int_equal(c.command, CMD_HELP);
    assert_non_null(strstr(config_usage(), "migrate"));
}

static void test_migration_names(void **state)
{
    unsigned v = 0;

    (void)state;
    assert_int_equal(migration_parse_name("001_core.sql", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(migration_parse_name("003_live.sql", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(migration_parse_name("42_x.sql", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(migration_parse_name("999999999_max.sql", &v), 0);
    assert_int_equal(v, 999999999);

    assert_int_equal(migration_parse_name("README.md", &v), -1);
    assert_int_equal(migration_parse_name("001_core.sql~", &v), -1);
    assert_int_equal(migration_parse_name("001_core.SQL", &v), -1);
    assert_int_equal(migration_parse_name("001core.sql", &v), -1);
    assert_int_equal(migration_parse_name("001_.sql", &v), -1);
    assert_int_equal(migration_parse_name("_core.sql", &v), -1);
    assert_int_equal(migration_parse_name("000_zero.sql", &v), -1);
    assert_int_equal(migration_parse_name("1000000000_big.sql", &v), -1);
    assert_int_equal(migration_parse_name("99999999999999999999_x.sql", &v),
                     -1);
    assert_int_equal(migration_parse_name("-1_neg.sql", &v), -1);
    assert_int_equal(migration_parse_name("001_a/b.sql", &v), -1);
    assert_int_equal(migration_parse_name(".sql", &v), -1);
    assert_int_equal(migration_parse_name("", &v), -1);
    assert_int_equal(migration_parse_name(NULL, &v), -1);
}

static long read_line(const char *input, size_t len, char *buf, size_t size)
{
    FILE *f = fmemopen((void *)input, len, "r");
    long n;

    assert_non_null(f);
    n = password_read_line(f, buf, size);
    fclose(f);
    return n;
}

static void test_password_read_line(void **state)
{
    char buf[16];

    (void)state;
    assert_int_equal(read_line("secret\n", 7, buf, sizeof buf), 6);
    assert_string_equal(buf, "secret");
    assert_int_equal(read_line("secret\r\nmore\n", 14, buf, sizeof buf), 6);
    assert_string_equal(buf, "secret");
    assert_int_equal(read_line("no newline", 10, buf, sizeof buf), 10);
    assert_string_equal(buf, "no newline");
    assert_int_equal(read_line("with space \n", 12, buf, sizeof buf), 11);
    assert_string_equal(buf, "with space ");
    assert_int_equal(read_line("\n", 1, buf, sizeof buf), 0);
    assert_int_equal(read_line("", 0, buf, sizeof buf), -1);
    assert_int_equal(read_line("nul\0inside\n", 11, buf, sizeof buf), -1);
    /* 15 characters fit a 16-byte buffer, 16 do not */
    assert_int_equal(read_line("123456789012345\n", 16, buf, sizeof buf), 15);
    assert_int_equal(read_line("1234567890123456\n", 17, buf, sizeof buf), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_defaults),
        cmocka_unit_test(test_env_and_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_message_windows),
        cmocka_unit_test(test_hostile_client_limits),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_other_commands),
        cmocka_unit_test(test_migration_names),
        cmocka_unit_test(test_password_read_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
