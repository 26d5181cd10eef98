package io.keyward.server.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.keyward.key.KeyRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/** Keyward's JSON reading and writing (Jackson), with limits on what a request may hold. */
public final class Json {
  /** Deepest nesting accepted in a request body. */
  public static final int MAX_NESTING_DEPTH = 32;
  /** Longest string accepted in a request body, in characters. */
  public static final int MAX_STRING_CHARS = 65_536;
  /** Longest number accepted in a request body, in digits. */
  public static final int MAX_NUMBER_DIGITS = 100;

  static final ObjectMapper MAPPER =
      new ObjectMapper(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder()
                          .maxNestingDepth(MAX_NESTING_DEPTH)
                          .maxStringLength(MAX_STRING_CHARS)
                          .maxNumberLength(MAX_NUMBER_DIGITS)
                          .build())
                  .build())
          .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private Json() {}

  /**
   * Parses a request body that must be a JSON object.
   *
   * @throws ApiError 400 naming what is wrong
   */
  public static ObjectNode readObject(byte[] body) {
    if (body.length == 0) {
      throw ApiError.badRequest("request body is empty; expected a JSON object");
    }
    JsonNode node;
    try {
      node = MAPPER.readTree(body);
    } catch (IOException e) {
      throw ApiError.badRequest("request body is not valid JSON: " + describe(e));
    }
    if (node == null || !node.isObject()) {
      throw ApiError.badRequest("request body must be a JSON object");
    }
    return (ObjectNode) node;
  }

  /** Serialises a value (maps, lists, records of simple types) to bytes. */
  public static byte[] write(Object value) {
    try {
      return MAPPER.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes one JSON object with a generator; the writer must write exactly one value. */
  public static byte[] writeObject(JsonWriter writer) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try (JsonGenerator generator = MAPPER.getFactory().createGenerator(out)) {
      generator.writeStartObject();
      writer.write(generator);
      generator.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Writes a key's public fields (never the secret) into the current object. */
  public static void writeKeyFields(JsonGenerator g, KeyRecord key) throws IOException {
    g.writeStringField("keyId", key.keyId());
    g.writeStringField("name", key.name());
    g.writeStringField("ownerId", key.ownerId());
    g.writeArrayFieldStart("scopes");
    String[] scopes = key.scopes().toArray(new String[0]);
    if (scopes.length > 1) {
      Arrays.sort(scopes);
    }
    for (String scope : scopes) {
      g.writeString(scope);
    }
    g.writeEndArray();
    g.writeFieldName("meta");
    // Stored as jsonb, so it is a valid JSON object; no need to parse it again.
    if (key.metaJson().equals("{}")) {
      g.writeStartObject(); // the common case, without raw writing's copy
      g.writeEndObject();
    } else {
      g.writeRawValue(key.metaJson());
    }
    g.writeStringField("environment", key.environment().label());
    g.writeStringField("origin", key.origin().name().toLowerCase(java.util.Locale.ROOT));
    writeNullable(g, "hint", key.hint());
    writeInstant(g, "createdAt", key.createdAt());
    writeInstant(g, "updatedAt", key.updatedAt());
    writeInstant(g, "expiresAt", key.expiresAt());
    writeInstant(g, "revokedAt", key.revokedAt());
    g.writeBooleanField("enabled", key.enabled());
    writeNullable(g, "rotatedFrom", key.rotatedFrom());
  }

  static void writeInstant(JsonGenerator g, String field, @Nullable Instant value)
      throws IOException {
    if (value == null) {
      g.writeNullField(field);
      return;
    }
    char[] text = new char[IsoInstant.MAX_LENGTH];
    int length = IsoInstant.format(value, text);
    g.writeFieldName(field);
    if (length < 0) {
      g.writeString(value.toString());
    } else {
      g.writeString(text, 0, length);
    }
  }

  static void writeNullable(JsonGenerator g, String field, @Nullable String value)
      throws IOException {
    if (value == null) {
      g.writeNullField(field);
    } else {
      g.writeStringField(field, value);
    }
  }

  /** The error body: {@code {"error":{"code":"...","message":"..."}}}. */
  public static byte[] error(String code, String message) {
    return writeObject(
        g -> {
          g.writeObjectFieldStart("error");
          g.writeStringField("code", code);
          g.writeStringField("message", message);
          g.writeEndObject();
        });
  }

  /**
   * What is wrong with a body, in our words: Jackson's messages name its classes, features and
   * limits' getters, which are internals a caller has no use for.
   */
  static String describe(IOException e) {
    String where = "";
    String original = e.getMessage() == null ? "" : e.getMessage();
    if (e instanceof JsonProcessingException processing) {
      original = processing.getOriginalMessage() == null ? "" : processing.getOriginalMessage();
      JsonLocation location = processing.getLocation();
      if (location != null && location.getLineNr() > 0) {
        where = " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ")";
      }
    }
    if (e instanceof StreamConstraintsException) {
      if (original.contains("nesting depth")) {
        return "nested deeper than " + MAX_NESTING_DEPTH + " levels" + where;
      }
      if (original.contains("String value length")) {
        return "a string is longer than " + MAX_STRING_CHARS + " characters" + where;
      }
      if (original.contains("Number value length")) {
        return "a number is longer than " + MAX_NUMBER_DIGITS + " digits" + where;
      }
      return "exceeds a size limit" + where;
    }
    if (original.startsWith("Duplicate field '")) {
      int end = original.indexOf('\'', "Duplicate field '".length());
      String name = end < 0 ? "" : original.substring("Duplicate field '".length(), end);
      return "duplicate field '" + RequestFields.truncate(name) + "'" + where;
    }
    if (original.startsWith("Trailing token")) {
      return "more content after the JSON value" + where;
    }
    if (original.startsWith("Unexpected end-of-input")) {
      return "it ends before the JSON value is complete" + where;
    }
    // Syntax errors ("Unexpected character ('x' (code 120)): was expecting ..."): keep the first
    // clause, unless it names internals.
    int cut = original.length();
    for (String end : new String[] {"\n", " (start marker", " at [Source", "[Source"}) {
      int at = original.indexOf(end);
      if (at >= 0 && at < cut) {
        cut = at;
      }
    }
    String message = original.substring(0, cut).strip();
    if (message.isEmpty() || message.contains("`") || message.contains("com.fasterxml")
        || message.contains("Feature")) {
      return "malformed JSON" + where;
    }
    return (message.length() > 160 ? message.substring(0, 160) + "…" : message) + where;
  }

  /** Writes fields into an open JSON object. */
  @FunctionalInterface
  public interface JsonWriter {
    void write(JsonGenerator generator) throws IOException;
  }
}
