package io.keyward.server.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
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

  static final ObjectMapper MAPPER =
      new ObjectMapper(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder()
                          .maxNestingDepth(MAX_NESTING_DEPTH)
                          .maxStringLength(65_536)
                          .maxNumberLength(100)
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
      throw ApiError.badRequest("request body is not valid JSON: " + shortMessage(e));
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

  private static String shortMessage(IOException e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int newline = message.indexOf('\n');
    message = newline < 0 ? message : message.substring(0, newline);
    return message.length() > 200 ? message.substring(0, 200) + "…" : message;
  }

  /** Writes fields into an open JSON object. */
  @FunctionalInterface
  public interface JsonWriter {
    void write(JsonGenerator generator) throws IOException;
  }
}
