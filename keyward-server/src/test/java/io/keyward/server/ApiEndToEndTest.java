package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.client.admin.KeywardClient;
import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.server.testing.KeywardTestServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every call of the v1 API through a real server on a real PostgreSQL, with its error statuses. */
class ApiEndToEndTest {
  private static KeywardTestServer keyward;
  private static KeywardClient client;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
    client = keyward.client();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  private static Map<String, Object> attributes(String ownerId, String... scopes) {
    Map<String, Object> body = new HashMap<>();
    body.put("name", "billing service");
    body.put("ownerId", ownerId);
    body.put("scopes", List.of(scopes));
    body.put("meta", Map.of("plan", "pro"));
    return body;
  }

  private static JsonNode created(Map<String, Object> attributes) {
    Response response = client.createKey(attributes);
    assertThat(response.status()).as(response.body().toString()).isEqualTo(201);
    return response.body();
  }

  private static String verifyCode(String key, String... scopes) {
    Response response = client.verify(key, List.of(scopes));
    assertThat(response.status()).as(response.body().toString()).isEqualTo(200);
    return response.body().get("code").asText();
  }

  private static void assertError(Response response, int status, String code, String mentions) {
    assertThat(response.status()).as(response.body().toString()).isEqualTo(status);
    assertThat(response.raw().headers().firstValue("Content-Type")).hasValue("application/json");
    assertThat(response.body().at("/error/code").asText()).isEqualTo(code);
    assertThat(response.body().at("/error/message").asText()).contains(mentions);
  }

  @Test
  void createdKeyIsShownOnceAndVerifiesWithItsAttributes() {
    Response response = client.createKey(attributes("acme", "read"));

    assertThat(response.status()).isEqualTo(201);
    assertThat(response.raw().headers().firstValue("Cache-Control")).hasValue("no-store");
    String keyId = response.body().get("keyId").asText();
    String key = response.body().get("key").asText();
    assertThat(response.raw().headers().firstValue("Location")).hasValue("/v1/keys/" + keyId);
    assertThat(key).startsWith("kw_live_1");

    Response verified = client.verify(key, List.of("read"));
    assertThat(verified.body().get("valid").asBoolean()).isTrue();
    assertThat(verified.body().get("keyId").asText()).isEqualTo(keyId);
    assertThat(verified.body().get("ownerId").asText()).isEqualTo("acme");
    assertThat(verified.body().get("meta").get("plan").asText()).isEqualTo("pro");

    Response info = client.getKey(keyId);
    assertThat(info.status()).isEqualTo(200);
    assertThat(info.body().has("key")).isFalse();
    assertThat(info.raw().body()).doesNotContain(key);
    assertThat(info.body().get("hint").asText()).isEqualTo(key.substring(0, 12));
  }

  @Test
  void testEnvironmentAndExpiryAreKept() {
    Map<String, Object> body = attributes("acme");
    body.put("environment", "test");
    body.put("expiresAt", "2099-01-01T00:00:00Z");

    JsonNode key = created(body);

    assertThat(key.get("key").asText()).startsWith("kw_test_1");
    assertThat(key.get("expiresAt").asText()).isEqualTo("2099-01-01T00:00:00Z");
  }

  @Test
  void badCreateRequestsGet400NamingTheField() {
    Map<String, Object> noName = attributes("acme");
    noName.remove("name");
    assertError(client.createKey(noName), 400, "INVALID_FIELD", "name");

    Map<String, Object> unknown = attributes("acme");
    unknown.put("scope", List.of("read"));
    assertError(client.createKey(unknown), 400, "INVALID_FIELD", "scope: unknown field");

    Map<String, Object> badDate = attributes("acme");
    badDate.put("expiresAt", "tomorrow");
    assertError(client.createKey(badDate), 400, "INVALID_FIELD", "expiresAt");

    Map<String, Object> past = attributes("acme");
    past.put("expiresAt", "2001-01-01T00:00:00Z");
    assertError(client.createKey(past), 400, "INVALID_FIELD", "expiresAt: must be in the future");

    assertError(client.createKey(attributes("acme", "bad scope")), 400, "INVALID_FIELD", "scopes");

    Map<String, Object> badEnv = attributes("acme");
    badEnv.put("environment", "prod");
    assertError(client.createKey(badEnv), 400, "INVALID_FIELD", "environment");

    Map<String, Object> badMeta = attributes("acme");
    badMeta.put("meta", List.of(1));
    assertError(client.createKey(badMeta), 400, "INVALID_FIELD", "meta");
  }

  @Test
  void malformedJsonGets400AndWrongContentType415() {
    assertError(client.sendJson("POST", "/v1/keys", "{\"name\":".getBytes(StandardCharsets.UTF_8),
        "application/json", true), 400, "BAD_REQUEST", "not valid JSON");
    assertError(client.sendJson("POST", "/v1/keys", "[1]".getBytes(StandardCharsets.UTF_8),
        "application/json", true), 400, "BAD_REQUEST", "JSON object");
    assertError(client.sendJson("POST", "/v1/keys", "name=x".getBytes(StandardCharsets.UTF_8),
        "application/x-www-form-urlencoded", true), 415, "UNSUPPORTED_MEDIA_TYPE", "application/json");
    String deep = "[".repeat(5_000) + "]".repeat(5_000);
    assertError(client.sendJson("POST", "/v1/keys/verify",
        ("{\"key\":" + deep + "}").getBytes(StandardCharsets.UTF_8), "application/json", true),
        400, "BAD_REQUEST", "not valid JSON");
  }

  @Test
  void oversizedBodyGets413() {
    byte[] big = ("{\"name\":\"" + "x".repeat(70 * 1024) + "\"}").getBytes(StandardCharsets.UTF_8);

    assertError(client.sendJson("POST", "/v1/keys", big, "application/json", true),
        413, "PAYLOAD_TOO_LARGE", "larger");
  }

  @Test
  void missingOrUnknownRootKeyGets401AndAKeyWithoutAdminScope403() {
    Response anonymous = client.sendJson("GET", "/v1/keys", null, null, false);
    assertError(anonymous, 401, "UNAUTHORIZED", "Authorization");
    assertThat(anonymous.raw().headers().firstValue("WWW-Authenticate")).isPresent();

    assertError(keyward.clientWithKey("kw_live_nonsense").listKeys(null, null, null),
        401, "UNAUTHORIZED", "not valid for this Keyward");
    String unknownButWellFormed = io.keyward.key.KeyFormat.withPrefix("kw")
        .generate(io.keyward.key.Environment.LIVE);
    assertError(keyward.clientWithKey(unknownButWellFormed).listKeys(null, null, null),
        401, "UNAUTHORIZED", "not valid for this Keyward");

    String plain = created(attributes("acme", "read")).get("key").asText();
    assertError(keyward.clientWithKey(plain).listKeys(null, null, null), 403, "FORBIDDEN",
        "keyward:admin");
    assertError(keyward.clientWithKey(plain).verify(plain, List.of()), 403, "FORBIDDEN",
        "keyward:verify");
  }

  @Test
  void importedKeyCannotBeABearerKeyEvenWithAdminScope() throws Exception {
    String legacy = "legacy-admin-" + System.nanoTime();
    Map<String, Object> body = attributes("ops", "keyward:admin");
    body.put("sha256", java.util.HexFormat.of().formatHex(java.security.MessageDigest
        .getInstance("SHA-256").digest(legacy.getBytes(StandardCharsets.US_ASCII))));
    assertThat(client.importKey(body).status()).isEqualTo(201);

    assertError(keyward.clientWithKey(legacy).listKeys(null, null, null), 401, "UNAUTHORIZED",
        "not valid for this Keyward");
  }

  @Test
  void unstorableMetadataAndFarExpiriesAre400NotA503() {
    Map<String, Object> nul = attributes("acme");
    nul.put("meta", Map.of("note", "a\u0000b"));
    assertError(client.createKey(nul), 400, "INVALID_FIELD", "meta");

    Map<String, Object> far = attributes("acme");
    far.put("expiresAt", "+300000-01-01T00:00:00Z");
    assertThat(client.createKey(far).status()).isEqualTo(400);
  }

  @Test
  void verifyOnlyKeyMayVerifyButNotAdminister() {
    String verifier = created(attributes("gateway", "keyward:verify")).get("key").asText();
    String key = created(attributes("acme")).get("key").asText();
    KeywardClient gateway = keyward.clientWithKey(verifier);

    assertThat(gateway.verify(key, List.of()).body().get("code").asText()).isEqualTo("VALID");
    assertThat(gateway.createKey(attributes("acme")).status()).isEqualTo(403);
  }

  @Test
  void revokedRootKeyLosesAccessAtOnce() {
    String admin = created(attributes("ops", "keyward:admin")).get("key").asText();
    KeywardClient ops = keyward.clientWithKey(admin);
    assertThat(ops.listKeys(null, 1, null).status()).isEqualTo(200);
    String adminId = client.verify(admin, List.of()).body().get("keyId").asText();

    client.revokeKey(adminId);

    assertThat(ops.listKeys(null, 1, null).status()).isEqualTo(401);
  }

  @Test
  void unknownKeyIdAndUnknownRouteGet404() {
    assertError(client.getKey("key_0000000000000000000000"), 404, "NOT_FOUND", "no key");
    assertError(client.getKey("not-an-id"), 404, "NOT_FOUND", "no key");
    assertError(client.revokeKey("key_0000000000000000000000"), 404, "NOT_FOUND", "no key");
    assertError(client.send("GET", "/v2/nothing", null), 404, "NOT_FOUND", "no such resource");
  }

  @Test
  void revocationIsImmediateAndIdempotent() {
    JsonNode key = created(attributes("acme"));
    String secret = key.get("key").asText();
    String keyId = key.get("keyId").asText();
    assertThat(verifyCode(secret)).isEqualTo("VALID");

    Response first = client.revokeKey(keyId);
    Response second = client.revokeKey(keyId);

    assertThat(first.status()).isEqualTo(200);
    assertThat(second.status()).isEqualTo(200);
    assertThat(second.body().get("revokedAt")).isEqualTo(first.body().get("revokedAt"));
    assertThat(verifyCode(secret)).isEqualTo("REVOKED");
    assertError(client.rotateKey(keyId, 0L), 409, "CONFLICT", "revoked");
    assertError(client.patchKey(keyId, Map.of("enabled", true)), 409, "CONFLICT", "revoked");
  }

  @Test
  void rotatedKeyPredecessorWorksThroughTheGracePeriodThenExpires() {
    JsonNode old = created(attributes("acme", "read"));
    String oldKey = old.get("key").asText();
    assertThat(verifyCode(oldKey)).isEqualTo("VALID");

    Response rotated = client.rotateKey(old.get("keyId").asText(), 600L);

    assertThat(rotated.status()).isEqualTo(201);
    String newKey = rotated.body().get("key").asText();
    assertThat(rotated.body().get("rotatedFrom").asText()).isEqualTo(old.get("keyId").asText());
    assertThat(rotated.body().at("/previous/keyId").asText()).isEqualTo(old.get("keyId").asText());
    assertThat(rotated.body().get("scopes").get(0).asText()).isEqualTo("read");
    assertThat(verifyCode(newKey, "read")).isEqualTo("VALID");
    keyward.clock().advance(Duration.ofSeconds(599));
    assertThat(verifyCode(oldKey)).isEqualTo("VALID");
    keyward.clock().advance(Duration.ofSeconds(1));
    assertThat(verifyCode(oldKey)).isEqualTo("EXPIRED");
    assertThat(verifyCode(newKey)).isEqualTo("VALID");
  }

  @Test
  void rotateRefusesABadGracePeriod() {
    String keyId = created(attributes("acme")).get("keyId").asText();

    assertError(client.rotateKey(keyId, -1L), 400, "INVALID_FIELD", "gracePeriodSeconds");
    assertError(client.rotateKey(keyId, 31L * 24 * 3600), 400, "INVALID_FIELD", "gracePeriodSeconds");
  }

  @Test
  void patchChangesAttributesAndDisabling() {
    JsonNode key = created(attributes("acme", "read"));
    String keyId = key.get("keyId").asText();
    String secret = key.get("key").asText();
    Map<String, Object> changes = new HashMap<>();
    changes.put("name", "renamed");
    changes.put("scopes", List.of("read", "write"));
    changes.put("meta", Map.of("tier", 2));
    changes.put("expiresAt", "2098-01-01T00:00:00Z");

    Response patched = client.patchKey(keyId, changes);

    assertThat(patched.status()).isEqualTo(200);
    assertThat(patched.body().get("name").asText()).isEqualTo("renamed");
    assertThat(verifyCode(secret, "write")).isEqualTo("VALID");
    Map<String, Object> clearExpiry = new HashMap<>();
    clearExpiry.put("expiresAt", null);
    assertThat(client.patchKey(keyId, clearExpiry).body().get("expiresAt").isNull()).isTrue();

    client.patchKey(keyId, Map.of("enabled", false));
    assertThat(verifyCode(secret)).isEqualTo("DISABLED");
    client.patchKey(keyId, Map.of("enabled", true));
    assertThat(verifyCode(secret)).isEqualTo("VALID");

    assertError(client.patchKey(keyId, Map.of("enabled", "no")), 400, "INVALID_FIELD", "enabled");
    assertError(client.patchKey(keyId, Map.of("ownerId", "x")), 400, "INVALID_FIELD", "ownerId");
  }

  @Test
  void importedKeyVerifiesByItsHashAndADuplicateImportIs409() throws Exception {
    String legacy = "legacy_" + System.nanoTime();
    String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest
        .getInstance("SHA-256").digest(legacy.getBytes(StandardCharsets.US_ASCII)));
    Map<String, Object> body = attributes("acme", "read");
    body.put("sha256", sha);

    Response imported = client.importKey(body);

    assertThat(imported.status()).isEqualTo(201);
    assertThat(imported.body().get("origin").asText()).isEqualTo("imported");
    assertThat(imported.body().get("hint").isNull()).isTrue();
    assertThat(verifyCode(legacy, "read")).isEqualTo("VALID");
    assertError(client.importKey(body), 409, "CONFLICT", "sha256");
    body.put("sha256", "abc");
    assertError(client.importKey(body), 400, "INVALID_FIELD", "sha256");
  }

  @Test
  void listPagesWithACursorAndFiltersByOwner() {
    String owner = "owner-" + System.nanoTime();
    for (int i = 0; i < 5; i++) {
      created(attributes(owner));
    }

    Response first = client.listKeys(owner, 2, null);
    String cursor = first.body().get("nextCursor").asText();
    Response second = client.listKeys(owner, 2, cursor);
    Response third = client.listKeys(owner, 2, second.body().get("nextCursor").asText());

    assertThat(first.body().get("keys")).hasSize(2);
    assertThat(second.body().get("keys")).hasSize(2);
    assertThat(third.body().get("keys")).hasSize(1);
    assertThat(third.body().get("nextCursor").isNull()).isTrue();
    assertThat(first.body().get("keys").get(1).get("keyId").asText())
        .isLessThan(second.body().get("keys").get(0).get("keyId").asText());
    assertError(client.listKeys(owner, 0, null), 400, "INVALID_FIELD", "limit");
    assertError(client.listKeys(owner, 2, "garbage!"), 400, "INVALID_FIELD", "cursor");
  }

  @Test
  void verifyAnswersEveryKindOfKeyWithADecidedCode() {
    String key = created(attributes("acme", "read")).get("key").asText();
    String typo = key.substring(0, key.length() - 1) + (key.endsWith("a") ? "b" : "a");

    assertThat(verifyCode(key, "admin")).isEqualTo("INSUFFICIENT_SCOPE");
    Response malformed = client.verify(typo, List.of());
    assertThat(malformed.body().get("code").asText()).isEqualTo("MALFORMED");
    assertThat(malformed.body().get("reason").asText()).isEqualTo("BAD_CHECKSUM");
    assertThat(verifyCode("kw_live_1" + "A".repeat(39))).isIn("MALFORMED", "NOT_FOUND");
    assertThat(verifyCode("")).isEqualTo("MALFORMED");
    assertThat(verifyCode("x".repeat(10_000))).isEqualTo("MALFORMED");
    assertThat(verifyCode("never-issued")).isEqualTo("NOT_FOUND");
  }

  @Test
  void verifyRequestWithoutAKeyStringIs400() {
    assertError(client.send("POST", "/v1/keys/verify", Map.of("scopes", List.of())), 400,
        "INVALID_FIELD", "key");
    assertError(client.send("POST", "/v1/keys/verify", Map.of("key", 42)), 400, "INVALID_FIELD",
        "key");
    assertError(client.send("POST", "/v1/keys/verify", Map.of("key", "k", "scopes", "read")), 400,
        "INVALID_FIELD", "scopes");
  }

  @Test
  void healthMetricsAndOpenApiAreServedWithoutAuth() {
    Response live = client.sendJson("GET", "/health/live", null, null, false);
    Response ready = client.sendJson("GET", "/health/ready", null, null, false);
    Response openapi = client.sendJson("GET", "/openapi.json", null, null, false);
    verifyCode("anything");
    Response metrics = client.sendJson("GET", "/metrics", null, null, false);

    assertThat(live.status()).isEqualTo(200);
    assertThat(ready.status()).isEqualTo(200);
    assertThat(openapi.body().get("openapi").asText()).startsWith("3.");
    assertThat(metrics.raw().body())
        .contains("keyward_verify_total{outcome=\"NOT_FOUND\"}")
        .contains("keyward_verify_latency_seconds_bucket")
        .contains("keyward_cache_requests_total")
        .contains("keyward_verify_shared_loads_total")
        .contains("keyward_cache_stale_serves_total")
        .contains("keyward_store_errors_total");
  }

  @Test
  void requestsBeyondTheInFlightLimitGet429() throws Exception {
    try (KeywardTestServer small = KeywardTestServer.start(s -> s.withMaxInFlight(1));
        Socket slow = new Socket("127.0.0.1", small.baseUri().getPort())) {
      // Hold the only slot: a request whose body has not finished arriving.
      OutputStream out = slow.getOutputStream();
      out.write(("POST /v1/keys/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + small.rootKey()
          + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Response shed = null;
      for (int i = 0; i < 100 && (shed == null || shed.status() != 429); i++) {
        shed = small.client().verify("k", List.of());
        Thread.sleep(10);
      }

      assertError(shed, 429, "TOO_MANY_REQUESTS", "retry");
      assertThat(shed.raw().headers().firstValue("Retry-After")).hasValue("1");
      assertThat(small.client().sendJson("GET", "/health/live", null, null, false).status())
          .isEqualTo(200);
      slow.close();
    }
  }

  @Test
  void aKeyWithoutMetaVerifiesWithAnEmptyMetaObjectAndSortedScopes() {
    Map<String, Object> attributes = attributes("acme", "write", "admin", "read");
    attributes.remove("meta");
    String key = created(attributes).get("key").asText();

    Response verified = client.verify(key, List.of());

    assertThat(verified.raw().body())
        .contains("\"scopes\":[\"admin\",\"read\",\"write\"],\"meta\":{},");
  }

  @Test
  void aBodyThatEndsBeforeItsContentLengthGets400() throws Exception {
    try (Socket socket = new Socket("127.0.0.1", keyward.baseUri().getPort())) {
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /v1/keys/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + keyward.rootKey()
          + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":\"kw_")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      socket.shutdownOutput();

      String answer = readResponse(socket.getInputStream());
      assertThat(answer).startsWith("HTTP/1.1 400").contains("\"BAD_REQUEST\"");
    }
  }

  @Test
  void aChunkedBodyWithoutContentLengthIsReadWhole() throws Exception {
    String key = created(attributes("acme")).get("key").asText();
    String body = "{\"key\":\"" + key + "\"}";
    try (Socket socket = new Socket("127.0.0.1", keyward.baseUri().getPort())) {
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      int half = body.length() / 2;
      out.write(("POST /v1/keys/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
          + keyward.rootKey() + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
          + Integer.toHexString(half) + "\r\n" + body.substring(0, half) + "\r\n"
          + Integer.toHexString(body.length() - half) + "\r\n" + body.substring(half) + "\r\n0\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();

      String answer = readResponse(socket.getInputStream());
      assertThat(answer).startsWith("HTTP/1.1 200").contains("\"code\":\"VALID\"");
    }
  }

  @Test
  void createdTimesAreRfc3339() {
    JsonNode key = created(attributes("acme"));

    assertThat(Instant.parse(key.get("createdAt").asText())).isNotNull();
  }

  /**
   * Reads one raw HTTP response with a Content-Length, for the tests that speak HTTP by hand (the
   * server may keep the connection open after it, even when asked to close).
   */
  static String readResponse(InputStream in) throws java.io.IOException {
    var head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        return head.toString();
      }
      head.append((char) b);
    }
    var length = java.util.regex.Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(head);
    byte[] body = length.find() ? in.readNBytes(Integer.parseInt(length.group(1))) : new byte[0];
    return head + new String(body, StandardCharsets.UTF_8);
  }
}
