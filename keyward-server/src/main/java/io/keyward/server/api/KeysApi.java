package io.keyward.server.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.http.HttpMediaType;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.admin.InvalidFieldException;
import io.keyward.admin.IssuedKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.admin.KeyAttributes;
import io.keyward.admin.KeyConflictException;
import io.keyward.admin.KeyNotFoundException;
import io.keyward.admin.KeyPatch;
import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyRecord;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.StoreException;
import io.keyward.verify.ForeignFilter;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Supplier;

/** The {@code /v1/keys} calls of product.md: admin calls and verify. */
public final class KeysApi {
  /** Default number of keys per list page. */
  public static final int DEFAULT_PAGE_SIZE = 100;
  /** Grace period of a rotation that names none: the old key keeps working for an hour. */
  public static final Duration DEFAULT_GRACE_PERIOD = Duration.ofHours(1);
  /** Most scopes a verify call may require. */
  public static final int MAX_REQUIRED_SCOPES = 100;

  private static final Set<String> CREATE_FIELDS =
      Set.of("name", "ownerId", "scopes", "expiresAt", "meta", "environment");
  private static final Set<String> IMPORT_FIELDS =
      Set.of("sha256", "name", "ownerId", "scopes", "expiresAt", "meta", "environment");
  private static final Set<String> PATCH_FIELDS =
      Set.of("name", "scopes", "meta", "expiresAt", "enabled");
  private static final Set<String> ROTATE_FIELDS = Set.of("gracePeriodSeconds");
  private static final Set<String> VERIFY_FIELDS = Set.of("key", "scopes");
  private static final String CURSOR_PREFIX = "k1:";
  /** The media type of request and response bodies. */
  public static final String JSON = "application/json";
  /**
   * PATCH also takes a JSON merge patch (RFC 7396), which is what its body is: fields present
   * are set, {@code null} clears ({@code expiresAt}, {@code meta}), absent fields stay.
   */
  public static final String MERGE_PATCH_JSON = "application/merge-patch+json";
  /** Bodies announced up to this length are read into an array of exactly their size. */
  private static final long EXACT_READ_LIMIT = 16 * 1024;

  private final KeyAdministration admin;
  private final Verifier verifier;
  private final RootKeyAuthenticator auth;
  private final java.util.function.Function<String, java.util.Optional<java.time.Instant>> lastUsed;

  public KeysApi(KeyAdministration admin, Verifier verifier, RootKeyAuthenticator auth) {
    this(admin, verifier, auth, keyId -> java.util.Optional.empty());
  }

  /** @param lastUsed when a key was last verified (usage), for {@code GET /v1/keys/{keyId}} */
  public KeysApi(KeyAdministration admin, Verifier verifier, RootKeyAuthenticator auth,
      java.util.function.Function<String, java.util.Optional<java.time.Instant>> lastUsed) {
    this.admin = admin;
    this.verifier = verifier;
    this.auth = auth;
    this.lastUsed = lastUsed;
  }

  /** Registers the routes. Literal paths come before {@code {keyId}} so they win. */
  public void register(RouteTable routing) {
    routing
        .post("/v1/keys/verify", this::verify)
        .post("/v1/keys/import", this::importKey)
        .post("/v1/keys", this::create)
        .get("/v1/keys", this::list)
        .get("/v1/keys/{keyId}", this::get)
        .patch("/v1/keys/{keyId}", this::patch)
        .post("/v1/keys/{keyId}/revoke", this::revoke)
        .post("/v1/keys/{keyId}/rotate", this::rotate);
  }

  private void verify(ServerRequest request, ServerResponse response) {
    auth.requireVerifier(request);
    var fields = new RequestFields(jsonBody(request, true), VERIFY_FIELDS);
    if (!fields.has("key") || fields.isNull("key")) {
      throw ApiError.invalidField("key", "is required");
    }
    String key = fields.optionalRawText("key");
    Set<String> scopes = fields.optionalTextSet("scopes", MAX_REQUIRED_SCOPES);
    Verdict verdict;
    try {
      verdict = verifier.verify(key, scopes == null ? List.of() : scopes);
    } catch (RuntimeException e) {
      // The verifier does not throw; if a bug makes it, "cannot decide" is still not "invalid".
      throw ApiError.unavailable("verification failed unexpectedly");
    }
    switch (verdict) {
      case Verdict.Valid valid -> Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
        g.writeBooleanField("valid", true);
        g.writeStringField("code", "VALID");
        Json.writeKeyFields(g, valid.key());
      }));
      case Verdict.Denied denied -> Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
        g.writeBooleanField("valid", false);
        g.writeStringField("code", denied.outcome().name());
        if (denied.malformedReason() != null) {
          g.writeStringField("reason", denied.malformedReason().name());
        }
        if (denied.key() != null) {
          g.writeStringField("keyId", denied.key().keyId());
          g.writeStringField("ownerId", denied.key().ownerId());
        }
      }));
      case Verdict.Unavailable unavailable ->
          throw ApiError.unavailable("cannot decide now: " + unavailable.reason());
    }
  }

  private void create(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    var fields = new RequestFields(jsonBody(request, true), CREATE_FIELDS);
    KeyAttributes attributes = attributes(fields);
    IssuedKey issued = call(() -> admin.create(attributes));
    response.header(HeaderNames.LOCATION, "/v1/keys/" + issued.record().keyId());
    sendSecret(request, response, issued, null);
  }

  private void importKey(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    var fields = new RequestFields(jsonBody(request, true), IMPORT_FIELDS);
    KeyHash hash;
    try {
      hash = KeyHash.fromHex(fields.requiredText("sha256"));
    } catch (IllegalArgumentException e) {
      throw ApiError.invalidField("sha256", e.getMessage());
    }
    KeyAttributes attributes = attributes(fields);
    KeyRecord record = call(() -> admin.importKey(hash, attributes));
    response.header(HeaderNames.LOCATION, "/v1/keys/" + record.keyId());
    Responses.send(request, response, Status.CREATED_201, Json.writeObject(g -> Json.writeKeyFields(g, record)));
  }

  private void get(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String keyId = keyId(request);
    KeyRecord record = call(() -> admin.get(keyId));
    java.time.Instant last = lastUsedOrNull(keyId);
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      Json.writeKeyFields(g, record);
      Json.writeInstant(g, "lastUsedAt", last);
    }));
  }

  /** The key's last use; null if never, or if usage cannot be read (that does not fail a GET). */
  private java.time.@org.jspecify.annotations.Nullable Instant lastUsedOrNull(String keyId) {
    try {
      return lastUsed.apply(keyId).orElse(null);
    } catch (StoreException e) {
      return null;
    }
  }

  private void list(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    var query = request.query();
    String ownerId = query.first("ownerId").orElse(null);
    if (ownerId != null && ownerId.isEmpty()) {
      throw ApiError.invalidField("ownerId", "must not be empty");
    }
    if (ownerId != null) {
      RequestFields.requireStorable("ownerId", ownerId);
    }
    int limit = DEFAULT_PAGE_SIZE;
    String limitText = query.first("limit").orElse(null);
    if (limitText != null) {
      try {
        limit = Integer.parseInt(limitText);
      } catch (NumberFormatException e) {
        throw ApiError.invalidField("limit", "must be a whole number");
      }
    }
    String after = decodeCursor(query.first("cursor").orElse(null));
    int pageSize = limit;
    KeyAdministration.KeyPage page = call(() -> admin.list(ownerId, after, pageSize));
    List<KeyRecord> shown = page.keys();
    String next = page.continueAfter() == null ? null : encodeCursor(page.continueAfter());
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeArrayFieldStart("keys");
      for (KeyRecord record : shown) {
        g.writeStartObject();
        Json.writeKeyFields(g, record);
        g.writeEndObject();
      }
      g.writeEndArray();
      Json.writeNullable(g, "nextCursor", next);
    }));
  }

  private void patch(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String keyId = keyId(request);
    var fields = new RequestFields(jsonBody(request, true), PATCH_FIELDS);
    if (fields.isNull("name") || fields.isNull("scopes") || fields.isNull("enabled")) {
      throw ApiError.badRequest("only expiresAt and meta may be null in a patch");
    }
    KeyPatch patch = domain(() -> new KeyPatch(
        fields.optionalText("name"),
        fields.optionalTextSet("scopes", KeyAttributes.MAX_SCOPES),
        fields.isNull("meta") ? "{}" : fields.optionalObjectJson("meta"),
        fields.optionalInstant("expiresAt"),
        fields.optionalBoolean("enabled")));
    KeyRecord record = call(() -> admin.patch(keyId, patch));
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> Json.writeKeyFields(g, record)));
  }

  private void revoke(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String keyId = keyId(request);
    ObjectNode body = jsonBody(request, false);
    if (body != null) {
      new RequestFields(body, Set.of()); // revoke takes no fields; names any it is given
    }
    KeyRecord record = call(() -> admin.revoke(keyId));
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> Json.writeKeyFields(g, record)));
  }

  private void rotate(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String keyId = keyId(request);
    ObjectNode body = jsonBody(request, false);
    Duration grace = DEFAULT_GRACE_PERIOD;
    if (body != null) {
      Long seconds = new RequestFields(body, ROTATE_FIELDS)
          .optionalLong("gracePeriodSeconds", 0, KeyAdministration.MAX_GRACE_PERIOD.toSeconds());
      if (seconds != null) {
        grace = Duration.ofSeconds(seconds);
      }
    }
    Duration gracePeriod = grace;
    KeyAdministration.Rotation rotation = call(() -> admin.rotate(keyId, gracePeriod));
    response.header(HeaderNames.LOCATION, "/v1/keys/" + rotation.successor().record().keyId());
    sendSecret(request, response, rotation.successor(), rotation.predecessor());
  }

  private KeyAttributes attributes(RequestFields fields) {
    String environmentLabel = fields.optionalText("environment");
    Environment environment = environmentLabel == null
        ? Environment.LIVE
        : Environment.fromLabel(environmentLabel).orElseThrow(
            () -> ApiError.invalidField("environment", "must be 'live' or 'test'"));
    Optional<Instant> expiresAt = fields.optionalInstant("expiresAt");
    return domain(() -> new KeyAttributes(
        fields.requiredText("name"),
        fields.requiredText("ownerId"),
        fields.optionalTextSet("scopes", KeyAttributes.MAX_SCOPES),
        fields.optionalObjectJson("meta"),
        expiresAt == null ? null : expiresAt.orElse(null),
        environment));
  }

  private static void sendSecret(ServerRequest request, ServerResponse response, IssuedKey issued, KeyRecord previous) {
    response.header(HeaderNames.CACHE_CONTROL, "no-store");
    byte[] body;
    try {
      body = Json.writeObject(g -> {
        Json.writeKeyFields(g, issued.record());
        // The only time the secret is shown.
        g.writeStringField("key", issued.secret());
        if (previous != null) {
          g.writeObjectFieldStart("previous");
          g.writeStringField("keyId", previous.keyId());
          Json.writeInstant(g, "expiresAt", previous.expiresAt());
          g.writeEndObject();
        }
      });
    } catch (RuntimeException e) {
      // The key is stored: its secret must reach the caller whatever else cannot be written.
      // Input validation keeps this from happening; this is the last line, ASCII only.
      body = Json.writeObject(g -> {
        g.writeStringField("keyId", issued.record().keyId());
        g.writeStringField("key", issued.secret());
        g.writeStringField("warning", "some attributes could not be written; GET the key");
      });
    }
    Responses.send(request, response, Status.CREATED_201, body);
  }

  /**
   * The request body as a JSON object. Requires {@code application/json} when there is a body;
   * when {@code required} is false an absent body gives null.
   */
  static ObjectNode jsonBody(ServerRequest request, boolean required) {
    byte[] bytes = readBody(request);
    if (bytes.length == 0 && !required) {
      return null;
    }
    String mediaType = request.headers().contentType().map(HttpMediaType::mediaType)
        .map(type -> type.text()).orElse(null);
    boolean json = mediaType != null && (mediaType.equalsIgnoreCase(JSON)
        || (request.prologue().method().text().equals("PATCH")
            && mediaType.equalsIgnoreCase(MERGE_PATCH_JSON)));
    if (!json) {
      throw ApiError.unsupportedMediaType("request body must be " + JSON
          + (request.prologue().method().text().equals("PATCH") ? " or " + MERGE_PATCH_JSON : "")
          + ", got " + (mediaType == null ? "no Content-Type" : RequestFields.truncate(mediaType)));
    }
    return Json.readObject(bytes);
  }

  /**
   * The raw body. A client that hangs up or sends less than it announced is a bad request, not a
   * server failure; an oversized body stays Helidon's 413.
   */
  private static byte[] readBody(ServerRequest request) {
    if (!request.content().hasEntity()) {
      return new byte[0];
    }
    try {
      OptionalLong length = request.headers().contentLength();
      if (length.isPresent() && length.getAsLong() <= EXACT_READ_LIMIT) {
        // The common case, a small body of announced length: read exactly that many bytes.
        // (Reading "all bytes" instead allocates and zeroes a 16 KiB buffer per request, which
        // profiling under load found to be a tenth of the verify path's CPU.) Helidon has already
        // refused a length over the payload limit with 413.
        int expected = (int) length.getAsLong();
        byte[] body;
        try (InputStream in = request.content().inputStream()) {
          body = in.readNBytes(expected);
        }
        if (body.length != expected) {
          throw ApiError.badRequest("request body could not be read: it ended early");
        }
        return body;
      }
      return request.content().as(byte[].class);
    } catch (io.helidon.http.RequestException | io.helidon.http.HttpException | ApiError e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw ApiError.badRequest("request body could not be read: it ended early");
    }
  }

  private static String keyId(ServerRequest request) {
    String keyId = request.path().pathParameters().get("keyId");
    if (!KeyIds.isWellFormed(keyId)) {
      throw ApiError.notFound("no key with id '" + RequestFields.truncate(keyId) + "'");
    }
    return keyId;
  }

  private static String encodeCursor(String keyId) {
    return Base64.getUrlEncoder().withoutPadding()
        .encodeToString((CURSOR_PREFIX + keyId).getBytes(StandardCharsets.US_ASCII));
  }

  private static String decodeCursor(String cursor) {
    if (cursor == null) {
      return null;
    }
    try {
      String text = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.US_ASCII);
      if (text.startsWith(CURSOR_PREFIX) && KeyIds.isWellFormed(text.substring(CURSOR_PREFIX.length()))) {
        return text.substring(CURSOR_PREFIX.length());
      }
    } catch (IllegalArgumentException e) {
      // reported below
    }
    throw ApiError.invalidField("cursor", "is not a cursor this server issued");
  }

  /** Builds a domain value, turning its validation failures into 400s naming the field. */
  private static <T> T domain(Supplier<T> build) {
    try {
      return build.get();
    } catch (InvalidFieldException e) {
      throw ApiError.invalidField(e.field(), e.getMessage().substring(e.field().length() + 2));
    }
  }

  /** Runs an admin operation, mapping its outcomes to HTTP errors. */
  private static <T> T call(Supplier<T> operation) {
    try {
      return operation.get();
    } catch (InvalidFieldException e) {
      throw ApiError.invalidField(e.field(), e.getMessage().substring(e.field().length() + 2));
    } catch (KeyNotFoundException e) {
      throw ApiError.notFound(e.getMessage());
    } catch (KeyConflictException e) {
      throw ApiError.conflict(e.getMessage());
    } catch (StoreException e) {
      throw ApiError.unavailable("the key store is unavailable; retry");
    } catch (ForeignFilter.UnannouncedException e) {
      throw ApiError.unavailable(e.getMessage() + "; nothing was stored; retry");
    }
  }

}
