package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class SqlScriptTest {

  @Test
  void semicolonsInsideLiteralsIdentifiersDollarBodiesAndCommentsDoNotEndAStatement() {
    String script = """
        -- a comment; with a semicolon
        CREATE TABLE "odd;name" (a text DEFAULT 'x;y');
        /* block; /* nested; */ still comment; */
        INSERT INTO t VALUES (E'it\\'s; fine', 'it''s; fine');

        DO $body$ BEGIN PERFORM 1; END $body$;
        CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
        SELECT price$1 FROM t  -- no semicolon at the end
        """;

    List<SqlScript.Statement> statements = SqlScript.split(script);

    assertThat(statements).extracting(SqlScript.Statement::line).containsExactly(2, 4, 6, 7, 8);
    assertThat(statements.get(0).sql()).isEqualTo("CREATE TABLE \"odd;name\" (a text DEFAULT 'x;y')");
    assertThat(statements.get(1).sql()).endsWith("'it''s; fine')");
    assertThat(statements.get(2).sql()).isEqualTo("DO $body$ BEGIN PERFORM 1; END $body$");
    assertThat(statements.get(3).sql()).contains("$$ SELECT 1; $$");
    assertThat(statements.get(4).sql()).startsWith("SELECT price$1 FROM t");
  }

  @Test
  void sqlStandardFunctionBodiesKeepTheirSemicolons() {
    String script = """
        CREATE FUNCTION grade(n int) RETURNS text LANGUAGE sql
        BEGIN ATOMIC
          SELECT CASE WHEN n > 1 THEN 'many' ELSE 'one' END;
          SELECT 'x';
        END;
        SELECT grade(2);
        """;

    assertThat(SqlScript.split(script)).extracting(SqlScript.Statement::line).containsExactly(1, 6);
  }

  @Test
  void emptyAndCommentOnlyPiecesAreNotStatements() {
    assertThat(SqlScript.split(";;  -- nothing\n/* nothing */ ;")).isEmpty();
    assertThat(SqlScript.split("SELECT 1;;SELECT 2")).extracting(SqlScript.Statement::sql)
        .containsExactly("SELECT 1", "SELECT 2");
  }

  @Test
  void contractParametersBecomeJdbcPlaceholdersInTheirOrder() {
    SqlScript.Parameterized p = SqlScript.parameterize(
        "UPDATE t SET a = $2, b = '$1' WHERE id = $1 AND a = $2 -- $3\n");

    assertThat(p.jdbcSql()).isEqualTo("UPDATE t SET a = ?, b = '$1' WHERE id = ? AND a = ? -- $3\n");
    assertThat(p.order()).containsExactly(2, 1, 2);
    assertThat(p.parameters()).isEqualTo(2);
    assertThat(SqlScript.parameterize("SELECT * FROM t WHERE a = ? AND b = ?").order())
        .containsExactly(1, 2);
    assertThat(SqlScript.parameterize("SELECT meta ? 'k' FROM t WHERE id = $1").order())
        .containsExactly(1);
  }

  @Test
  void questionMarksAreDoubledOnlyOutsideLiteralsIdentifiersBodiesAndComments() {
    assertThat(SqlScript.escapeQuestionMarks("SELECT doc ? 'a?', doc ?| x, \"q?\" -- why?\n"
        + "/* is /* it? */ so? */ FROM t WHERE $$?$$ = E'\\'?'"))
        .isEqualTo("SELECT doc ?? 'a?', doc ??| x, \"q?\" -- why?\n"
            + "/* is /* it? */ so? */ FROM t WHERE $$?$$ = E'\\'?'");
  }
}
