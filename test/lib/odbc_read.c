/*
 * odbc_read CONNECTION-STRING QUERY: runs QUERY through an ODBC driver (unixODBC) and prints
 * what a BI tool would see: a line "#name<TAB>type<TAB>size<TAB>digits" per column (the SQL
 * type SQLDescribeCol reports), then one line per row, the values separated by tabs, read as
 * the column's type (numbers as text, dates and timestamps as their structs, bits as
 * true/false), NULL as \N, and backslash, tab and newline escaped. Used by test/tap/bi_drivers.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sql.h>
#include <sqlext.h>

static void
fail(const char *what, SQLSMALLINT kind, SQLHANDLE handle)
{
    SQLCHAR state[6], text[512];
    SQLINTEGER native;
    SQLSMALLINT len;

    fprintf(stderr, "odbc_read: %s failed", what);
    if (SQLGetDiagRec(kind, handle, 1, state, &native, text, sizeof text, &len) == SQL_SUCCESS)
        fprintf(stderr, ": %s %s", state, text);
    fprintf(stderr, "\n");
    exit(1);
}

static const char *
type_name(SQLSMALLINT t)
{
    switch (t)
    {
        case SQL_CHAR: return "CHAR";
        case SQL_VARCHAR: return "VARCHAR";
        case SQL_LONGVARCHAR: return "LONGVARCHAR";
        case SQL_WCHAR: return "WCHAR";
        case SQL_WVARCHAR: return "WVARCHAR";
        case SQL_WLONGVARCHAR: return "WLONGVARCHAR";
        case SQL_DECIMAL: return "DECIMAL";
        case SQL_NUMERIC: return "NUMERIC";
        case SQL_SMALLINT: return "SMALLINT";
        case SQL_INTEGER: return "INTEGER";
        case SQL_BIGINT: return "BIGINT";
        case SQL_REAL: return "REAL";
        case SQL_FLOAT: return "FLOAT";
        case SQL_DOUBLE: return "DOUBLE";
        case SQL_BIT: return "BIT";
        case SQL_TYPE_DATE: return "DATE";
        case SQL_TYPE_TIMESTAMP: return "TIMESTAMP";
        default: return NULL;
    }
}

static void
put_escaped(const char *s)
{
    for (; *s; s++)
    {
        if (*s == '\\') fputs("\\\\", stdout);
        else if (*s == '\t') fputs("\\t", stdout);
        else if (*s == '\n') fputs("\\n", stdout);
        else putchar(*s);
    }
}

/* put_utf16: a NUL-terminated UTF-16 string as UTF-8, escaped as put_escaped does. */
static void
put_utf16(const SQLWCHAR *w)
{
    char out[8];

    for (; *w; w++)
    {
        unsigned long cp = *w;

        if (cp >= 0xD800 && cp < 0xDC00 && w[1] >= 0xDC00 && w[1] < 0xE000)
        {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (w[1] - 0xDC00);
            w++;
        }
        if (cp < 0x80)
        {
            out[0] = (char) cp;
            out[1] = 0;
            put_escaped(out);
            continue;
        }
        if (cp < 0x800)
            printf("%c%c", (int) (0xC0 | (cp >> 6)), (int) (0x80 | (cp & 0x3F)));
        else if (cp < 0x10000)
            printf("%c%c%c", (int) (0xE0 | (cp >> 12)), (int) (0x80 | ((cp >> 6) & 0x3F)), (int) (0x80 | (cp & 0x3F)));
        else
            printf("%c%c%c%c", (int) (0xF0 | (cp >> 18)), (int) (0x80 | ((cp >> 12) & 0x3F)),
                   (int) (0x80 | ((cp >> 6) & 0x3F)), (int) (0x80 | (cp & 0x3F)));
    }
}

/* print_value: column c of the current row, read as its type. */
static void
print_value(SQLHSTMT st, SQLUSMALLINT c, SQLSMALLINT type)
{
    SQLLEN ind;
    SQLRETURN rc;

    if (type == SQL_TYPE_DATE)
    {
        SQL_DATE_STRUCT d;
        if (!SQL_SUCCEEDED(SQLGetData(st, c, SQL_C_TYPE_DATE, &d, sizeof d, &ind)))
            fail("SQLGetData (date)", SQL_HANDLE_STMT, st);
        if (ind == SQL_NULL_DATA) { fputs("\\N", stdout); return; }
        printf("%04d-%02d-%02d", d.year, d.month, d.day);
    }
    else if (type == SQL_TYPE_TIMESTAMP)
    {
        SQL_TIMESTAMP_STRUCT t;
        if (!SQL_SUCCEEDED(SQLGetData(st, c, SQL_C_TYPE_TIMESTAMP, &t, sizeof t, &ind)))
            fail("SQLGetData (timestamp)", SQL_HANDLE_STMT, st);
        if (ind == SQL_NULL_DATA) { fputs("\\N", stdout); return; }
        printf("%04d-%02d-%02d %02d:%02d:%02d", t.year, t.month, t.day, t.hour, t.minute, t.second);
        if (t.fraction) printf(".%06lu", (unsigned long) (t.fraction / 1000));
    }
    else if (type == SQL_BIT)
    {
        unsigned char b;
        if (!SQL_SUCCEEDED(SQLGetData(st, c, SQL_C_BIT, &b, sizeof b, &ind)))
            fail("SQLGetData (bit)", SQL_HANDLE_STMT, st);
        if (ind == SQL_NULL_DATA) { fputs("\\N", stdout); return; }
        fputs(b ? "true" : "false", stdout);
    }
    else if (type == SQL_WCHAR || type == SQL_WVARCHAR || type == SQL_WLONGVARCHAR)
    {
        /* Wide text, as BI tools on the Unicode driver read it: UTF-16, printed as UTF-8. */
        SQLWCHAR buf[2048];
        int first = 1;
        while ((rc = SQLGetData(st, c, SQL_C_WCHAR, buf, sizeof buf, &ind)) != SQL_NO_DATA)
        {
            if (!SQL_SUCCEEDED(rc))
                fail("SQLGetData (wide text)", SQL_HANDLE_STMT, st);
            if (first && ind == SQL_NULL_DATA) { fputs("\\N", stdout); return; }
            first = 0;
            put_utf16(buf);
            if (rc == SQL_SUCCESS)
                break;
        }
    }
    else
    {
        /* Numbers and narrow text as text, in pieces when long. */
        char buf[4096];
        int first = 1;
        while ((rc = SQLGetData(st, c, SQL_C_CHAR, buf, sizeof buf, &ind)) != SQL_NO_DATA)
        {
            if (!SQL_SUCCEEDED(rc))
                fail("SQLGetData (text)", SQL_HANDLE_STMT, st);
            if (first && ind == SQL_NULL_DATA) { fputs("\\N", stdout); return; }
            first = 0;
            put_escaped(buf);
            if (rc == SQL_SUCCESS)
                break;
        }
    }
}

int
main(int argc, char **argv)
{
    SQLHENV env;
    SQLHDBC dbc;
    SQLHSTMT st;
    SQLSMALLINT ncols, c;
    SQLSMALLINT *types;
    SQLRETURN rc;

    if (argc != 3)
    {
        fprintf(stderr, "usage: odbc_read CONNECTION-STRING QUERY\n");
        return 2;
    }
    SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
    SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER) SQL_OV_ODBC3, 0);
    SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
    rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *) argv[1], SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(rc))
        fail("SQLDriverConnect", SQL_HANDLE_DBC, dbc);
    SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
    if (!SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *) argv[2], SQL_NTS)))
        fail("SQLExecDirect", SQL_HANDLE_STMT, st);
    SQLNumResultCols(st, &ncols);
    types = calloc(ncols + 1, sizeof *types);
    for (c = 1; c <= ncols; c++)
    {
        SQLCHAR name[256];
        SQLSMALLINT len, digits, nullable;
        SQLULEN size;
        const char *tn;

        if (!SQL_SUCCEEDED(SQLDescribeCol(st, c, name, sizeof name, &len, &types[c], &size, &digits, &nullable)))
            fail("SQLDescribeCol", SQL_HANDLE_STMT, st);
        tn = type_name(types[c]);
        if (tn)
            printf("#%s\t%s\t%lu\t%d\n", name, tn, (unsigned long) size, digits);
        else
            printf("#%s\tSQL type %d\t%lu\t%d\n", name, types[c], (unsigned long) size, digits);
    }
    while ((rc = SQLFetch(st)) != SQL_NO_DATA)
    {
        if (!SQL_SUCCEEDED(rc))
            fail("SQLFetch", SQL_HANDLE_STMT, st);
        for (c = 1; c <= ncols; c++)
        {
            if (c > 1) putchar('\t');
            print_value(st, c, types[c]);
        }
        putchar('\n');
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    SQLDisconnect(dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    SQLFreeHandle(SQL_HANDLE_ENV, env);
    return 0;
}
