// JdbcRead URL QUERY: runs QUERY through the PostgreSQL JDBC driver and prints what a BI tool
// would see, in the format of odbc_read.c: a line "#name<TAB>type<TAB>precision<TAB>scale" per
// column (the java.sql.Types name ResultSetMetaData reports), then one line per row, the values
// separated by tabs, read as the column's type (decimals as plain strings, timestamps in UTC),
// NULL as \N, and backslash, tab and newline escaped. Used by test/tap/bi_drivers.sh.
import java.sql.*;
import java.text.SimpleDateFormat;
import java.util.TimeZone;

public class JdbcRead {
    static String typeName(int t) throws IllegalAccessException {
        for (java.lang.reflect.Field f : Types.class.getFields())
            if (f.getInt(null) == t) return f.getName();
        return "type " + t;
    }

    static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    static String value(ResultSet rs, int c, int type, SimpleDateFormat stamp) throws SQLException {
        String v;
        switch (type) {
            case Types.NUMERIC: case Types.DECIMAL: {
                java.math.BigDecimal d = rs.getBigDecimal(c);
                v = d == null ? null : d.toPlainString();
                break;
            }
            case Types.BIGINT: case Types.INTEGER: case Types.SMALLINT: {
                long n = rs.getLong(c);
                v = rs.wasNull() ? null : Long.toString(n);
                break;
            }
            case Types.BIT: case Types.BOOLEAN: {
                boolean b = rs.getBoolean(c);
                v = rs.wasNull() ? null : Boolean.toString(b);
                break;
            }
            case Types.DATE: {
                Date d = rs.getDate(c);
                v = d == null ? null : d.toString();
                break;
            }
            case Types.TIMESTAMP: case Types.TIMESTAMP_WITH_TIMEZONE: {
                Timestamp t = rs.getTimestamp(c);
                if (t == null) { v = null; break; }
                v = stamp.format(t);
                int micros = t.getNanos() / 1000;
                if (micros != 0) v += String.format(".%06d", micros);
                break;
            }
            default:
                v = rs.getString(c);
        }
        return v == null ? "\\N" : escape(v);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: JdbcRead URL QUERY");
            System.exit(2);
        }
        SimpleDateFormat stamp = new SimpleDateFormat("yyyy-MM-dd HH:mm:ss");
        stamp.setTimeZone(TimeZone.getTimeZone("UTC"));
        StringBuilder out = new StringBuilder();
        try (Connection conn = DriverManager.getConnection(args[0]);
             Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery(args[1])) {
            ResultSetMetaData md = rs.getMetaData();
            int n = md.getColumnCount();
            int[] types = new int[n + 1];
            for (int c = 1; c <= n; c++) {
                types[c] = md.getColumnType(c);
                out.append('#').append(md.getColumnName(c)).append('\t').append(typeName(types[c]))
                   .append('\t').append(md.getPrecision(c)).append('\t').append(md.getScale(c)).append('\n');
            }
            while (rs.next()) {
                for (int c = 1; c <= n; c++) {
                    if (c > 1) out.append('\t');
                    out.append(value(rs, c, types[c], stamp));
                }
                out.append('\n');
            }
        }
        System.out.print(out);
    }
}
