package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.server.testing.KeywardTestServer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Text that JSON can carry but that cannot be stored and given back (a lone UTF-16 surrogate, a
 * NUL): refused with a 400 naming the field before anything is written. It used to be stored
 * (as '?') and then fail the answer with a 500: an orphan key whose secret was never shown, an
 * import that answered 500 and then 409, a patch that answered 500 but was applied.
 */
class IllFormedInputTest {
  private static KeywardTestServer keyward;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  private static Response post(String path, String json) {
    return keyward.client().sendJson("POST", path, json.getBytes(StandardCharsets.UTF_8),
        "application/json", true);
  }

  private static int keysOf(String owner) {
    return keyward.client().send("GET", "/v1/keys?ownerId=" + owner, null).body().get("keys").size();
  }

  @Test
  void createWithALoneSurrogateAnywhereIs400NamingTheFieldAndStoresNothing() {
    String[][] cases = {
        {"{\"name\":\"a\",\"ownerId\":\"lone1\",\"meta\":{\"x\":\"\\ud800\"}}", "meta"},
        {"{\"name\":\"a\",\"ownerId\":\"lone1\",\"meta\":{\"x\":[{\"y\":\"\\ud83d\"}]}}", "meta"},
        {"{\"name\":\"\\ud800a\",\"ownerId\":\"lone1\"}", "name"},
        {"{\"name\":\"a\",\"ownerId\":\"lone1\",\"scopes\":[\"read\\udc00\"]}", "scopes"},
        {"{\"name\":\"a\\u0000\",\"ownerId\":\"lone1\"}", "name"},
    };
    for (String[] c : cases) {
      Response response = post("/v1/keys", c[0]);

      assertThat(response.status()).as(c[0]).isEqualTo(400);
      assertThat(response.body().at("/error/message").asText()).as(c[0]).startsWith(c[1] + ":");
    }
    // A lone surrogate in a field name is refused by the JSON parser itself: still a 400.
    assertThat(post("/v1/keys", "{\"name\":\"a\",\"ownerId\":\"lone1\",\"meta\":{\"\\udfff\":1}}")
        .status()).isEqualTo(400);
    assertThat(keysOf("lone1")).isZero();
    Response ownerSurrogate = post("/v1/keys", "{\"name\":\"a\",\"ownerId\":\"lone\\ud800\"}");
    assertThat(ownerSurrogate.status()).isEqualTo(400);
    assertThat(ownerSurrogate.body().at("/error/message").asText()).startsWith("ownerId:");
  }

  @Test
  void wellFormedPairsAndEmojiAreKeptExactly() {
    Response created = post("/v1/keys",
        "{\"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"ownerId\":\"pairs\",\"meta\":{\"e\":\"\\ud83d\\ude00\"}}");

    assertThat(created.status()).isEqualTo(201);
    assertThat(created.body().get("name").asText()).isEqualTo("café 😀");
    assertThat(created.body().at("/meta/e").asText()).isEqualTo("😀");
  }

  @Test
  void importWithALoneSurrogateIs400AndARetryWithGoodInputSucceeds() {
    String sha = "ab".repeat(32);
    Response bad = post("/v1/keys/import",
        "{\"sha256\":\"" + sha + "\",\"name\":\"a\",\"ownerId\":\"imp\",\"meta\":{\"x\":\"\\ud800\"}}");
    Response good = post("/v1/keys/import",
        "{\"sha256\":\"" + sha + "\",\"name\":\"a\",\"ownerId\":\"imp\",\"meta\":{\"x\":\"ok\"}}");

    assertThat(bad.status()).isEqualTo(400);
    assertThat(good.status()).isEqualTo(201);
  }

  @Test
  void patchWithALoneSurrogateIs400AndChangesNothing() {
    String keyId = post("/v1/keys", "{\"name\":\"before\",\"ownerId\":\"patch\"}").body()
        .get("keyId").asText();

    Response patched = keyward.client().sendJson("PATCH", "/v1/keys/" + keyId,
        "{\"name\":\"after\\ud800\"}".getBytes(StandardCharsets.UTF_8), "application/json", true);

    assertThat(patched.status()).isEqualTo(400);
    assertThat(keyward.client().send("GET", "/v1/keys/" + keyId, null).body().get("name").asText())
        .isEqualTo("before");
  }

  @Test
  void aKeyToVerifyMayHoldAnythingAndGetsADecidedAnswer() {
    Response response = post("/v1/keys/verify", "{\"key\":\"kw_live_\\ud800\"}");

    assertThat(response.status()).isEqualTo(200);
    assertThat(response.body().get("code").asText()).isEqualTo("MALFORMED");
  }
}
