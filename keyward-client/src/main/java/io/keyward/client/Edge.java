package io.keyward.client;

import java.util.List;

/**
 * What every HTTP adapter (the servlet filter, the Helidon filter, the Spring starter) does the same way: read the
 * client's key from its header's values, and turn a refusal into an answer. In one place, so that
 * the adapters cannot drift apart on what is a 401, a 403 or a 503.
 */
public final class Edge {
  /** The realm of every challenge. */
  public static final String REALM = "Bearer realm=\"keyward\"";

  private Edge() {}

  /** One protected path prefix: the scopes it needs and what it does when Keyward is away. */
  public record Route(String pathPrefix, List<String> scopes, FailurePolicy policy) {
    public Route {
      java.util.Objects.requireNonNull(pathPrefix, "pathPrefix");
      if (!pathPrefix.startsWith("/")) {
        throw new IllegalArgumentException("a route's path prefix must start with '/', got '"
            + pathPrefix + "'");
      }
      scopes = List.copyOf(scopes);
      java.util.Objects.requireNonNull(policy, "policy");
    }
  }

  /**
   * A route for {@code verifier}: its stale-ok bound may not exceed the verifier's {@link
   * KeywardVerifier#maxStale()}.
   *
   * @throws IllegalArgumentException naming the route and the setting to raise
   */
  public static Route route(KeywardVerifier verifier, String pathPrefix, List<String> scopes,
      FailurePolicy policy) {
    return route(verifier, pathPrefix, scopes, policy, "KeywardVerifier.Builder.maxStale");
  }

  /** {@link #route(KeywardVerifier, String, List, FailurePolicy)}, naming the setting to raise. */
  public static Route route(KeywardVerifier verifier, String pathPrefix, List<String> scopes,
      FailurePolicy policy, String maxStaleSetting) {
    if (policy instanceof FailurePolicy.StaleOk staleOk
        && staleOk.maxStale().compareTo(verifier.maxStale()) > 0) {
      throw new IllegalArgumentException("route " + pathPrefix + ": stale-ok for "
          + staleOk.maxStale() + " exceeds the verifier's maxStale (" + verifier.maxStale()
          + "); raise " + maxStaleSetting);
    }
    return new Route(pathPrefix, scopes, policy);
  }

  /**
   * What every adapter's builder holds, checked when set: the verifier, the key's header
   * ({@code Authorization}, Bearer, unless set), and the routes in order (the first match wins).
   */
  public abstract static class FilterBuilder<B extends FilterBuilder<B>> {
    private final KeywardVerifier verifier;
    private String keyHeader = "Authorization";
    private final List<Route> routes = new java.util.ArrayList<>();

    protected FilterBuilder(KeywardVerifier verifier) {
      this.verifier = java.util.Objects.requireNonNull(verifier, "verifier");
    }

    @SuppressWarnings("unchecked")
    private B self() {
      return (B) this;
    }

    /** The header holding the client's key: {@code Authorization} (Bearer) or e.g. {@code X-Api-Key}. */
    public B keyHeader(String name) {
      keyHeader = Edge.keyHeader(name);
      return self();
    }

    /**
     * Protects paths starting with {@code pathPrefix} (the decoded, normalised path the server
     * routes by); the first matching route wins. A stale-ok bound may not exceed the verifier's
     * {@link KeywardVerifier#maxStale()}.
     */
    public B route(String pathPrefix, List<String> scopes, FailurePolicy policy) {
      routes.add(Edge.route(verifier, pathPrefix, scopes, policy));
      return self();
    }

    /** The verifier the adapter asks. */
    public KeywardVerifier verifier() {
      return verifier;
    }

    /** The key's header. */
    public String keyHeaderName() {
      return keyHeader;
    }

    /** The routes, refusing none at all ({@code filter} names the adapter in the error). */
    public List<Route> checkedRoutes(String filter) {
      if (routes.isEmpty()) {
        throw new IllegalStateException("a " + filter + " without routes protects nothing; add"
            + " route(\"/\", List.of(), FailurePolicy.closed()) to protect everything");
      }
      return List.copyOf(routes);
    }
  }

  /** The first route whose prefix {@code path} starts with, or null (not protected). */
  public static Route routeFor(List<Route> routes, String path) {
    for (Route route : routes) {
      if (path.startsWith(route.pathPrefix())) {
        return route;
      }
    }
    return null;
  }

  /** {@code name} if it can name the key's header (1-64 letters, digits, '-' or '_'). */
  public static String keyHeader(String name) {
    if (name == null || !name.matches("[A-Za-z0-9_-]{1,64}")) {
      throw new IllegalArgumentException("keyHeader must be a header name (1-64 letters,"
          + " digits, '-' or '_'), got '" + name + "'");
    }
    return name;
  }

  /**
   * What the key header holds: the key, or the denial that stands for it ({@code MISSING}: no
   * value, an empty one, or an {@code Authorization} without the Bearer scheme; {@code SEVERAL}:
   * more than one value, since which one a proxy would pick differs, neither is taken). Exactly
   * one of the two is set.
   */
  public record Presented(String key, Decision.Denied denied) {}

  private static final Presented MISSING = new Presented(null, new Decision.Denied("MISSING"));
  private static final Presented SEVERAL = new Presented(null, new Decision.Denied("SEVERAL"));

  /**
   * Reads the key from {@code headerValues} (every value of the key header, in order). Never
   * throws.
   *
   * @param bearer whether the header is {@code Authorization} (its value {@code Bearer <key>})
   */
  public static Presented presented(List<String> headerValues, boolean bearer) {
    if (headerValues.size() > 1) {
      return SEVERAL;
    }
    String key = headerValues.isEmpty() ? null : headerValues.getFirst();
    if (key != null && bearer) {
      key = key.regionMatches(true, 0, "Bearer ", 0, 7) ? key.substring(7) : null;
    }
    key = key == null ? "" : key.strip();
    return key.isEmpty() ? MISSING : new Presented(key, null);
  }

  /**
   * Verifies the key found in {@code headerValues} ({@link #presented}): a missing key or several
   * are denied as such, otherwise the verifier decides. Never throws.
   *
   * @param bearer whether the header is {@code Authorization} (its value {@code Bearer <key>})
   */
  public static Decision verify(KeywardVerifier verifier, List<String> headerValues,
      boolean bearer, List<String> scopes, FailurePolicy policy) {
    Presented presented = presented(headerValues, bearer);
    return presented.denied() != null ? presented.denied()
        : verifier.verify(presented.key(), scopes, policy);
  }

  /**
   * The HTTP answer to a refusal: {@code status}, a {@code code} and {@code message} for the JSON
   * body ({@link #body()}), the {@code WWW-Authenticate} challenge (null for 503), and whether a
   * {@code Retry-After: 1} goes with it.
   */
  public record Refusal(int status, String code, String message, String challenge,
      boolean retryAfter) {
    /** {@code {"error":{"code":"...","message":"..."}}}. */
    public String body() {
      return "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
    }
  }

  /**
   * 401 for no key ({@code Bearer realm="keyward"}), a key that is not valid ({@code ...,
   * error="invalid_token"}, whatever the reason: the client is not told which) or several key
   * headers ({@code error="invalid_request"}); 403 for a missing scope ({@code
   * error="insufficient_scope", scope="..."}); 503 with Retry-After for cannot decide, never 401.
   */
  public static Refusal refusal(Decision decision, List<String> requiredScopes) {
    return switch (decision) {
      case Decision.Denied denied when denied.insufficientScope() -> new Refusal(403,
          "INSUFFICIENT_SCOPE", "the API key lacks a required scope", REALM
              + ", error=\"insufficient_scope\", scope=\"" + String.join(" ", requiredScopes)
              + "\"", false);
      case Decision.Denied denied when denied.code().equals("MISSING") -> new Refusal(401,
          "UNAUTHORIZED", "no API key", REALM, false);
      case Decision.Denied denied -> new Refusal(401, "UNAUTHORIZED",
          "the API key is not valid", REALM + ", error=\""
              + (denied.code().equals("SEVERAL") ? "invalid_request" : "invalid_token") + "\"",
          false);
      case Decision.CannotDecide cannot -> new Refusal(503, "UNAVAILABLE",
          "authentication is unavailable; retry", null, true);
      case Decision.Allowed allowed -> throw new IllegalArgumentException("not a refusal");
    };
  }
}
