package io.keyward.admin;

import io.keyward.key.Environment;
import java.time.Instant;
import java.util.Set;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * What a caller chooses about a new key. Validated on construction; each failure names the field
 * as the API spells it.
 *
 * @param metaJson a JSON object as text; the HTTP layer checks it is an object
 */
public record KeyAttributes(
    String name,
    String ownerId,
    Set<String> scopes,
    String metaJson,
    @Nullable Instant expiresAt,
    Environment environment) {

  /** Longest name and owner id, in characters. */
  public static final int MAX_TEXT_CHARS = 200;
  /** Most scopes on one key. */
  public static final int MAX_SCOPES = 100;
  /** Longest metadata, in characters of JSON. */
  public static final int MAX_META_CHARS = 8_192;
  /**
   * What a scope may look like: 1 to 100 of letters, digits and {@code : . _ - /}. Scopes match
   * exactly; there are no wildcards, so {@code *} is not allowed (it would look like one).
   */
  public static final Pattern SCOPE_PATTERN = Pattern.compile("[A-Za-z0-9:._\\-/]{1,100}");

  public KeyAttributes {
    name = requireText("name", name);
    ownerId = requireText("ownerId", ownerId);
    scopes = validScopes(scopes);
    if (metaJson == null) {
      metaJson = "{}";
    }
    requireStorableMeta(metaJson);
    if (environment == null) {
      throw new InvalidFieldException("environment", "must be 'live' or 'test'");
    }
  }

  /** Metadata PostgreSQL's jsonb can hold: within the size limit and without a NUL escape. */
  static void requireStorableMeta(String metaJson) {
    if (metaJson.length() > MAX_META_CHARS) {
      throw new InvalidFieldException("meta", "at most " + MAX_META_CHARS + " characters of JSON");
    }
    if (metaJson.contains("\\u0000")) {
      throw new InvalidFieldException("meta", "must not contain the NUL character (\\u0000)");
    }
  }

  static String requireText(String field, @Nullable String value) {
    if (value == null || value.isBlank()) {
      throw new InvalidFieldException(field, "is required and must not be blank");
    }
    if (value.length() > MAX_TEXT_CHARS) {
      throw new InvalidFieldException(field, "at most " + MAX_TEXT_CHARS + " characters");
    }
    for (int i = 0; i < value.length(); i++) {
      if (Character.isISOControl(value.charAt(i))) {
        throw new InvalidFieldException(field, "must not contain control characters");
      }
    }
    return value;
  }

  static Set<String> validScopes(@Nullable Set<String> scopes) {
    if (scopes == null) {
      return Set.of();
    }
    if (scopes.size() > MAX_SCOPES) {
      throw new InvalidFieldException("scopes", "at most " + MAX_SCOPES + " scopes");
    }
    for (String scope : scopes) {
      if (scope == null || !SCOPE_PATTERN.matcher(scope).matches()) {
        throw new InvalidFieldException(
            "scopes",
            "'" + scope + "' is not a scope: use 1 to 100 letters, digits and : . _ - /");
      }
    }
    return Set.copyOf(scopes);
  }
}
