package io.keyward.servlet;

import io.keyward.client.Decision;
import io.keyward.client.Edge;
import io.keyward.client.FailurePolicy;
import io.keyward.client.KeywardVerifier;
import io.keyward.client.Warnings;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * Puts Keyward in front of a servlet application. For each request it reads the client's key
 * (from {@code Authorization: Bearer}, or a configured header whose whole value is the key), finds
 * the first route whose path prefix matches, asks {@link KeywardVerifier} with that route's scopes
 * and failure policy, and:
 *
 * <ul>
 *   <li>allowed: passes the request on with the attributes {@value #KEY_ID}, {@value #OWNER_ID},
 *       {@value #SCOPES} (a {@code Set<String>}) and {@value #BASIS} ({@code CONFIRMED}, {@code
 *       STALE} or {@code OPEN}; stale and open requests also carry {@value #DEGRADED} =
 *       {@code true}, for the application to see);
 *   <li>denied: 401 (no key, a key that is not valid, several key headers) or 403 (a missing
 *       scope), with a {@code WWW-Authenticate} challenge and a small JSON body;
 *   <li>cannot decide: 503 with {@code Retry-After: 1}, never 401.
 * </ul>
 *
 * Any header content (empty, huge, binary, repeated) gets a clean 401; nothing the filter does
 * answers 500 or shows a stack trace: an unexpected failure inside it is a 503 and one
 * rate-limited warning. Requests that match no route pass untouched.
 *
 * <p>Programmatic: {@code KeywardFilter.builder(verifier).route("/api/", List.of("orders:read"),
 * FailurePolicy.closed()).build()}. In {@code web.xml} (init parameters): {@code keyward.url},
 * {@code keyward.verifyKeyEnv} (the name of an environment variable holding the service's
 * {@code keyward:verify} key; never the key itself in a file), {@code keyward.keyHeader}, and
 * one route: {@code keyward.pathPrefix}, {@code keyward.scopes} (comma-separated), {@code
 * keyward.policy} ({@code closed}, {@code stale-ok:5m}, {@code open}).
 */
public final class KeywardFilter implements Filter {
  public static final String KEY_ID = "keyward.keyId";
  public static final String OWNER_ID = "keyward.ownerId";
  public static final String SCOPES = "keyward.scopes";
  public static final String BASIS = "keyward.basis";
  public static final String DEGRADED = "keyward.degraded";
  private static final System.Logger LOG = System.getLogger(KeywardFilter.class.getName());

  private KeywardVerifier verifier;
  private boolean ownsVerifier;
  private String keyHeader = "Authorization";
  private List<Edge.Route> routes = List.of();
  private final LongAdder failures = new LongAdder();
  private final Warnings warnings = new Warnings(KeywardFilter.class);

  /** For containers that create filters themselves ({@code web.xml}): configured in {@link #init}. */
  public KeywardFilter() {}

  private KeywardFilter(Builder b) {
    this.routes = b.checkedRoutes("KeywardFilter");
    this.verifier = b.verifier();
    this.keyHeader = b.keyHeaderName();
  }

  public static Builder builder(KeywardVerifier verifier) {
    return new Builder(verifier);
  }

  @Override
  public void init(FilterConfig config) throws ServletException {
    if (verifier != null) {
      return; // built programmatically
    }
    String url = config.getInitParameter("keyward.url");
    String keyEnv = config.getInitParameter("keyward.verifyKeyEnv");
    if (url == null || keyEnv == null) {
      throw new ServletException("KeywardFilter needs the init parameters keyward.url and"
          + " keyward.verifyKeyEnv");
    }
    String key = System.getenv(keyEnv);
    if (key == null || key.isBlank()) {
      throw new ServletException("KeywardFilter: the environment variable " + keyEnv
          + " (keyward.verifyKeyEnv) holds no key");
    }
    // Everything is checked before the verifier (and its stream thread) is made.
    List<Edge.Route> configured;
    String header = config.getInitParameter("keyward.keyHeader");
    FailurePolicy policy;
    try {
      if (header != null && !header.isBlank()) {
        keyHeader = Edge.keyHeader(header.strip());
      }
      String scopes = config.getInitParameter("keyward.scopes");
      String policyText = config.getInitParameter("keyward.policy");
      String prefix = config.getInitParameter("keyward.pathPrefix");
      policy = policyText == null ? FailurePolicy.closed() : FailurePolicy.parse(policyText);
      configured = List.of(new Edge.Route(prefix == null ? "/" : prefix.strip(),
          scopes == null ? List.of() : java.util.Arrays.stream(scopes.split(","))
              .map(String::strip).filter(scope -> !scope.isEmpty()).toList(), policy));
    } catch (IllegalArgumentException e) {
      throw new ServletException("KeywardFilter: " + e.getMessage(), e);
    }
    KeywardVerifier.Builder builder;
    try {
      builder = KeywardVerifier.builder(URI.create(url), key.strip());
      if (policy instanceof FailurePolicy.StaleOk staleOk) {
        builder.maxStale(staleOk.maxStale());
      }
    } catch (IllegalArgumentException e) {
      throw new ServletException("KeywardFilter: " + e.getMessage(), e);
    }
    verifier = builder.build();
    ownsVerifier = true;
    routes = configured;
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    if (!(req instanceof HttpServletRequest request)
        || !(res instanceof HttpServletResponse response)) {
      chain.doFilter(req, res);
      return;
    }
    Edge.Route route = ServletEdge.routeOf(request, routes);
    if (route == null) {
      chain.doFilter(req, res);
      return;
    }
    Decision decision;
    try {
      decision = decide(request, route);
    } catch (RuntimeException e) {
      failures.increment();
      warnings.warn("failure", "KeywardFilter failed unexpectedly; answering 503: "
          + e.getClass().getName() + " (its message is not logged: it may hold the key)");
      decision = new Decision.CannotDecide("unexpected");
    }
    switch (decision) {
      case Decision.Allowed allowed -> {
        request.setAttribute(KEY_ID, allowed.keyId());
        request.setAttribute(OWNER_ID, allowed.ownerId());
        request.setAttribute(SCOPES, allowed.scopes());
        request.setAttribute(BASIS, allowed.basis().name());
        if (allowed.degraded()) {
          request.setAttribute(DEGRADED, Boolean.TRUE);
        }
        chain.doFilter(req, res);
      }
      default -> ServletEdge.refuse(response, Edge.refusal(decision, route.scopes()));
    }
  }

  private Decision decide(HttpServletRequest request, Edge.Route route) {
    return Edge.verify(verifier, ServletEdge.keyValues(request, keyHeader),
        keyHeader.equalsIgnoreCase("Authorization"), route.scopes(), route.policy());
  }

  /** The verifier this filter asks (its {@code stats()} count stale and open decisions). */
  public KeywardVerifier verifier() {
    return verifier;
  }

  @Override
  public void destroy() {
    if (ownsVerifier && verifier != null) {
      verifier.close();
    }
  }

  /** Settings, checked when set ({@link Edge.FilterBuilder}). */
  public static final class Builder extends Edge.FilterBuilder<Builder> {
    private Builder(KeywardVerifier verifier) {
      super(verifier);
    }

    public KeywardFilter build() {
      return new KeywardFilter(this);
    }
  }
}
