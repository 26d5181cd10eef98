package io.keyward.schema;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits PostgreSQL SQL text into statements the way the server's lexer sees it: a semicolon ends
 * a statement only outside string literals ({@code '...'}, {@code E'...'} with backslash escapes),
 * quoted identifiers ({@code "..."}), dollar-quoted bodies ({@code $tag$...$tag$}), line comments
 * ({@code --}) and nested block comments ({@code /* ... *}{@code /}). Each statement keeps the
 * line it starts on, for findings of the form {@code file:line}. A lexer, not regular expressions;
 * what a statement <em>is</em> is decided by PostgreSQL itself, on the scratch database.
 *
 * <p>Also rewrites {@code $1..$n} parameters of a query contract into JDBC's {@code ?}.
 */
public final class SqlScript {
  private SqlScript() {}

  /**
   * One statement of a script.
   *
   * @param sql the statement's text without the ending semicolon, comments kept, trimmed
   * @param line the 1-based line its first non-blank, non-comment character is on
   */
  public record Statement(String sql, int line) {}

  /** The statements of {@code text}, in order; blank and comment-only pieces are dropped. */
  public static List<Statement> split(String text) {
    List<Statement> statements = new ArrayList<>();
    int start = 0;
    int line = 1;
    int startLine = -1; // line of the first significant character of the current statement
    String firstWord = null;
    String previousWord = null;
    int atomicDepth = 0;
    int i = 0;
    int n = text.length();
    while (i < n) {
      char c = text.charAt(i);
      if (c == '\n') {
        line++;
        i++;
        continue;
      }
      if (c == '-' && i + 1 < n && text.charAt(i + 1) == '-') {
        while (i < n && text.charAt(i) != '\n') {
          i++;
        }
        continue;
      }
      if (c == '/' && i + 1 < n && text.charAt(i + 1) == '*') {
        int end = skipBlockComment(text, i);
        for (int k = i; k < end; k++) {
          if (text.charAt(k) == '\n') {
            line++;
          }
        }
        i = end;
        continue;
      }
      if (Character.isWhitespace(c)) {
        i++;
        continue;
      }
      if (startLine < 0 && c != ';') {
        startLine = line;
        start = i; // leading comments are not part of the statement
      }
      if (c == ';' && atomicDepth == 0) {
        if (startLine > 0) {
          add(statements, text.substring(start, i), startLine);
        }
        start = i + 1;
        startLine = -1;
        firstWord = null;
        previousWord = null;
        i++;
        continue;
      }
      int end = skipQuoted(text, i);
      if (isIdentifierPart(c) && !Character.isDigit(c)) {
        // A SQL-standard function body (CREATE FUNCTION ... BEGIN ATOMIC ... END) holds
        // semicolons of its own: inside one, BEGIN and CASE open a block and END closes one, as
        // psql counts them.
        String word = text.substring(i, end).toUpperCase(java.util.Locale.ROOT);
        if (firstWord == null) {
          firstWord = word;
        } else if ("CREATE".equals(firstWord)) {
          if (word.equals("ATOMIC") && "BEGIN".equals(previousWord)) {
            atomicDepth++;
          } else if (atomicDepth > 0 && word.equals("CASE")) {
            atomicDepth++;
          } else if (atomicDepth > 0 && word.equals("END")) {
            atomicDepth--;
          }
        }
        previousWord = word;
      }
      for (int k = i; k < end; k++) {
        if (text.charAt(k) == '\n') {
          line++;
        }
      }
      i = end;
    }
    if (startLine > 0) {
      add(statements, text.substring(start), startLine);
    }
    return statements;
  }

  /**
   * The index just after the token that starts at {@code i}: past a whole literal, quoted
   * identifier or dollar-quoted body when one starts there, else {@code i + 1}. An unterminated
   * one runs to the end of the text (PostgreSQL would report the syntax error).
   */
  static int skipQuoted(String text, int i) {
    int n = text.length();
    char c = text.charAt(i);
    boolean escapeString = (c == 'E' || c == 'e') && i + 1 < n && text.charAt(i + 1) == '\''
        && (i == 0 || !isIdentifierPart(text.charAt(i - 1)));
    if (escapeString) {
      int k = i + 2;
      while (k < n) {
        char d = text.charAt(k);
        if (d == '\\') {
          k += 2;
        } else if (d == '\'') {
          if (k + 1 < n && text.charAt(k + 1) == '\'') {
            k += 2;
          } else {
            return k + 1;
          }
        } else {
          k++;
        }
      }
      return n;
    }
    if (c == '\'' || c == '"') {
      int k = i + 1;
      while (k < n) {
        if (text.charAt(k) == c) {
          if (k + 1 < n && text.charAt(k + 1) == c) {
            k += 2; // doubled quote: part of the text
          } else {
            return k + 1;
          }
        } else {
          k++;
        }
      }
      return n;
    }
    if (c == '$' && (i == 0 || !isIdentifierPart(text.charAt(i - 1)))) {
      int k = i + 1;
      while (k < n && isTagPart(text.charAt(k), k == i + 1)) {
        k++;
      }
      if (k < n && text.charAt(k) == '$') {
        String tag = text.substring(i, k + 1);
        int close = text.indexOf(tag, k + 1);
        return close < 0 ? n : close + tag.length();
      }
    }
    if (isIdentifierPart(c)) {
      int k = i + 1;
      while (k < n && (isIdentifierPart(text.charAt(k)) || text.charAt(k) == '$')) {
        k++;
      }
      return k;
    }
    return i + 1;
  }

  /**
   * The index just after the block comment that starts at {@code i} ({@code /*}); comments nest,
   * as in PostgreSQL. An unterminated one runs to the end of the text.
   */
  static int skipBlockComment(String text, int i) {
    int n = text.length();
    int depth = 0;
    int k = i;
    do {
      if (text.startsWith("/*", k)) {
        depth++;
        k += 2;
      } else if (text.startsWith("*/", k)) {
        depth--;
        k += 2;
      } else {
        k++;
      }
    } while (depth > 0 && k < n);
    return Math.min(k, n);
  }

  private static boolean isTagPart(char c, boolean first) {
    return Character.isLetter(c) || c == '_' || (!first && Character.isDigit(c));
  }

  private static boolean isIdentifierPart(char c) {
    return Character.isLetterOrDigit(c) || c == '_';
  }

  private static void add(List<Statement> statements, String piece, int line) {
    String sql = piece.strip();
    if (line > 0 && !sql.isEmpty()) {
      statements.add(new Statement(sql, line));
    }
  }

  /**
   * {@code sql} with every {@code ?} outside literals, quoted identifiers, dollar-quoted bodies
   * and comments doubled, so that JDBC passes jsonb's {@code ?}, {@code ?|} and {@code ?&} on to
   * the server instead of taking them for placeholders.
   */
  public static String escapeQuestionMarks(String sql) {
    StringBuilder out = new StringBuilder(sql.length() + 8);
    int i = 0;
    int n = sql.length();
    while (i < n) {
      char c = sql.charAt(i);
      if (c == '-' && sql.startsWith("--", i)) {
        int end = sql.indexOf('\n', i);
        end = end < 0 ? n : end;
        out.append(sql, i, end);
        i = end;
      } else if (c == '/' && sql.startsWith("/*", i)) {
        int end = skipBlockComment(sql, i);
        out.append(sql, i, end);
        i = end;
      } else if (c == '?') {
        out.append("??");
        i++;
      } else {
        int end = skipQuoted(sql, i);
        out.append(sql, i, end);
        i = end;
      }
    }
    return out.toString();
  }

  /**
   * A contract statement with {@code $n} parameters as JDBC wants it: each {@code $n} outside
   * literals, identifiers and comments becomes {@code ?}, and {@code order} says which parameter
   * each {@code ?} binds (a {@code $1} used twice binds twice).
   *
   * @param jdbcSql the statement with {@code ?} placeholders
   * @param order for each {@code ?} in turn, its 1-based parameter number
   * @param parameters how many distinct parameters ({@code $n} up to n)
   */
  public record Parameterized(String jdbcSql, List<Integer> order, int parameters) {}

  /** Rewrites {@code $n} placeholders into {@code ?}; a statement that has {@code ?}s keeps them. */
  public static Parameterized parameterize(String sql) {
    // A statement written with $n may also use jsonb's ? operators; only without $n is ? a
    // placeholder.
    boolean dollarStyle = !rewrite(sql, false).order().isEmpty();
    return rewrite(sql, !dollarStyle);
  }

  private static Parameterized rewrite(String sql, boolean questionMarks) {
    StringBuilder out = new StringBuilder(sql.length());
    List<Integer> order = new ArrayList<>();
    int max = 0;
    int i = 0;
    int n = sql.length();
    while (i < n) {
      char c = sql.charAt(i);
      if (c == '$' && i + 1 < n && Character.isDigit(sql.charAt(i + 1))
          && (i == 0 || !isIdentifierPart(sql.charAt(i - 1)))) {
        int k = i + 1;
        while (k < n && Character.isDigit(sql.charAt(k))) {
          k++;
        }
        int number = Integer.parseInt(sql.substring(i + 1, k));
        order.add(number);
        max = Math.max(max, number);
        out.append('?');
        i = k;
        continue;
      }
      if (c == '-' && sql.startsWith("--", i)) {
        int end = sql.indexOf('\n', i);
        end = end < 0 ? n : end;
        out.append(sql, i, end);
        i = end;
        continue;
      }
      if (c == '?' && questionMarks) {
        order.add(order.size() + 1); // already JDBC style: in order
        max = Math.max(max, order.size());
        out.append(c);
        i++;
        continue;
      }
      int end = skipQuoted(sql, i);
      out.append(sql, i, end);
      i = end;
    }
    return new Parameterized(out.toString(), List.copyOf(order), max);
  }
}
