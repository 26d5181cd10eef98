package io.keyward.spring;

import io.keyward.client.Edge;
import io.keyward.client.FailurePolicy;
import io.keyward.client.KeywardVerifier;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The {@code keyward.*} settings. Only {@code keyward.url} and {@code keyward.verify-key} are
 * needed to start; without a route nothing is protected, and a warning says so at start.
 *
 * <pre>
 * keyward.url=http://127.0.0.1:8080
 * keyward.verify-key=${KEYWARD_VERIFY_KEY}      # a key with scope keyward:verify; never in a file
 * keyward.key-header=Authorization              # or X-Api-Key: the whole value is the key
 * keyward.timeout=500ms
 * keyward.routes[0].path=/api/orders            # a path prefix, matched on the decoded path
 * keyward.routes[0].scopes=orders:read
 * keyward.routes[0].policy=stale-ok:5m          # closed (default), stale-ok:&lt;bound&gt;, open
 * </pre>
 *
 * @param url Keyward's base URL
 * @param verifyKey the application's own key, with scope {@code keyward:verify}
 * @param keyHeader the header holding the client's key ({@code Authorization}: {@code Bearer})
 * @param timeout the longest a verification waits for Keyward, retry included
 * @param fresh how long a VALID answer is used without asking again
 * @param negative how long a denial is used without asking again
 * @param maxStale the longest stale-ok bound a route may use
 * @param subscribe whether to subscribe to Keyward's pushed revocations
 * @param routes the protected path prefixes, the first match wins
 */
@ConfigurationProperties("keyward")
public record KeywardProperties(
    URI url,
    String verifyKey,
    @DefaultValue("Authorization") String keyHeader,
    @DefaultValue("1s") Duration timeout,
    @DefaultValue("30s") Duration fresh,
    @DefaultValue("5s") Duration negative,
    @DefaultValue("5m") Duration maxStale,
    @DefaultValue("true") boolean subscribe,
    List<Route> routes) {

  public KeywardProperties {
    routes = routes == null ? List.of() : List.copyOf(routes);
  }

  /**
   * One protected path prefix.
   *
   * @param path the prefix ({@code /api/orders} protects {@code /api/orders} and below)
   * @param scopes the scopes a key needs on it
   * @param policy what it does when Keyward cannot be asked
   */
  public record Route(String path, List<String> scopes, @DefaultValue("closed") String policy) {
    public Route {
      scopes = scopes == null ? List.of() : List.copyOf(scopes);
    }
  }

  /**
   * The verifier these settings describe.
   *
   * @throws IllegalArgumentException naming the {@code keyward.*} setting that is wrong
   */
  public KeywardVerifier.Builder verifier() {
    if (url == null) {
      throw new IllegalArgumentException("keyward.url is not set (Keyward's base URL, such as"
          + " http://127.0.0.1:8080)");
    }
    if (verifyKey == null || verifyKey.isBlank()) {
      throw new IllegalArgumentException("keyward.verify-key is not set (a key with scope"
          + " keyward:verify; set it from the environment, KEYWARD_VERIFY_KEY)");
    }
    KeywardVerifier.Builder builder;
    try {
      builder = KeywardVerifier.builder(url, verifyKey.strip());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("keyward.url or keyward.verify-key: " + e.getMessage());
    }
    return builder.timeout(setting("keyward.timeout", timeout))
        .fresh(setting("keyward.fresh", fresh))
        .negative(setting("keyward.negative", negative))
        .maxStale(setting("keyward.max-stale", maxStale))
        .subscribe(subscribe);
  }

  /**
   * The routes for {@code verifier}, each checked.
   *
   * @throws IllegalArgumentException naming the {@code keyward.routes[i]} setting that is wrong
   */
  public List<Edge.Route> edgeRoutes(KeywardVerifier verifier) {
    List<Edge.Route> edge = new ArrayList<>(routes.size());
    for (int i = 0; i < routes.size(); i++) {
      Route route = routes.get(i);
      String name = "keyward.routes[" + i + "]";
      try {
        if (route.path() == null) {
          throw new IllegalArgumentException("path is not set");
        }
        for (String scope : route.scopes()) {
          if (scope == null || !scope.matches("[\\x21-\\x7e]{1,200}")) {
            throw new IllegalArgumentException("scope '" + scope + "' is not a scope (1-200"
                + " printable characters, no spaces)");
          }
        }
        edge.add(Edge.route(verifier, route.path().strip(), route.scopes(),
            FailurePolicy.parse(route.policy()), "keyward.max-stale"));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(name + ": " + e.getMessage());
      }
    }
    return List.copyOf(edge);
  }

  /** The key header, checked. */
  public String checkedKeyHeader() {
    try {
      return Edge.keyHeader(keyHeader == null ? null : keyHeader.strip());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("keyward.key-header: " + e.getMessage());
    }
  }

  /** The settings without the verify key. */
  @Override
  public String toString() {
    return "KeywardProperties[url=" + url + ", verifyKey=" + (verifyKey == null ? "unset"
        : "(" + verifyKey.length() + " characters)") + ", keyHeader=" + keyHeader + ", timeout="
        + timeout + ", fresh=" + fresh + ", negative=" + negative + ", maxStale=" + maxStale
        + ", subscribe=" + subscribe + ", routes=" + routes + "]";
  }

  private static Duration setting(String name, Duration value) {
    if (value == null) {
      throw new IllegalArgumentException(name + " is empty");
    }
    return value;
  }
}
