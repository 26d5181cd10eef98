package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.schema.ParseTree.Node;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The reader of PostgreSQL's node text format, on trees as the server prints them. */
class ParseTreeTest {
  @Test
  void readsNodesListsAtomsAndNothing() {
    Node node = ParseTree.readNode("{RENAMESTMT :renameType 6 :relation {RANGEVAR :schemaname <>"
        + " :relname foo :inh true} :subname we\\ ird :names (\"pg_catalog\" \"int4\") :objects"
        + " ((\"a\") (\"public\" \"b\"))}");

    assertThat(node.type()).isEqualTo("RENAMESTMT");
    assertThat(node.number("renameType", -1)).isEqualTo(6);
    assertThat(node.node("relation").text("relname")).isEqualTo("foo");
    assertThat(node.node("relation").text("schemaname")).isNull();
    assertThat(node.node("relation").flag("inh")).isTrue();
    assertThat(node.text("subname")).isEqualTo("we ird");
    assertThat(node.texts("names")).containsExactly("pg_catalog", "int4");
    assertThat(node.fields().get("objects")).isEqualTo(List.of(List.of("a"), List.of("public", "b")));
  }

  @Test
  void readsEscapesQuotedStringsAndTheLogsLineBreaks() {
    // A quoted string keeps its escapes' characters; the server's log turns a space into a
    // newline to break long lines, escaped spaces included.
    Node node = ParseTree.readNode("{A_CONST :val \"a\\ b\\\\c\\(\" :other \\1s :body \\ begin\\\nend}");

    assertThat(node.text("val")).isEqualTo("a b\\c(");
    assertThat(node.text("other")).isEqualTo("1s");
    assertThat(node.text("body")).isEqualTo(" begin end");
  }

  @Test
  void cutsTokensAsTheServerDoesWithBracketsAndQuotesInsideStrings() {
    // The server escapes neither [ ] nor a quote inside a string; only whitespace and ( ) { }
    // end a token.
    Node node = ParseTree.readNode("{A_CONST :a \"[\"none\"]\" :b \"x]\" :c \"x\"\""
        + " :d \"\\{\"a\":1\\}\" :e \"list\\ [a]\" :f \"\"}");

    assertThat(node.text("a")).isEqualTo("[\"none\"]");
    assertThat(node.text("b")).isEqualTo("x]");
    assertThat(node.text("c")).isEqualTo("x\"");
    assertThat(node.text("d")).isEqualTo("{\"a\":1}");
    assertThat(node.text("e")).isEqualTo("list [a]");
    assertThat(node.text("f")).isEmpty();
  }

  @Test
  void readsWordsWithoutFieldNamesAndDatums() {
    Node node = ParseTree.readNode("{A_EXPR IN :name (\"=\") :rexpr {CONST :constlen 4"
        + " :constvalue 4 [ 1 0 0 0 0 0 0 0 ] :location 7}}");

    assertThat(node.fields()).containsEntry("#0", "IN");
    assertThat(node.node("rexpr").number("location", -1)).isEqualTo(7);
    assertThat(node.node("rexpr").fields()).containsValue("1 0 0 0 0 0 0 0");
  }

  @Test
  void findsNodesOfATypeAnywhereBelow() {
    Node node = ParseTree.readNode("{QUERY :targetList ({TARGETENTRY :expr {FUNCEXPR :funcid 16400"
        + " :args ({FUNCEXPR :funcid 1})}})}");

    assertThat(node.findAll("FUNCEXPR")).extracting(n -> n.text("funcid"))
        .containsExactly("16400", "1");
  }

  @Test
  void refusesTextThatIsNotATreeNamingWhere() {
    assertThatThrownBy(() -> ParseTree.readNode("{QUERY :a (1 2"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not closed");
    assertThatThrownBy(() -> ParseTree.readNode("{QUERY :a 1} extra"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("text after");
    assertThatThrownBy(() -> ParseTree.readNode("plain"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a parse tree node");
    assertThatThrownBy(() -> ParseTree.readNode("{QUERY )}"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset");
  }
}
