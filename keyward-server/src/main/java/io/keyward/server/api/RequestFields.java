package io.keyward.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Reads the fields of a JSON request object, each failure a 400 that names the field. Unknown
 * fields are refused, so that a misspelt field is not silently ignored.
 */
final class RequestFields {
  private final ObjectNode body;

  RequestFields(ObjectNode body, Set<String> allowed) {
    this.body = body;
    for (Iterator<String> names = body.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!allowed.contains(name)) {
        throw ApiError.invalidField(name, allowed.isEmpty()
            ? "unknown field; this call takes no fields"
            : "unknown field; allowed: " + String.join(", ", new java.util.TreeSet<>(allowed)));
      }
    }
  }

  /** The field's JSON as sent, or null when absent. */
  @Nullable JsonNode raw(String field) {
    return body.get(field);
  }

  boolean has(String field) {
    return body.has(field);
  }

  boolean isNull(String field) {
    return body.has(field) && body.get(field).isNull();
  }

  String requiredText(String field) {
    String value = optionalText(field);
    if (value == null) {
      throw ApiError.invalidField(field, "is required");
    }
    return value;
  }

  @Nullable String optionalText(String field) {
    String text = optionalRawText(field);
    if (text != null) {
      requireStorable(field, text);
    }
    return text;
  }

  /**
   * The field as a string exactly as sent, not checked to be storable text: for a key to verify,
   * which gets a decided answer (MALFORMED) whatever it holds.
   */
  @Nullable String optionalRawText(String field) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isTextual()) {
      throw ApiError.invalidField(field, "must be a string");
    }
    return node.textValue();
  }

  /**
   * Refuses text that cannot be stored and given back as it was: a lone UTF-16 surrogate (JSON
   * allows the escape {@code \ud800}; UTF-8 has no encoding for it, so the database would keep
   * {@code ?} and the answer could not be written) or a NUL character (PostgreSQL text cannot
   * hold it). Checked before anything is written.
   */
  static void requireStorable(String field, String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == 0) {
        throw ApiError.invalidField(field, "must not contain the NUL character (\\u0000)");
      }
      if (Character.isHighSurrogate(c) && i + 1 < text.length()
          && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw ApiError.invalidField(field, "holds an unpaired UTF-16 surrogate (\\u"
            + Integer.toHexString(c) + "), which is not a character; send well-formed Unicode");
      }
    }
  }

  @Nullable Set<String> optionalTextSet(String field, int maxSize) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isArray()) {
      throw ApiError.invalidField(field, "must be an array of strings");
    }
    if (node.size() > maxSize) {
      throw ApiError.invalidField(field, "at most " + maxSize + " entries");
    }
    Set<String> values = new LinkedHashSet<>();
    for (JsonNode element : node) {
      if (!element.isTextual()) {
        throw ApiError.invalidField(field, "must be an array of strings");
      }
      requireStorable(field, element.textValue());
      values.add(element.textValue());
    }
    return values;
  }

  /** The field as an RFC 3339 timestamp; empty if JSON null, null if absent. */
  @Nullable Optional<Instant> optionalInstant(String field) {
    JsonNode node = body.get(field);
    if (node == null) {
      return null;
    }
    if (node.isNull()) {
      return Optional.empty();
    }
    if (!node.isTextual()) {
      throw ApiError.invalidField(field, "must be an RFC 3339 timestamp string");
    }
    try {
      return Optional.of(OffsetDateTime.parse(node.textValue()).toInstant());
    } catch (DateTimeParseException e) {
      throw ApiError.invalidField(
          field, "'" + truncate(node.textValue()) + "' is not an RFC 3339 timestamp"
              + " such as 2030-01-31T12:00:00Z");
    }
  }

  /** The field as JSON object text, or null if absent or null. */
  @Nullable String optionalObjectJson(String field) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isObject()) {
      throw ApiError.invalidField(field, "must be a JSON object");
    }
    requireStorableTree(field, node);
    return node.toString();
  }

  /** {@link #requireStorable} over every name and string in a JSON value. */
  private static void requireStorableTree(String field, JsonNode node) {
    if (node.isTextual()) {
      requireStorable(field, node.textValue());
    } else if (node.isObject()) {
      for (var entries = node.fields(); entries.hasNext(); ) {
        var entry = entries.next();
        requireStorable(field, entry.getKey());
        requireStorableTree(field, entry.getValue());
      }
    } else if (node.isArray()) {
      for (JsonNode element : node) {
        requireStorableTree(field, element);
      }
    }
  }

  @Nullable Boolean optionalBoolean(String field) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isBoolean()) {
      throw ApiError.invalidField(field, "must be true or false");
    }
    return node.booleanValue();
  }

  @Nullable Long optionalLong(String field, long min, long max) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isIntegralNumber() || !node.canConvertToLong()
        || node.longValue() < min || node.longValue() > max) {
      throw ApiError.invalidField(field, "must be a whole number from " + min + " to " + max);
    }
    return node.longValue();
  }

  static String truncate(String text) {
    return text.length() > 40 ? text.substring(0, 40) + "…" : text;
  }
}
