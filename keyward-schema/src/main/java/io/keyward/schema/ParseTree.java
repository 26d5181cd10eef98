package io.keyward.schema;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A PostgreSQL parse tree as the server prints it ({@code nodeToString}, the format of
 * {@code pg_node_tree} and of {@code debug_print_parse}): {@code {NODE :field value ...}}, lists in
 * parentheses, {@code <>} for nothing, and atoms with backslash escapes. The reader follows the
 * server's own tokenizer ({@code pg_strtok} in {@code read.c}); it keeps every atom as text and
 * leaves meaning to the caller.
 *
 * <p>A node is a {@link Node}; a list is a {@code List<Object>} of nodes, lists and atoms; an atom
 * is a {@code String} (a quoted string keeps no quotes); {@code <>} is null.
 */
public final class ParseTree {
  private final String text;
  private int position;

  private ParseTree(String text) {
    this.text = text;
  }

  /** A node of the tree: its type ({@code ALTERTABLESTMT}) and its fields in order. */
  public record Node(String type, Map<String, @Nullable Object> fields) {
    /** The child node of {@code field}, or null. */
    public @Nullable Node node(String field) {
      return fields.get(field) instanceof Node node ? node : null;
    }

    /** The atom of {@code field} as text, or null for {@code <>} or a missing field. */
    public @Nullable String text(String field) {
      return fields.get(field) instanceof String atom ? atom : null;
    }

    /** The atom of {@code field} as a number, or {@code otherwise}. */
    public int number(String field, int otherwise) {
      String atom = text(field);
      try {
        return atom == null ? otherwise : Integer.parseInt(atom);
      } catch (NumberFormatException e) {
        return otherwise;
      }
    }

    /** Whether the atom of {@code field} is {@code true}. */
    public boolean flag(String field) {
      return "true".equals(text(field));
    }

    /** The nodes of the list in {@code field} (its other elements left out), empty when none. */
    public List<Node> nodes(String field) {
      return elements(field, Node.class);
    }

    /** The atoms of the list in {@code field} ({@code ("pg_catalog" "int4")}), empty when none. */
    public List<String> texts(String field) {
      return elements(field, String.class);
    }

    private <T> List<T> elements(String field, Class<T> kind) {
      List<T> elements = new ArrayList<>();
      if (fields.get(field) instanceof List<?> list) {
        for (Object element : list) {
          if (kind.isInstance(element)) {
            elements.add(kind.cast(element));
          }
        }
      }
      return elements;
    }

    /** Every node of this subtree of type {@code type}, this one included, depth first. */
    public List<Node> findAll(String type) {
      List<Node> found = new ArrayList<>();
      collect(this, type, found);
      return found;
    }

    private static void collect(@Nullable Object value, String type, List<Node> found) {
      if (value instanceof Node node) {
        if (node.type.equals(type)) {
          found.add(node);
        }
        for (Object child : node.fields.values()) {
          collect(child, type, found);
        }
      } else if (value instanceof List<?> list) {
        for (Object child : list) {
          collect(child, type, found);
        }
      }
    }
  }

  /**
   * Reads one value (a node, normally) from {@code text}.
   *
   * @throws IllegalArgumentException naming the offset when the text is not in the format
   */
  public static @Nullable Object read(String text) {
    ParseTree reader = new ParseTree(text);
    Object value = reader.value(reader.token());
    if (reader.token() != null) {
      throw reader.error("text after the value");
    }
    return value;
  }

  /** Reads a node from {@code text}, refusing anything else. */
  public static Node readNode(String text) {
    if (read(text) instanceof Node node) {
      return node;
    }
    throw new IllegalArgumentException("not a parse tree node: " + abbreviate(text));
  }

  private @Nullable Object value(@Nullable Token token) {
    if (token == null) {
      throw error("the text ends where a value should be");
    }
    if (token.punctuation == '{') {
      return node();
    }
    if (token.punctuation == '(') {
      return list();
    }
    if (token.punctuation == '[') {
      return datum();
    }
    if (token.punctuation != 0) {
      throw error("'" + token.punctuation + "' where a value should be");
    }
    return token.nothing ? null : token.text;
  }

  private Node node() {
    Token type = token();
    if (type == null || type.punctuation != 0) {
      throw error("a node without a type");
    }
    Map<String, @Nullable Object> fields = new LinkedHashMap<>();
    while (true) {
      Token token = token();
      if (token == null) {
        throw error("node " + type.text + " is not closed");
      }
      if (token.punctuation == '}') {
        return new Node(type.text, fields);
      }
      if (token.punctuation == 0 && !token.nothing && !token.text.startsWith(":")) {
        // A word some nodes print without a field name (A_EXPR's kind: IN, ANY, LIKE...).
        fields.put("#" + fields.size(), token.text);
        continue;
      }
      if (token.punctuation == '[') {
        // The bytes of a datum follow its length (CONST's :constvalue 4 [ 1 0 0 0 ]).
        fields.put("#" + fields.size(), datum());
        continue;
      }
      if (token.punctuation != 0 || !token.text.startsWith(":")) {
        throw error("a field name where " + describe(token) + " is");
      }
      String field = token.text.substring(1);
      Token next = token();
      fields.put(field, value(next));
    }
  }

  private List<@Nullable Object> list() {
    List<@Nullable Object> list = new ArrayList<>();
    while (true) {
      Token token = token();
      if (token == null) {
        throw error("a list is not closed");
      }
      if (token.punctuation == ')') {
        return list;
      }
      list.add(value(token));
    }
  }

  /** A datum ({@code 4 [ 1 0 0 0 ]}): the bytes, kept as their text. */
  private String datum() {
    StringBuilder bytes = new StringBuilder();
    while (true) {
      Token token = token();
      if (token == null) {
        throw error("a datum is not closed");
      }
      if (token.punctuation == ']') {
        return bytes.toString().strip();
      }
      bytes.append(token.text).append(' ');
    }
  }

  private record Token(String text, char punctuation, boolean nothing) {}

  /**
   * The next token as {@code pg_strtok} cuts them, or null at the end: the punctuation
   * {@code ( ) { }} alone, or a run of anything else up to whitespace or punctuation, where a
   * backslash takes the next character with it. A token {@code <>} is nothing; a token that
   * starts with an unescaped {@code "} is a string and loses its first and last quote (a quote
   * inside is not escaped by the server); escapes are then undone.
   */
  private @Nullable Token token() {
    int n = text.length();
    while (position < n && Character.isWhitespace(text.charAt(position))) {
      position++;
    }
    if (position >= n) {
      return null;
    }
    char c = text.charAt(position);
    if (c == '{' || c == '}' || c == '(' || c == ')') {
      position++;
      return new Token(String.valueOf(c), c, false);
    }
    int start = position;
    while (position < n) {
      c = text.charAt(position);
      if (c == '\\' && position + 1 < n) {
        position += 2;
        continue;
      }
      if (Character.isWhitespace(c) || c == '{' || c == '}' || c == '(' || c == ')') {
        break;
      }
      position++;
    }
    String raw = text.substring(start, position);
    if (raw.equals("<>")) {
      return new Token("", (char) 0, true);
    }
    if (raw.equals("[") || raw.equals("]")) {
      return new Token(raw, raw.charAt(0), false); // a datum's brackets stand alone
    }
    if (raw.length() >= 2 && raw.charAt(0) == '"' && raw.charAt(raw.length() - 1) == '"') {
      raw = raw.substring(1, raw.length() - 1);
    }
    StringBuilder atom = new StringBuilder(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      char d = raw.charAt(i);
      if (d == '\\' && i + 1 < raw.length()) {
        char escaped = raw.charAt(++i);
        // The server's log breaks long lines by turning a space into a newline, escaped
        // spaces included: an escaped newline reads back as the space it was.
        atom.append(escaped == '\n' ? ' ' : escaped);
      } else {
        atom.append(d);
      }
    }
    return new Token(atom.toString(), (char) 0, false);
  }

  private static String describe(Token token) {
    return token.punctuation != 0 ? "'" + token.punctuation + "'" : "'" + token.text + "'";
  }

  private IllegalArgumentException error(String problem) {
    int from = Math.max(0, position - 40);
    return new IllegalArgumentException("parse tree at offset " + position + ": " + problem
        + " (near '" + text.substring(from, Math.min(text.length(), position + 20)) + "')");
  }

  private static String abbreviate(String text) {
    return text.length() <= 60 ? text : text.substring(0, 60) + "...";
  }
}
