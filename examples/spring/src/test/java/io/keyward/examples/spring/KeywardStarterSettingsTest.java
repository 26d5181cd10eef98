package io.keyward.examples.spring;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.client.KeywardVerifier;
import io.keyward.server.testing.KeywardTestServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.NoSuchBeanDefinitionException;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.NestedExceptionUtils;
import org.springframework.security.core.userdetails.UserDetailsService;

/**
 * What only the Spring starter has: authorities Spring Security checks ({@code SCOPE_...} with
 * {@code @PreAuthorize}), settings checked at start naming the property, no generated user, and
 * an application that defines its own chain but forgets Keyward's refusing to start.
 */
class KeywardStarterSettingsTest {
  private static KeywardTestServer keyward;
  private static String verifyKey;
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void start() throws Exception {
    keyward = KeywardTestServer.start();
    verifyKey = keyward.client().createKey(Map.of("name", "app", "ownerId", "svc",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  private static String key(String... scopes) throws Exception {
    return keyward.client().createKey(Map.of("name", "k", "ownerId", "acct",
        "scopes", List.of(scopes))).body().get("key").asText();
  }

  private static HttpResponse<String> post(ConfigurableApplicationContext app, String path,
      String key) throws Exception {
    int port = ((WebServerApplicationContext) app).getWebServer().getPort();
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Authorization", "Bearer " + key).POST(HttpRequest.BodyPublishers.noBody())
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aKeysScopesAreAuthoritiesThatSpringSecurityChecksWithAnInsufficientScopeAnswer()
      throws Exception {
    try (ConfigurableApplicationContext app = KeywardStarterTest.run(keyward.baseUri(),
        verifyKey)) {
      await(() -> !app.getBean(KeywardVerifier.class).isUnsynced());
      HttpResponse<String> readOnly = post(app, "/api/orders", key("orders:read"));
      assertThat(readOnly.statusCode()).as("Keyward allowed it; @PreAuthorize did not")
          .isEqualTo(403);
      assertThat(readOnly.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(
          challenge -> assertThat(challenge).contains("error=\"insufficient_scope\""));
      assertThat(readOnly.body()).contains("FORBIDDEN").doesNotContain("\"keyId\"");

      HttpResponse<String> readWrite = post(app, "/api/orders", key("orders:read", "orders:write"));
      assertThat(readWrite.statusCode()).isEqualTo(200);
      assertThat(readWrite.body()).contains("\"basis\":\"CONFIRMED\"");

      assertThatThrownBy(() -> app.getBean(UserDetailsService.class))
          .as("no generated user and password beside Keyward")
          .isInstanceOf(NoSuchBeanDefinitionException.class);
    }
  }

  @Test
  void aWrongSettingStopsTheStartNamingTheProperty() {
    assertThatThrownBy(() -> KeywardStarterTest.run(keyward.baseUri(), verifyKey,
        // A list is bound from one source: these routes replace application.properties' ones.
        "keyward.routes[0].path=/api/x", "keyward.routes[1].path=/api/y",
        "keyward.routes[1].policy=sometimes").close())
        .satisfies(e -> assertThat(NestedExceptionUtils.getMostSpecificCause(e)).hasMessageContaining("keyward.routes[1]")
            .hasMessageContaining("closed, stale-ok:<bound> or open"));
    assertThatThrownBy(() -> KeywardStarterTest.run(keyward.baseUri(), verifyKey,
        "keyward.routes[0].path=/api/x", "keyward.routes[0].policy=stale-ok:1h").close())
        .as("longer than keyward.max-stale")
        .satisfies(e -> assertThat(NestedExceptionUtils.getMostSpecificCause(e))
            .hasMessageContaining("keyward.routes[0]").hasMessageContaining("keyward.max-stale"));
    assertThatThrownBy(() -> KeywardStarterTest.run(keyward.baseUri(), "", "").close())
        .satisfies(e -> assertThat(NestedExceptionUtils.getMostSpecificCause(e)).hasMessageContaining("keyward.verify-key is not set"));
    assertThatThrownBy(() -> KeywardStarterTest.run(keyward.baseUri(), verifyKey,
        "keyward.key-header=X Api Key").close())
        .satisfies(e -> assertThat(NestedExceptionUtils.getMostSpecificCause(e)).hasMessageContaining("keyward.key-header"));
  }

  @Test
  void anApplicationChainThatForgetsKeywardRefusesToStartRatherThanServeTheRoutesOpen() {
    assertThatThrownBy(() -> new SpringApplicationBuilder(OrdersApplication.class,
        io.keyward.examples.forgetful.ForgetfulChain.class).run("--server.port=0", "--keyward.url=" + keyward.baseUri(),
        "--keyward.verify-key=" + verifyKey).close())
        .satisfies(e -> assertThat(NestedExceptionUtils.getMostSpecificCause(e)).hasMessageContaining("no SecurityFilterChain applies Keyward"));
  }

  private static HttpResponse<String> get(ConfigurableApplicationContext app, String path,
      String key) throws Exception {
    int port = ((WebServerApplicationContext) app).getWebServer().getPort();
    HttpRequest.Builder request = HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + port + path));
    if (key != null) {
      request.header("Authorization", "Bearer " + key);
    }
    return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aRequestForwardedToAProtectedRouteIsCheckedForThatRoute() throws Exception {
    try (ConfigurableApplicationContext app = KeywardStarterTest.run(keyward.baseUri(),
        verifyKey)) {
      assertThat(get(app, "/legacy/payments", null).statusCode())
          .as("forwarded from a path under no route: still needs a key").isEqualTo(401);
      assertThat(get(app, "/legacy/payments", key("orders:read")).statusCode())
          .as("and the scopes of the route forwarded to").isEqualTo(403);
      HttpResponse<String> paid = get(app, "/legacy/payments", key("payments:write"));
      assertThat(paid.statusCode()).isEqualTo(200);
      assertThat(paid.body()).contains("\"basis\":\"CONFIRMED\"");
    }
  }

  @Test
  void anAuthorityRuleOnAnOpenRouteWhileKeywardCannotBeAskedIs503NotA403() throws Exception {
    // Keyward unreachable (nothing listens there), /api/orders open: the request passes the
    // route with no scopes, and @PreAuthorize on POST refuses it. That refusal is "cannot
    // decide", never a 403 for a key that may well hold the scope.
    int nothing;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      nothing = free.getLocalPort();
    }
    try (ConfigurableApplicationContext app = KeywardStarterTest.run(
        URI.create("http://127.0.0.1:" + nothing), verifyKey, "keyward.timeout=200ms",
        "keyward.routes[0].path=/api/orders", "keyward.routes[0].policy=open")) {
      HttpResponse<String> read = get(app, "/api/orders", key("orders:read"));
      assertThat(read.statusCode()).as("open: passes, marked").isEqualTo(200);
      assertThat(read.body()).contains("\"basis\":\"OPEN\"");
      HttpResponse<String> create = post(app, "/api/orders", key("orders:read", "orders:write"));
      assertThat(create.statusCode()).isEqualTo(503);
      assertThat(create.headers().firstValue("Retry-After")).hasValue("1");
    }
  }

  @Test
  void anApplicationChainWithKeywardsConfigurerKeepsCsrfOffKeywardsRoutesOnly()
      throws Exception {
    try (ConfigurableApplicationContext app = new SpringApplicationBuilder(
        OrdersApplication.class, io.keyward.examples.ownchain.OwnChain.class).run(
        "--server.port=0", "--keyward.url=" + keyward.baseUri(),
        "--keyward.verify-key=" + verifyKey)) {
      HttpResponse<String> create = post(app, "/api/orders", key("orders:read", "orders:write"));
      assertThat(create.statusCode()).as("a POST on a route: the key alone authenticates")
          .isEqualTo(200);
      assertThat(get(app, "/elsewhere", null).statusCode())
          .as("off the routes the application's rules stand: authenticated, so 401")
          .isEqualTo(401);
      assertThat(get(app, "/health", null).statusCode()).isEqualTo(200);
    }
  }
}
